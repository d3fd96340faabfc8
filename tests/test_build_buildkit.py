"""ws docker build through the engine's own BuildKit (version=2 builds on the Engine API): the
same images as the classic builder, a source-only rebuild that re-runs only the member steps,
a failing step's output, and base images pulled with credentials before BuildKit needs them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import docker
import docker.errors
import pytest
from ws.docker.build import BuiltImage, ensure_base_images, git_revision, uses_buildkit
from ws.errors import RegistryError
from ws.graph import build_graph
from ws.locks import LockOptions, sync_locks
from ws.workspace import load_workspace

from tests.support.gitrepo import GitRepo
from tests.support.imagebuild import INSTALLED, Made, build, locked_versions, step_with
from tests.support.images import commit_workspace, generate, run_image
from tests.support.loopback_images import push_tiny_image, unique_repository
from tests.support.wheels import write_wheel

ANSWER = "svc 0.1.0 lib 0.2.0 beta 1.1 alpha 2.0 says hello docker\n"
DEPENDENCY_STEP = "--no-install-workspace"


@pytest.fixture(scope="module")
def svc_buildkit(
    engine: docker.DockerClient, made: Made, template: Path, lock_options: LockOptions
) -> BuiltImage:
    (image,), _ = build(engine, made, template, ["svc"], lock_options, builder="buildkit")
    return image


@pytest.mark.docker
def test_buildkit_image_answers_and_holds_the_closure_only(
    engine: docker.DockerClient, made: Made, template: Path, svc_buildkit: BuiltImage
) -> None:
    locked = locked_versions(template, "svc")

    answer = run_image(engine, svc_buildkit.refs[0], ["svc"], made.label)
    installed = run_image(engine, svc_buildkit.image_id, ["python", "-c", INSTALLED], made.label)

    assert answer == ANSWER
    expected = ["alpha", "beta", "delta", "gamma", "lib", "svc"]
    assert installed.split() == [f"{name}=={locked[name]}" for name in expected]
    labels = engine.images.get(svc_buildkit.image_id).labels
    assert labels["ws.member"] == "svc"
    assert labels["org.opencontainers.image.revision"] == git_revision(template).sha
    stages = {step.stage for step in svc_buildkit.steps}
    assert stages == {"uv", "deps", "builder", "runtime"}
    assert all(step.image_id is None for step in svc_buildkit.steps), "no intermediate images"


@pytest.mark.docker
def test_buildkit_source_only_change_reruns_only_the_member_steps(
    engine: docker.DockerClient, made: Made, workspace: Path, lock_options: LockOptions
) -> None:
    build(engine, made, workspace, ["svc"], lock_options, builder="buildkit")
    app_py = workspace / "packages/svc/src/svc/app.py"
    app_py.write_text(app_py.read_text().replace("says", "now says"))
    GitRepo(workspace).commit_all("a source-only change")

    (second,), lines = build(engine, made, workspace, ["svc"], lock_options, builder="buildkit")

    assert step_with(second, DEPENDENCY_STEP).cached
    steps = [s for s in second.steps if not s.instruction.startswith("FROM")]
    assert all(s.cached for s in steps if s.stage in ("uv", "deps"))
    assert step_with(second, "COPY --from=deps").cached
    rerun = [s for s in steps if not s.cached]
    instructions = [s.instruction for s in rerun]
    assert instructions[0] == "COPY packages/svc /app/packages/svc"
    assert instructions[1].startswith("RUN uv sync --frozen --no-dev --no-editable")
    assert instructions[2:] == ["COPY --from=builder /app/overlay/ /app/.venv/"]
    assert all(s.seconds is not None for s in rerun)
    assert any(line.endswith(" (cached)") and DEPENDENCY_STEP in line for _, line in lines)
    assert run_image(engine, second.refs[0], ["svc"], made.label) == ANSWER.replace(
        "says", "now says"
    )


@pytest.mark.docker
def test_a_vendored_wheel_in_the_repository_reaches_the_image(
    engine: docker.DockerClient, made: Made, workspace: Path, lock_options: LockOptions
) -> None:
    write_wheel(workspace / "vendor", "vendored", "1.0")
    (workspace / "vendor/unrelated.txt").write_text("in no image")
    lib = workspace / "packages/lib/pyproject.toml"
    text = lib.read_text().replace('["delta"]', '["delta", "vendored"]')
    wheel = "../../vendor/vendored-1.0-py3-none-any.whl"
    lib.write_text(text + f'\n[tool.uv.sources]\nvendored = {{ path = "{wheel}" }}\n')
    ws = load_workspace(workspace)
    sync_locks(ws, build_graph(ws), None, lock_options)
    generate(workspace)
    commit_workspace(workspace, "lib needs a vendored wheel")

    (image,), _ = build(engine, made, workspace, ["svc"], lock_options, builder="buildkit")

    probe = "import vendored, importlib.metadata as m; print(m.version('vendored'))"
    assert run_image(engine, image.image_id, ["python", "-c", probe], made.label) == "1.0\n"
    assert "vendor/vendored-1.0-py3-none-any.whl" in image.context.members
    assert "vendor/unrelated.txt" not in image.context.members
    assert run_image(engine, image.image_id, ["svc"], made.label) == ANSWER


@pytest.mark.docker
def test_auto_means_buildkit_on_a_linux_engine(engine: docker.DockerClient) -> None:
    assert uses_buildkit(engine, "auto")
    assert not uses_buildkit(engine, "classic")
    assert uses_buildkit(engine, "buildkit")


class _Engine:
    """An engine too old for BuildKit builds, or not Linux: no such engine on this machine."""

    def __init__(self, version: dict[str, Any]) -> None:
        self._version = version

    def version(self) -> dict[str, Any]:
        return self._version


@pytest.mark.parametrize(
    "version",
    [{"Os": "linux", "ApiVersion": "1.38"}, {"Os": "windows", "ApiVersion": "1.41"}, {}],
)
def test_auto_means_classic_where_the_engine_has_no_buildkit(version: dict[str, Any]) -> None:
    assert not uses_buildkit(_Engine(version), "auto")  # type: ignore[arg-type]


@pytest.mark.docker
def test_base_images_the_engine_lacks_are_pulled_before_a_buildkit_build(
    engine: docker.DockerClient,
) -> None:
    repository = unique_repository("base")
    digest = push_tiny_image(engine, repository, "1", "a base image")
    ref = f"{repository}:1@{digest}"
    lines: list[tuple[str, str]] = []
    try:
        with pytest.raises(docker.errors.ImageNotFound):
            engine.api.inspect_image(ref)

        ensure_base_images(engine, [ref], lambda m, line: lines.append((m, line)))
        ensure_base_images(engine, [ref], lambda m, line: lines.append((m, line)))

        assert digest in engine.api.inspect_image(ref)["RepoDigests"][0]
        assert lines == [("ws", f"pulling {ref}")], "pulled once, then found locally"
    finally:
        engine.images.remove(engine.api.inspect_image(ref)["Id"], force=True)


@pytest.mark.docker
def test_a_base_image_no_registry_holds_is_a_clear_error(engine: docker.DockerClient) -> None:
    ref = f"{unique_repository('missing')}:1"

    with pytest.raises(RegistryError) as caught:
        ensure_base_images(engine, [ref])

    assert ref in str(caught.value) and "fix:" in str(caught.value)

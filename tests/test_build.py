"""ws docker build on the real engine, with the classic builder (whose steps leave images to
look inside) unless a test names BuildKit: images that answer, hold only their closure, reuse
the dependency layer, keep secrets out, fail with the failing step's output, and push."""

from __future__ import annotations

import tarfile
import uuid
from pathlib import Path

import docker
import pytest
from typer.testing import CliRunner
from ws.cli import app
from ws.docker.build import (
    Builder,
    BuiltImage,
    connect,
    git_revision,
    member_context,
    select_members,
)
from ws.docker.imageref import parse_image_ref
from ws.docker.registry import resolve_digest
from ws.docker.stream import StepFailed
from ws.errors import ConfigError, DockerUnavailable, StaleFiles
from ws.graph import build_graph
from ws.locks import LockOptions
from ws.workspace import load_workspace

from tests.support.gitrepo import GitRepo
from tests.support.imagebuild import (
    BYTECODE,
    INSTALLED,
    Made,
    as_root,
    build,
    delete_manifest,
    depend_on_other,
    locked_versions,
    plant_canaries,
    step_with,
)
from tests.support.images import (
    OTHER_MARKER,
    commit_workspace,
    run_image,
)

ANSWER = "svc 0.1.0 lib 0.2.0 beta 1.1 alpha 2.0 says hello docker\n"
DEPENDENCY_STEP = "--no-install-workspace"  # the generated RUN that installs the lock alone
SCAN = "grep -rlsI --exclude-dir=proc --exclude-dir=sys --exclude-dir=dev {} /; echo exit=$?"


@pytest.fixture(scope="module")
def svc_image(
    engine: docker.DockerClient, made: Made, template: Path, lock_options: LockOptions
) -> BuiltImage:
    (image,), _ = build(engine, made, template, ["svc"], lock_options)
    return image


# ---------------------------------------------------------------- images that work


@pytest.mark.docker
def test_service_image_answers_with_no_network(
    engine: docker.DockerClient, made: Made, template: Path, registry: str, svc_image: BuiltImage
) -> None:
    revision = git_revision(template)

    assert run_image(engine, svc_image.refs[0], ["svc"], made.label) == ANSWER
    assert svc_image.refs == (f"{registry}/svc:0.1.0", f"{registry}/svc:{revision.short}")
    labels = engine.images.get(svc_image.image_id).labels
    assert labels["ws.member"] == "svc"
    assert labels["org.opencontainers.image.revision"] == revision.sha
    assert not revision.dirty


@pytest.mark.docker
def test_image_holds_the_closure_and_its_locked_packages_only(
    engine: docker.DockerClient, made: Made, template: Path, svc_image: BuiltImage
) -> None:
    locked = locked_versions(template, "svc")

    installed = run_image(
        engine, svc_image.image_id, ["python", "-c", INSTALLED], made.label
    ).split()

    expected = ["alpha", "beta", "delta", "gamma", "lib", "svc"]
    assert installed == [f"{name}=={locked[name]}" for name in expected]
    assert "devtool" in locked  # in the lock (dev group) but, as asked, not in the image
    assert as_root(engine, svc_image.image_id, SCAN.format(OTHER_MARKER), made) == "exit=1\n"
    assert "missing" in as_root(
        engine, svc_image.image_id, "test -e /app/packages || echo missing", made
    )


@pytest.mark.docker
def test_members_and_dependencies_carry_current_bytecode(
    engine: docker.DockerClient, made: Made, svc_image: BuiltImage
) -> None:
    modules = ["svc", "svc.app", "lib", "alpha", "beta", "gamma"]

    out = run_image(engine, svc_image.image_id, ["python", "-c", BYTECODE, *modules], made.label)

    assert out.splitlines() == [f"{name} current" for name in modules]


@pytest.mark.docker
def test_the_overlay_holds_only_what_the_members_install_wrote(
    engine: docker.DockerClient, made: Made, svc_image: BuiltImage
) -> None:
    builder = step_with(svc_image, "--no-editable").image_id
    assert builder is not None

    listing = as_root(engine, builder, "cd /app/overlay && find . ! -type d | sort", made)

    site = "./lib/python3.11/site-packages/"
    owners = {
        path.removeprefix(site).split("/")[0] if path.startswith(site) else path
        for path in listing.split()
    }
    assert owners == {"./bin/svc", "lib", "lib-0.2.0.dist-info", "svc", "svc-0.1.0.dist-info"}
    assert f"{site}svc/__pycache__/app.cpython-311.pyc" in listing.split()


@pytest.mark.docker
def test_source_only_change_reuses_the_dependency_layer(
    engine: docker.DockerClient, made: Made, workspace: Path, lock_options: LockOptions
) -> None:
    (first,), _ = build(engine, made, workspace, ["svc"], lock_options)
    app_py = workspace / "packages/svc/src/svc/app.py"
    app_py.write_text(app_py.read_text().replace("says", "now says"))
    GitRepo(workspace).commit_all("a source-only change")

    (second,), lines = build(engine, made, workspace, ["svc"], lock_options)

    deps = step_with(second, DEPENDENCY_STEP)
    assert deps.cached and deps.image_id == step_with(first, DEPENDENCY_STEP).image_id
    assert all(
        step.cached for step in second.steps[: deps.number - 1] if "FROM" not in step.instruction
    )
    assert ("svc", " ---> Using cache") in lines
    assert step_with(second, "COPY --from=deps").cached, "a new revision keeps the venv copy"
    rerun = [s.instruction for s in second.steps if not s.cached and "FROM" not in s.instruction]
    assert rerun[0] == "COPY packages/svc /app/packages/svc"
    assert rerun[1].startswith("RUN uv sync --frozen --no-dev --no-editable --package svc")
    assert rerun[2].startswith("LABEL org.opencontainers.image.source="), "a new commit"
    assert rerun[3] == "COPY --from=builder /app/overlay/ /app/.venv/"
    assert rerun[4:] == [f"LABEL {k}={v}" for k, v in made.label.items()], "the caller's label"
    revisions = [
        engine.images.get(image.image_id).labels["org.opencontainers.image.revision"]
        for image in (first, second)
    ]
    assert revisions[1] == git_revision(workspace).sha != revisions[0]
    assert run_image(engine, second.refs[0], ["svc"], made.label) == ANSWER.replace(
        "says", "now says"
    )


# ---------------------------------------------------------------- secrets stay out


@pytest.mark.docker
def test_secrets_never_reach_the_context_or_the_image(
    engine: docker.DockerClient,
    made: Made,
    workspace: Path,
    tmp_path: Path,
    lock_options: LockOptions,
) -> None:
    canary = f"CANARY-{uuid.uuid4().hex}"
    planted = plant_canaries(workspace, tmp_path / "outside-secret.txt", canary)
    ws = load_workspace(workspace)

    context, report, dockerfile = member_context(ws, ws.members["svc"])
    with context, tarfile.open(fileobj=context, mode="r|") as tar:
        sent = {}
        for entry in tar:
            handle = tar.extractfile(entry) if entry.isfile() else None
            sent[entry.name] = handle.read() if handle else b""
    (image,), lines = build(engine, made, workspace, ["svc"], lock_options)

    assert dockerfile == "packages/svc/Dockerfile" and dockerfile in sent
    assert not set(planted) & set(sent)
    assert not [name for name, data in sent.items() if canary.encode() in data]
    # The pipe is not even considered: git holds no FIFO, and the context is what git holds.
    assert {s.path for s in report.skipped} == {"packages/svc/src/svc/leak.txt"}
    assert any(m == "svc" and "left out" in line and "leak.txt" in line for m, line in lines)
    assert as_root(engine, image.image_id, SCAN.format(canary), made) == "exit=1\n"


# ---------------------------------------------------------------- failures


@pytest.mark.docker
@pytest.mark.parametrize(
    ("builder", "engine_error"),
    [("classic", "returned a non-zero code"), ("buildkit", "exit code:")],
)
def test_a_failing_run_step_raises_build_failed_with_its_output(
    engine: docker.DockerClient,
    made: Made,
    workspace: Path,
    lock_options: LockOptions,
    builder: Builder,
    engine_error: str,
) -> None:
    (workspace / "packages/svc/src/svc/__init__.py").unlink()
    commit_workspace(workspace, "lose the package's __init__.py")

    with pytest.raises(StepFailed) as caught:
        build(engine, made, workspace, ["svc"], lock_options, builder=builder)

    failure = caught.value
    assert failure.member == "svc" and failure.step is not None
    assert failure.step.instruction.startswith("RUN uv sync --frozen --no-dev --no-editable")
    assert engine_error in failure.error
    assert any("__init__.py" in line for line in failure.output)
    assert "__init__.py" in str(failure) and failure.step.label in str(failure)

    argv = ["--root", str(workspace), "docker", "build", "--builder", builder, "svc"]
    result = CliRunner().invoke(app, argv)
    made.record_lines(result.output)
    assert result.exit_code == 1
    assert "error: svc: the image build failed at step" in result.output
    assert "Traceback" not in result.output


@pytest.mark.docker
def test_stale_locks_and_generated_files_are_refused_with_their_fixes(
    engine: docker.DockerClient, made: Made, workspace: Path, lock_options: LockOptions
) -> None:
    depend_on_other(workspace)

    with pytest.raises(StaleFiles) as both:
        build(engine, made, workspace, ["svc"], lock_options)

    assert any(p.startswith("packages/svc/Dockerfile:") for p in both.value.problems)
    # Member locks are derived from the root lock: the root lock is what is stale here.
    root_lock = f"{workspace.resolve() / 'uv.lock'}: out of date"
    assert any(p.startswith(root_lock) for p in both.value.problems), both.value.problems
    assert "`ws docker generate`" in str(both.value) and "`ws sync-locks`" in str(both.value)


@pytest.mark.docker
def test_a_hand_edited_dockerfile_is_refused(
    engine: docker.DockerClient, made: Made, workspace: Path, lock_options: LockOptions
) -> None:
    dockerfile = workspace / "packages/svc/Dockerfile"
    dockerfile.write_text(dockerfile.read_text() + "RUN echo edited\n")

    with pytest.raises(StaleFiles) as caught:
        build(engine, made, workspace, ["svc"], lock_options)

    assert caught.value.problems == ["packages/svc/Dockerfile: out of date or edited by hand"]
    assert "`ws docker generate`" in str(caught.value) and "sync-locks" not in str(caught.value)


def test_no_engine_is_docker_unavailable_with_the_fix(tmp_path: Path) -> None:
    socket = f"unix://{tmp_path / 'no-engine.sock'}"

    with pytest.raises(DockerUnavailable) as caught:
        connect(lambda: docker.DockerClient(base_url=socket))

    assert "tooling/engine.sh" in str(caught.value)


# ---------------------------------------------------------------- several images, pushing


@pytest.mark.docker
def test_every_image_member_builds_in_parallel(
    engine: docker.DockerClient, made: Made, workspace: Path, lock_options: LockOptions
) -> None:
    ws = load_workspace(workspace)
    names = select_members(ws, build_graph(ws), every=True)

    built, lines = build(engine, made, workspace, names, lock_options, jobs=2)

    assert names == ["other", "svc"]
    assert [image.member for image in built] == ["other", "svc"]
    for image in built:
        assert engine.images.get(image.image_id).labels["ws.member"] == image.member
    assert run_image(engine, built[0].image_id, ["other"], made.label) == OTHER_MARKER + "\n"
    assert {m for m, _ in lines} == {"other", "svc"}


@pytest.mark.docker
def test_push_sends_every_tag_and_reports_the_registry_digest(
    engine: docker.DockerClient, made: Made, workspace: Path, lock_options: LockOptions
) -> None:
    (image,), lines = build(engine, made, workspace, ["svc"], lock_options, push=True, tags=("ci",))
    try:
        assert image.refs[-1].endswith("/svc:ci")
        assert set(image.pushed) == set(image.refs)
        for ref, digest in image.pushed.items():
            assert digest == resolve_digest(parse_image_ref(ref))
        assert any("Pushed" in line or "already exists" in line for _, line in lines)
    finally:
        for digest in set(image.pushed.values()):
            delete_manifest(image.refs[0], digest)  # a manifest goes with all its tags


@pytest.mark.docker
def test_push_without_a_registry_is_refused_before_building(
    engine: docker.DockerClient, made: Made, workspace: Path, lock_options: LockOptions
) -> None:
    pyproject = workspace / "pyproject.toml"
    text = pyproject.read_text()
    pyproject.write_text(
        "\n".join(line for line in text.splitlines() if not line.startswith("registry"))
    )

    with pytest.raises(ConfigError) as caught:
        build(engine, made, workspace, ["svc"], lock_options, push=True)

    assert "registry" in str(caught.value)

"""ws docker build on the real engine's BuildKit: images that answer, hold only their closure,
reuse the dependency layer, keep secrets out, fail with the failing step's output, check only
the locks they install from, pull what they need, and push."""

from __future__ import annotations

import tarfile
import uuid
from pathlib import Path

import docker
import pytest
from typer.testing import CliRunner
from ws.cli.app import app
from ws.docker.builds.engine import build_params
from ws.docker.builds.images import BuiltImage, member_context, select_members
from ws.docker.builds.stream import StepFailed
from ws.docker.generate.config import load_config
from ws.docker.generate.files import plan_images
from ws.docker.pin.imageref import parse_image_ref
from ws.docker.pin.registry import resolve_digest
from ws.errors import ConfigError, StaleFiles
from ws.git import held_files, revision
from ws.locks.sync import LockOptions, check_locks, sync_locks
from ws.workspace.members import load_workspace

from tests.support.gitrepo import GitRepo
from tests.support.imagebuild import (
    BYTECODE,
    INSTALLED,
    Made,
    as_root,
    build,
    cli_build,
    delete_manifest,
    depend_on_other,
    locked_versions,
    plant_canaries,
    step_with,
)
from tests.support.images import (
    OTHER_MARKER,
    commit_workspace,
    generate,
    image_members,
    prepare_workspace,
    run_image,
)
from tests.support.loopback_images import unique_repository
from tests.support.pyindex import LocalIndex
from tests.support.wheels import write_wheel

ANSWER = "svc 0.1.0 lib 0.2.0 beta 1.1 alpha 2.0 says hello docker\n"
DEPENDENCY_STEP = "--no-install-local"  # the generated RUN that installs the lock alone
MEMBER_STEP = "--no-editable"  # the generated RUN that installs the members themselves
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
    at = revision(template)

    assert run_image(engine, svc_image.refs[0], ["svc"], made.label) == ANSWER
    assert svc_image.refs == (f"{registry}/svc:0.1.0", f"{registry}/svc:{at.short}")
    labels = engine.images.get(svc_image.image_id).labels
    assert labels["ws.member"] == "svc"
    assert labels["org.opencontainers.image.revision"] == at.sha
    assert not at.dirty
    assert {step.stage for step in svc_image.steps} == {"uv", "deps", "builder", "runtime"}


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
    engine: docker.DockerClient, made: Made, template: Path, registry: str, svc_image: BuiltImage
) -> None:
    # BuildKit keeps no image of a stage: build the builder stage on its own, as svc's build
    # ran it (the same Dockerfile, context and arguments), and look inside.
    ws = load_workspace(template)
    (inputs,) = plan_images(ws, load_config(ws), ["svc"])
    context, _, dockerfile = member_context(ws, inputs, held_files(template))
    ref = f"{registry}/svc:builder-stage"
    params = build_params(dockerfile, buildargs={}, labels=made.label, tags=[ref], target="builder")
    with context:
        cli_build(engine, "svc", context, params)

    listing = as_root(engine, ref, "cd /app/overlay && find . ! -type d | sort", made)

    site = "./lib/python3.11/site-packages/"
    owners = {
        path.removeprefix(site).split("/")[0] if path.startswith(site) else path
        for path in listing.split()
    }
    assert owners == {"./bin/svc", "lib", "lib-0.2.0.dist-info", "svc", "svc-0.1.0.dist-info"}
    assert f"{site}svc/__pycache__/app.cpython-311.pyc" in listing.split()
    shipped = f"/app/.venv/{site.removeprefix('./')}svc/__pycache__/app.cpython-311.pyc"
    assert as_root(engine, svc_image.image_id, f"test -f {shipped} && echo yes", made) == "yes\n"


@pytest.mark.docker
def test_source_only_change_reruns_only_the_member_steps(
    engine: docker.DockerClient, made: Made, workspace: Path, lock_options: LockOptions
) -> None:
    (first,), _ = build(engine, made, workspace, ["svc"], lock_options)
    app_py = workspace / "packages/svc/src/svc/app.py"
    app_py.write_text(app_py.read_text().replace("says", "now says"))
    GitRepo(workspace).commit_all("a source-only change")

    (second,), lines = build(engine, made, workspace, ["svc"], lock_options)

    assert step_with(second, DEPENDENCY_STEP).cached
    steps = [s for s in second.steps if not s.instruction.startswith("FROM")]
    assert all(s.cached for s in steps if s.stage in ("uv", "deps"))
    assert step_with(second, "COPY --from=deps").cached, "a new revision keeps the venv copy"
    rerun = [s for s in steps if not s.cached]
    instructions = [s.instruction for s in rerun]
    assert MEMBER_STEP in instructions[0] and instructions[0].startswith("RUN ")
    assert instructions[1:] == ["COPY --from=builder /app/overlay/ /app/.venv/"]
    assert all(s.seconds is not None for s in rerun)
    assert any(line.endswith(" (cached)") and DEPENDENCY_STEP in line for _, line in lines)
    revisions = [
        engine.images.get(image.image_id).labels["org.opencontainers.image.revision"]
        for image in (first, second)
    ]
    assert revisions[1] == revision(workspace).sha != revisions[0]
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
    sync_locks(ws, None, lock_options)
    generate(workspace)
    commit_workspace(workspace, "lib needs a vendored wheel")

    (image,), _ = build(engine, made, workspace, ["svc"], lock_options)

    probe = "import vendored, importlib.metadata as m; print(m.version('vendored'))"
    assert run_image(engine, image.image_id, ["python", "-c", probe], made.label) == "1.0\n"
    assert "vendor/vendored-1.0-py3-none-any.whl" in image.context.members
    assert "vendor/unrelated.txt" not in image.context.members
    assert run_image(engine, image.image_id, ["svc"], made.label) == ANSWER


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
    (inputs,) = plan_images(ws, load_config(ws), ["svc"])

    context, report, dockerfile = member_context(ws, inputs, held_files(workspace))
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
def test_a_failing_run_step_raises_build_failed_with_its_output(
    engine: docker.DockerClient, made: Made, workspace: Path, lock_options: LockOptions
) -> None:
    (workspace / "packages/svc/src/svc/__init__.py").unlink()
    commit_workspace(workspace, "lose the package's __init__.py")

    with pytest.raises(StepFailed) as caught:
        build(engine, made, workspace, ["svc"], lock_options)

    failure = caught.value
    assert failure.member == "svc" and failure.step is not None
    assert failure.step.stage == "builder" and MEMBER_STEP in failure.step.instruction
    assert "exit code:" in failure.error
    assert any("__init__.py" in line for line in failure.output)
    assert "__init__.py" in str(failure) and failure.step.label in str(failure)

    result = CliRunner().invoke(app, ["--root", str(workspace), "docker", "build", "svc"])
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


@pytest.fixture
def with_dependent(
    tmp_path: Path, pyindex: LocalIndex, lock_options: LockOptions, registry: str
) -> Path:
    """The image workspace plus ops, a member (no image) that installs svc."""
    root = tmp_path / "ws"
    members = {**image_members(), "ops": {"dependencies": ["svc"]}}
    prepare_workspace(root, pyindex.url, lock_options, registry=registry, members=members)
    return root


def _edit_lock(path: Path) -> None:
    """A hand edit that `ws sync-locks` would undo: a member lock no longer its part."""
    path.write_text(path.read_text() + "\n# edited by hand\n")


@pytest.mark.docker
def test_a_build_checks_its_own_and_the_root_lock_not_its_dependents(
    engine: docker.DockerClient, made: Made, with_dependent: Path, lock_options: LockOptions
) -> None:
    _edit_lock(with_dependent / "packages/ops/uv.lock")
    commit_workspace(with_dependent, "ops's lock edited by hand")
    with pytest.raises(StaleFiles, match="packages/ops/uv.lock: out of date"):
        check_locks(load_workspace(with_dependent), None, lock_options)  # every lock

    (image,), _ = build(engine, made, with_dependent, ["svc"], lock_options)

    assert run_image(engine, image.image_id, ["svc"], made.label) == ANSWER
    _edit_lock(with_dependent / "packages/svc/uv.lock")
    commit_workspace(with_dependent, "svc's lock edited by hand")
    with pytest.raises(StaleFiles) as caught:
        build(engine, made, with_dependent, ["svc"], lock_options)
    svc_lock = with_dependent.resolve() / "packages/svc/uv.lock"
    assert caught.value.problems == [
        f"{svc_lock}: out of date with the root lock (svc's part of it)"
    ]
    assert "`ws sync-locks`" in str(caught.value)


@pytest.mark.docker
def test_a_base_image_no_registry_holds_fails_the_build_naming_it(
    engine: docker.DockerClient, made: Made, workspace: Path, lock_options: LockOptions
) -> None:
    missing = f"{unique_repository('python')}:3.11@sha256:{'0' * 64}"  # pinned, as generate needs
    pyproject = workspace / "pyproject.toml"
    text = pyproject.read_text()
    python_line = next(line for line in text.splitlines() if line.startswith("python-image"))
    pyproject.write_text(text.replace(python_line, f'python-image = "{missing}"'))
    generate(workspace)
    commit_workspace(workspace, "a python image no registry holds")

    # BuildKit pulls it itself, through ws's session (no pre-pull): its "not found" fails the
    # build before any step runs
    with pytest.raises(StepFailed) as caught:
        build(engine, made, workspace, ["svc"], lock_options)

    assert missing in str(caught.value) and "not found" in str(caught.value)
    assert caught.value.step is None


# ---------------------------------------------------------------- several images, pushing


@pytest.mark.docker
def test_every_image_member_builds_in_parallel(
    engine: docker.DockerClient, made: Made, workspace: Path, lock_options: LockOptions
) -> None:
    ws = load_workspace(workspace)
    names = select_members(ws, load_config(ws), every=True)

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

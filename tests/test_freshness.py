"""Whether generated Docker files are current, from the digest `ws docker generate` records:
a build trusts it without rendering, any change sends the build to the full check (which
still refuses a hand edit), and a checkout without the record builds and records it."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

import docker
import pytest
from typer.testing import CliRunner
from ws.cli.app import app
from ws.cli.common import open_records
from ws.docker.builds.images import check_inputs
from ws.docker.generate import files as gen
from ws.docker.generate import freshness
from ws.docker.generate.config import load_config
from ws.docker.generate.files import plan_images
from ws.errors import StaleFiles
from ws.git import revision
from ws.locks import sync as locks
from ws.locks.sync import LockOptions
from ws.state import RECORDS_FILE, Records
from ws.workspace.members import Workspace, load_workspace

from tests.support.gitrepo import GitRepo
from tests.support.imagebuild import Made, build
from tests.support.images import run_image

ANSWER = "svc 0.1.0 lib 0.2.0 beta 1.1 alpha 2.0 says hello docker\n"
HAND_EDIT = "packages/svc/Dockerfile: out of date or edited by hand"


def _current(ws: Workspace) -> dict[str, bool]:
    images = plan_images(ws, load_config(ws), ["other", "svc"])
    files = freshness.read_files(ws.root, images)
    found = freshness.unrecorded(ws, images, open_records(ws), files)
    unrecorded = {inputs.name for inputs in found}
    return {inputs.name: inputs.name not in unrecorded for inputs in images}


def _check_inputs(ws: Workspace, names: list[str], lock_options: LockOptions) -> None:
    """check_inputs as a build runs it: with this machine's records, saved afterwards."""
    config = load_config(ws)
    records = open_records(ws)
    try:
        check_inputs(ws, config, plan_images(ws, config, names), lock_options, records)
    finally:
        records.save()


def _recorded(root: Path) -> set[str]:
    entries = json.loads((root / ".ws" / RECORDS_FILE).read_text())
    return {e.removeprefix(freshness.RECORD) for e in entries if e.startswith(freshness.RECORD)}


def _generate(root: Path) -> None:
    result = CliRunner().invoke(app, ["--root", str(root), "docker", "generate"])
    assert result.exit_code == 0, result.output
    assert result.output == "all generated Docker files are up to date\n"


def _never_render(monkeypatch: pytest.MonkeyPatch) -> None:
    def render(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("the generated files were rendered again")

    monkeypatch.setattr(gen, "generated_files", render)
    monkeypatch.setattr(gen, "image_files", render)


@pytest.mark.docker
def test_a_build_trusts_what_generate_recorded_without_rendering(
    workspace: Path, lock_options: LockOptions, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = _current(load_workspace(workspace))

    _generate(workspace)

    ws = load_workspace(workspace)
    assert before == {"other": False, "svc": False}, "the template's files were never recorded"
    assert _current(ws) == {"other": True, "svc": True}
    _never_render(monkeypatch)
    _check_inputs(ws, ["svc"], lock_options)


@pytest.mark.docker
def test_a_hand_edit_after_generate_is_still_refused_by_a_build(
    engine: docker.DockerClient, made: Made, workspace: Path, lock_options: LockOptions
) -> None:
    _generate(workspace)
    dockerfile = workspace / "packages/svc/Dockerfile"
    dockerfile.write_text(dockerfile.read_text() + "RUN echo edited\n")
    GitRepo(workspace).commit_all("a hand edit")

    with pytest.raises(StaleFiles) as caught:
        build(engine, made, workspace, ["svc"], lock_options)

    assert caught.value.problems == [HAND_EDIT]
    assert _current(load_workspace(workspace)) == {"other": True, "svc": False}, "not recorded"


@pytest.mark.docker
def test_a_changed_input_is_checked_in_full_and_recorded_again(
    workspace: Path, lock_options: LockOptions, monkeypatch: pytest.MonkeyPatch
) -> None:
    _generate(workspace)
    pyproject = workspace / "pyproject.toml"
    pyproject.write_text(pyproject.read_text() + "# a comment changes no generated file\n")
    ws = load_workspace(workspace)
    assert _current(ws) == {"other": False, "svc": False}, "the root pyproject is an input"

    _check_inputs(ws, ["svc"], lock_options)

    assert _current(ws) == {"other": False, "svc": True}, "only what was checked"
    _never_render(monkeypatch)
    _check_inputs(ws, ["svc"], lock_options)


@pytest.mark.docker
def test_member_names_are_an_input(workspace: Path) -> None:
    """The generated pyproject keeps root sources by member name: two members trading names
    (their folders and every file unchanged) must not find the record still vouching."""
    _generate(workspace)
    ws = load_workspace(workspace)
    assert _current(ws) == {"other": True, "svc": True}
    lib, other = ws.members["lib"], ws.members["other"]
    traded = {
        **ws.members,
        "lib": replace(lib, rel=other.rel, path=other.path),
        "other": replace(other, rel=lib.rel, path=lib.path),
    }
    assert _current(replace(ws, members=traded)) == {"other": False, "svc": False}


@pytest.mark.docker
def test_a_fresh_clone_without_state_builds_and_records(
    engine: docker.DockerClient,
    made: Made,
    template: Path,
    tmp_path: Path,
    lock_options: LockOptions,
) -> None:
    clone = tmp_path / "clone"
    GitRepo(template).git("clone", "--quiet", str(template), str(clone))
    assert not (clone / ".ws").exists()

    (image,), _ = build(engine, made, clone, ["svc"], lock_options)

    assert run_image(engine, image.image_id, ["svc"], made.label) == ANSWER
    assert _recorded(clone) == {"svc"}
    assert _current(load_workspace(clone)) == {"other": False, "svc": True}
    assert not revision(clone).dirty, "the record stays out of git: the next build is clean"


def _check(root: Path) -> str:
    result = CliRunner().invoke(app, ["--root", str(root), "check"])
    assert result.exit_code in (0, 1), result.output
    return result.output


@pytest.mark.docker
def test_ws_check_trusts_the_record_without_the_graph_or_rendering(
    workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`ws check` (the pre-commit hook) after `ws docker generate`: no networkx graph, no
    template rendered, as in a build."""
    _generate(workspace)

    _never_render(monkeypatch)
    monkeypatch.setattr("ws.workspace.graph.build_graph", _no_graph)

    assert _check(workspace) == "locks, generated Docker files and image pins are up to date\n"


@pytest.mark.docker
def test_a_warm_ws_check_reads_each_file_once(
    workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each input read once a run, parsed at the edge and handed down: the root pyproject
    was read again for each image's key, the member locks again to record them."""
    _generate(workspace)
    _check(workspace)
    reads: Counter[str] = Counter()
    for method in ("read_bytes", "read_text"):
        real = getattr(Path, method)

        def counted(path: Path, *args: Any, _real: Any = real, **kwargs: Any) -> Any:
            if path.is_relative_to(workspace):
                reads[path.relative_to(workspace).as_posix()] += 1
            return _real(path, *args, **kwargs)

        monkeypatch.setattr(Path, method, counted)

    assert _check(workspace) == "locks, generated Docker files and image pins are up to date\n"

    assert {"pyproject.toml", "packages/svc/uv.lock", "packages/svc/Dockerfile"} <= set(reads)
    assert [path for path, times in reads.items() if times > 1] == []


def _no_graph(*_args: object) -> None:
    raise AssertionError("ws check built the workspace graph")


@pytest.mark.docker
@pytest.mark.parametrize(
    ("path", "problem"),
    [
        ("packages/svc/Dockerfile", HAND_EDIT),
        (
            "packages/svc/Dockerfile.dockerignore",
            "packages/svc/Dockerfile.dockerignore: out of date or edited by hand",
        ),
    ],
    ids=["dockerfile", "member-dockerignore"],
)
def test_ws_check_still_finds_a_hand_edit_after_generate(
    workspace: Path, path: str, problem: str
) -> None:
    _generate(workspace)
    edited = workspace / path
    edited.write_text(edited.read_text() + "# edited\n")

    assert problem in _check(workspace)


@pytest.mark.docker
def test_ws_check_on_a_checkout_without_state_checks_in_full_then_records(
    workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shutil.rmtree(workspace / ".ws", ignore_errors=True)

    assert _check(workspace) == "locks, generated Docker files and image pins are up to date\n"

    assert _recorded(workspace) == {"other", "svc", "/"}
    _never_render(monkeypatch)
    assert _check(workspace).endswith("are up to date\n")


@pytest.mark.docker
def test_a_build_refuses_a_tampered_member_lock_that_a_foreign_record_vouches_for(
    engine: docker.DockerClient, made: Made, workspace: Path, lock_options: LockOptions
) -> None:
    """A branch bringing a tampered member lock and a .ws made elsewhere: the build checks
    the lock itself and refuses it (the image would install what the tampered lock says)."""
    lock = workspace / "packages/svc/uv.lock"
    lock.write_text(lock.read_text().replace('name = "alpha"', 'name = "evil"', 1))
    ws = load_workspace(workspace)
    root_lock = (workspace / "uv.lock").read_bytes()
    foreign = Records(workspace, b"another machine's key...........", {})
    foreign.note(locks.ROOT_RECORD, locks._root_key(ws, lock_options, root_lock))
    foreign.note(locks.MEMBERS_RECORD, locks._members_key(root_lock, locks.member_locks(ws)))
    foreign.save()
    GitRepo(workspace).commit_all("tampered")

    with pytest.raises(StaleFiles) as caught:
        build(engine, made, workspace, ["svc"], lock_options)
    assert "packages/svc/uv.lock: out of date with the root lock" in str(caught.value)

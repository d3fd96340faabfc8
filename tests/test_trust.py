"""Records that vouch only for what this machine verified, and checks that agree with uv.

A branch can bring a .ws of its own; another checkout's .ws can be copied; uv reads settings
from the environment and from files outside the workspace. None of it may make `ws check`
pass where `uv lock --locked` or the derivation of the member locks would not."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner
from ws.cli.app import app
from ws.locks.sync import (
    MEMBERS_RECORD,
    ROOT_RECORD,
    LockOptions,
    _members_key,
    _root_key,
    member_locks,
)
from ws.state import Records
from ws.workspace.members import load_workspace

from tests.support.files import make_workspace
from tests.support.gitrepo import GitRepo
from tests.support.pyindex import Package

CATALOGUE = (
    Package("alpha", "1.0"),
    Package("alpha", "1.1"),
    Package("alpha", "2.0rc1"),
    Package("beta", "1.0", requires=("alpha>=1.0",)),
    Package("evil", "6.6"),
)
MEMBERS = {
    "core": {"dependencies": ["alpha>=1.0"]},
    "svc": {"dependencies": ["core", "beta"]},
}
STALE_CORE = "packages/core/uv.lock: out of date with the root lock"


@pytest.fixture
def index(pyindex_factory):
    return pyindex_factory(CATALOGUE)


@pytest.fixture
def cli_env(uv_env: dict[str, str], uv_bin: str, tmp_path: Path) -> dict[str, str]:
    """The environment of a ws run on this machine: the hermetic uv's, the tests' uv, and a
    cache folder (where the machine's sealing key lives) of this test's own."""
    env = {**uv_env, "WS_UV": uv_bin, "XDG_CACHE_HOME": str(tmp_path / "victim-cache")}
    env["HOME"] = str(tmp_path / "home")
    env["UV_CACHE_DIR"] = str(tmp_path / "uv-cache")  # its index's pages are its own
    # uv.toml files of this test's own: one test writes a user-level one.
    env["XDG_CONFIG_HOME"] = env["XDG_CONFIG_DIRS"] = str(tmp_path / "xdg-config")
    return env


def ws(root: Path, env: dict[str, str], *args: str):
    """ws run in-process with exactly env as its environment."""
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        return CliRunner().invoke(app, ["--root", str(root), *args])
    finally:
        os.environ.clear()
        os.environ.update(saved)


def synced_repo(path: Path, index_url: str, env: dict[str, str]) -> GitRepo:
    make_workspace(path, MEMBERS, index_url=index_url)
    result = ws(path, env, "sync-locks")
    assert result.exit_code == 0, result.output
    repo = GitRepo(path)
    repo.git("init", "--quiet")
    repo.git("add", "-A")
    repo.git("commit", "--quiet", "-m", "locked")
    return repo


def tamper(lock: Path) -> None:
    """Give core's member lock a package the root lock never had (what an image then installs)."""
    text = lock.read_text()
    lock.write_text(text.replace('name = "alpha"', 'name = "evil"', 1).replace("1.1", "6.6", 1))


def forge(root: Path, env: dict[str, str], key: bytes) -> None:
    """Records for the checkout as it is, sealed with key: what an attacker's own machine
    (or a copy of another checkout's .ws) would bring."""
    ws_ = load_workspace(root)
    opts = LockOptions(uv=env["WS_UV"], env=env, home=Path(env["HOME"]))
    records = Records(root, key, {})
    lock = (root / "uv.lock").read_bytes()
    records.note(ROOT_RECORD, _root_key(ws_, opts, lock))
    records.note(MEMBERS_RECORD, _members_key(lock, member_locks(ws_)))
    records.save()


def test_a_committed_ws_from_another_machine_vouches_for_nothing(
    tmp_path: Path, index, cli_env: dict[str, str]
) -> None:
    attacker = synced_repo(tmp_path / "attacker", index.url, cli_env)
    tamper(attacker.path / "packages/core/uv.lock")
    forge(attacker.path, cli_env, b"attacker's own machine key......")
    attacker.git("add", "-A")
    attacker.git("add", "-f", ".ws")
    attacker.git("commit", "--quiet", "-m", "tampered, with a matching .ws")
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "--quiet", str(attacker.path), str(clone)], check=True)
    assert (clone / ".ws/records.json").is_file()

    for argv in (["sync-locks", "--check"], ["check"]):
        result = ws(clone, cli_env, *argv)
        assert result.exit_code == 1, result.output
        assert STALE_CORE in result.output


def test_records_made_for_another_folder_vouch_for_nothing(
    tmp_path: Path, index, cli_env: dict[str, str]
) -> None:
    first = synced_repo(tmp_path / "first", index.url, cli_env)
    tamper(first.path / "packages/core/uv.lock")
    # Sealed with this very machine's key, but for the checkout's old folder.
    forge(first.path, cli_env, (tmp_path / "victim-cache/ws/state.key").read_bytes())
    moved = tmp_path / "moved"
    first.path.rename(moved)

    result = ws(moved, cli_env, "check")
    assert result.exit_code == 1, result.output
    assert STALE_CORE in result.output


def test_a_ws_that_git_tracks_is_neither_trusted_nor_written(
    tmp_path: Path, index, cli_env: dict[str, str], uv_bin: str
) -> None:
    repo = synced_repo(tmp_path / "repo", index.url, cli_env)
    assert ws(repo.path, cli_env, "check").exit_code == 0  # records made here, genuinely
    repo.git("add", "-f", ".ws")
    repo.git("commit", "--quiet", "-m", "oops, committed .ws")
    before = (repo.path / ".ws/records.json").read_bytes()
    log = tmp_path / "uv-calls"
    shim = tmp_path / "uv-shim"
    shim.write_text(f'#!/bin/sh\necho "$@" >> {log}\nexec {uv_bin} "$@"\n')
    shim.chmod(0o755)

    result = ws(repo.path, {**cli_env, "WS_UV": str(shim)}, "check")
    assert result.exit_code == 0, result.output
    assert "lock" in log.read_text(), "a tracked .ws spares no check"
    assert (repo.path / ".ws/records.json").read_bytes() == before, "and is never written"


def test_a_ws_that_git_tracks_is_left_as_the_branch_brought_it(
    tmp_path: Path, index, cli_env: dict[str, str]
) -> None:
    """A branch that commits .ws with a .gitignore of its own (or none): checks and syncs
    write nothing there, not even ws's lock or its .gitignore, and what keeps its state
    there (ws run, ws clean) is refused with the fix."""
    repo = synced_repo(tmp_path / "repo", index.url, cli_env)
    state = repo.path / ".ws"
    shutil.rmtree(state, ignore_errors=True)
    state.mkdir()
    (state / ".gitignore").write_text("# the branch's own\n")
    (state / "notes.txt").write_text("committed by mistake\n")
    pyproject = repo.path / "pyproject.toml"
    pyproject.write_text(pyproject.read_text() + '\n[tool.ws.tasks]\ntest = "python -c pass"\n')
    repo.git("add", "-A")
    repo.git("add", "-f", ".ws")
    repo.git("commit", "--quiet", "-m", "oops, committed .ws")
    before = repo.git("status", "--porcelain", "--ignored")

    for command in (["check"], ["sync-locks"], ["sync-locks", "--check"]):
        result = ws(repo.path, cli_env, *command)
        assert result.exit_code == 0, (command, result.output)
        assert repo.git("status", "--porcelain", "--ignored") == before, command
    for command in (["run", "test"], ["clean"]):
        result = ws(repo.path, cli_env, *command)
        assert result.exit_code == 1, (command, result.output)
        assert "is tracked by git" in result.output
        assert "git rm -r --cached .ws" in result.output
    assert sorted(p.name for p in state.iterdir()) == [".gitignore", "notes.txt"]


def test_a_check_waits_for_a_sync_in_progress(
    tmp_path: Path, index, cli_env: dict[str, str]
) -> None:
    """A check takes the workspace lock before it reads anything: while another run holds it
    (a sync writing the locks), the check waits, and says who holds it when the wait ends,
    rather than recording bytes it may have read half written."""
    from ws.mutex import workspace_lock

    repo = synced_repo(tmp_path / "repo", index.url, cli_env)
    with workspace_lock(repo.path, timeout=1):
        result = ws(repo.path, cli_env, "sync-locks", "--check", "--wait", "0.3")
    assert result.exit_code == 1, result.output
    assert f"pid {os.getpid()}" in result.output
    assert ws(repo.path, cli_env, "sync-locks", "--check").exit_code == 0


def test_a_fifo_or_deeply_nested_records_file_is_ignored(
    tmp_path: Path, index, cli_env: dict[str, str]
) -> None:
    repo = synced_repo(tmp_path / "repo", index.url, cli_env)
    records = repo.path / ".ws/records.json"
    records.parent.mkdir(exist_ok=True)
    records.write_text("[" * 100_000 + "]" * 100_000)
    result = ws(repo.path, cli_env, "check")
    assert result.exit_code == 0, result.output
    records.unlink()
    os.mkfifo(records)
    # In a process of its own: a check that opened the FIFO would hang, not fail.
    done = subprocess.run(
        [sys.executable, "-m", "ws", "--root", str(repo.path), "check"],
        env=cli_env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr


# uv settings that change what `uv lock --locked` answers, each set after a check passed and
# recorded it. The lock was made with alpha 1.1 (highest); every one of these makes uv refuse it.
SETTINGS = {
    "UV_RESOLUTION": "lowest-direct",
    "UV_PRERELEASE": "allow",
    "UV_EXCLUDE_NEWER": "2001-01-01T00:00:00Z",
    # another index than the one the lock names (a port nothing listens on: uv never reads it)
    "UV_DEFAULT_INDEX": "http://127.0.0.1:9/simple",
}


def _uv_locked(root: Path, env: dict[str, str]) -> int:
    argv = [env["WS_UV"], "lock", "--locked", "--offline"]
    return subprocess.run(argv, cwd=root, env=env, capture_output=True, check=False).returncode


@pytest.mark.parametrize("setting", [*SETTINGS, "user uv.toml", "system uv.toml", "UV_CONFIG_FILE"])
def test_check_agrees_with_uv_under_each_setting_even_when_recorded(
    tmp_path: Path, index, cli_env: dict[str, str], setting: str
) -> None:
    repo = synced_repo(tmp_path / "repo", index.url, cli_env)
    assert ws(repo.path, cli_env, "check").exit_code == 0  # recorded as verified
    env = dict(cli_env)
    if setting == "user uv.toml":
        config = Path(env["XDG_CONFIG_HOME"]) / "uv/uv.toml"
        config.parent.mkdir(parents=True, exist_ok=True)
        config.write_text('resolution = "lowest-direct"\n')
    elif setting == "system uv.toml":  # uv's system level, through XDG_CONFIG_DIRS
        system = tmp_path / "xdg-system"
        (system / "uv").mkdir(parents=True)
        (system / "uv/uv.toml").write_text('resolution = "lowest-direct"\n')
        env["XDG_CONFIG_DIRS"] = str(system)
    elif setting == "UV_CONFIG_FILE":
        config = tmp_path / "ci-uv.toml"
        config.write_text('prerelease = "allow"\n')
        env["UV_CONFIG_FILE"] = str(config)
    else:
        env[setting] = SETTINGS[setting]
    assert _uv_locked(repo.path, env) != 0, "the setting must change uv's answer"

    result = ws(repo.path, env, "check")
    assert result.exit_code == 1, result.output
    # uv's verdict, whichever it is: the lock is stale, or uv cannot use it at all.
    assert "uv.lock: out of date with the workspace's" in result.output or (
        "`uv lock --locked` could not tell whether" in result.output
    )


@pytest.mark.parametrize("first", ["check", "sync-locks"])
def test_what_changed_while_uv_ran_is_not_recorded(
    tmp_path: Path, index, cli_env: dict[str, str], uv_bin: str, first: str
) -> None:
    """A record vouches only for what uv read. Here core's pyproject asks for evil (the lock
    is stale), but while the check runs it is put back as locked before uv reads it: uv says
    up to date, and nothing may be recorded for the stale bytes ws had keyed, which a later
    checkout brings back. The same for a sync, whose `uv lock` read the restored file."""
    repo = synced_repo(tmp_path / "repo", index.url, cli_env)
    core = repo.path / "packages/core/pyproject.toml"
    locked = tmp_path / "core-locked.toml"
    locked.write_bytes(core.read_bytes())
    stale = core.read_text().replace('"alpha>=1.0"', '"alpha>=1.0", "evil"')
    core.write_text(stale)
    meanwhile = tmp_path / "restore-while-uv-runs"
    meanwhile.touch()
    shim = tmp_path / "uv"  # one uv for both checks: the binary is part of the key
    shim.write_text(
        f'#!/bin/sh\n[ "$1" = lock ] && [ -e {meanwhile} ] && cp {locked} {core}\n'
        f'exec {uv_bin} "$@"\n'
    )
    shim.chmod(0o755)
    env = {**cli_env, "WS_UV": str(shim)}

    assert ws(repo.path, env, first).exit_code == 0  # what uv said of what it read
    meanwhile.unlink()
    core.write_text(stale)  # the bytes ws keyed before uv ran, back
    result = ws(repo.path, env, "check")
    assert result.exit_code == 1, "the stale pyproject was never recorded as up to date"
    assert "uv.lock: out of date with the workspace's" in result.output


def test_a_file_reference_change_is_checked_by_uv_again(
    tmp_path: Path, index, cli_env: dict[str, str]
) -> None:
    root = tmp_path / "repo"
    members = {
        **MEMBERS,
        "svc": {"dependencies": ["core", "vendored @ file:///${PROJECT_ROOT}/vendor/vendored"]},
    }
    make_workspace(root, members, index_url=index.url)
    vendored = root / "vendor/vendored"
    (vendored / "src/vendored").mkdir(parents=True)
    (vendored / "src/vendored/__init__.py").write_text("")
    project = '[project]\nname = "vendored"\nversion = "1.0"\ndependencies = [{deps}]\n'
    build = '[build-system]\nrequires = ["uv_build"]\nbuild-backend = "uv_build"\n'
    (vendored / "pyproject.toml").write_text(project.format(deps="") + build)
    synced = ws(root, cli_env, "sync-locks")
    assert synced.exit_code == 0, synced.output
    assert ws(root, cli_env, "check").exit_code == 0  # recorded

    (vendored / "pyproject.toml").write_text(project.format(deps='"beta"') + build)
    assert _uv_locked(root, cli_env) != 0
    result = ws(root, cli_env, "check")
    assert result.exit_code == 1, result.output


def test_a_change_in_a_path_sources_own_path_source_is_checked_by_uv_again(
    tmp_path: Path, index, cli_env: dict[str, str]
) -> None:
    """liba is a path source of svc; libc is liba's own (uv reads liba's [tool.uv.sources])."""
    root = tmp_path / "repo"
    members = {**MEMBERS, "svc": {"dependencies": ["core", "liba"]}}
    make_workspace(root, members, index_url=index.url)
    pyproject = root / "packages/svc/pyproject.toml"
    text = pyproject.read_text()
    source = '[tool.uv.sources]\nliba = { path = "../../libs/liba" }\n'
    pyproject.write_text(text.replace("[tool.uv.sources]\n", source, 1))
    build = '[build-system]\nrequires = ["uv_build"]\nbuild-backend = "uv_build"\n'
    project = '[project]\nname = "{name}"\nversion = "1.0"\ndependencies = [{deps}]\n'
    for name, deps, extra in (
        ("liba", '"libc"', '\n[tool.uv.sources]\nlibc = { path = "../libc" }\n'),
        ("libc", "", ""),
    ):
        (root / f"libs/{name}/src/{name}").mkdir(parents=True)
        (root / f"libs/{name}/src/{name}/__init__.py").write_text("")
        text = project.format(name=name, deps=deps) + build + extra
        (root / f"libs/{name}/pyproject.toml").write_text(text)
    synced = ws(root, cli_env, "sync-locks")
    assert synced.exit_code == 0, synced.output
    assert ws(root, cli_env, "check").exit_code == 0  # recorded

    libc = root / "libs/libc/pyproject.toml"
    libc.write_text(libc.read_text().replace("dependencies = []", 'dependencies = ["beta"]'))
    assert _uv_locked(root, cli_env) != 0
    result = ws(root, cli_env, "check")
    assert result.exit_code == 1, result.output

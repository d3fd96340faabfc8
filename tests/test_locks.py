"""ws sync-locks with the real uv against a local index: isolation, agreement, check, safety."""

from __future__ import annotations

import os
import shutil
import signal
import stat
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pytest
from ws.errors import Busy, LockError, StaleFiles, WsError
from ws.git import tracks
from ws.locks.sync import LockOptions, check_locks, derive_locks, sync_locks
from ws.mutex import workspace_lock
from ws.state import Records, load_records
from ws.workspace import lockfile, member_lock
from ws.workspace.members import load_workspace

from tests.support.files import make_workspace
from tests.support.gitrepo import init_repo
from tests.support.pyindex import Package
from tests.support.wheels import write_wheel

CATALOGUE = (
    Package("alpha", "1.0"),
    Package("beta", "1.0", requires=("alpha>=1.0",)),
    Package("gamma", "0.1"),
    Package("delta", "1.0", requires=("gamma",)),
    Package("devtool", "1.0"),
)
MEMBERS = {
    "core": {"dependencies": ["alpha>=1.0"]},
    "report": {"dependencies": ["core", "beta"]},
    "service": {
        "dependencies": ["report"],
        "optional-dependencies": {"fast": ["delta"]},
        "dependency-groups": {"dev": ["devtool"]},
    },
    "cli": {"dependencies": ["gamma"]},
}


@pytest.fixture
def index(pyindex_factory):
    return pyindex_factory(CATALOGUE)


@pytest.fixture
def root(tmp_path: Path, index) -> Path:
    return make_workspace(tmp_path / "ws", MEMBERS, index_url=index.url)


@pytest.fixture
def opts(uv_bin: str, uv_env: dict[str, str]) -> LockOptions:
    return LockOptions(uv=uv_bin, env=uv_env, wait=0.5)


MACHINE_KEY = bytes(range(32))


def records_of(root: Path) -> Records:
    """The records a ws run on this machine reads, sealed with the tests' machine key."""
    return load_records(root, MACHINE_KEY, lambda path: tracks(root, path))


def sync(root: Path, opts: LockOptions, names=None, **changes):
    ws = load_workspace(root)
    options = LockOptions(**{**opts.__dict__, **changes})
    records = records_of(root)
    try:
        return sync_locks(ws, names, options, records=records)
    finally:
        records.save()


def check(root: Path, opts: LockOptions) -> None:
    ws = load_workspace(root)
    records = records_of(root)
    try:
        check_locks(ws, None, opts, records=records)
    finally:
        records.save()


def pins(path: Path) -> dict[str, str | None]:
    return {p["name"]: p.get("version") for p in tomllib.loads(path.read_text())["package"]}


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


def test_each_member_lock_holds_its_closure_only(root: Path, opts: LockOptions) -> None:
    report = sync(root, opts)
    assert report.members == dict.fromkeys(["cli", "core", "report", "service"], "created")
    assert pins(root / "packages/core/uv.lock") == {"core": "0.1.0", "alpha": "1.0"}
    assert pins(root / "packages/report/uv.lock") == {
        "alpha": "1.0",
        "beta": "1.0",
        "core": "0.1.0",
        "report": "0.1.0",
    }
    # Optional and group edges belong to the closure too.
    assert set(pins(root / "packages/service/uv.lock")) == {
        "alpha",
        "beta",
        "core",
        "report",
        "service",
        "delta",
        "gamma",
        "devtool",
    }
    assert pins(root / "packages/cli/uv.lock") == {"cli": "0.1.0", "gamma": "0.1"}


def test_member_locks_keep_the_root_pins(root: Path, opts: LockOptions, index) -> None:
    sync(root, opts)
    index.add("alpha", "1.5")  # newer, but nothing asked for an upgrade
    edit(root / "packages/report/pyproject.toml", '"beta"', '"beta", "gamma"')
    sync(root, opts)
    assert pins(root / "uv.lock")["alpha"] == "1.0"
    assert pins(root / "packages/report/uv.lock")["alpha"] == "1.0"


def test_root_uv_settings_are_carried_into_the_copy(tmp_path: Path, index, opts) -> None:
    index.add("alpha", "2.0")
    root = make_workspace(
        tmp_path / "ws",
        MEMBERS,
        index_url=index.url,
        root_extra='[tool.uv]\nconstraint-dependencies = ["alpha<2"]\n',
    )
    sync(root, opts)
    assert pins(root / "packages/core/uv.lock")["alpha"] == "1.0"
    lock = tomllib.loads((root / "packages/core/uv.lock").read_text())
    assert lock["manifest"]["constraints"] == [{"name": "alpha", "specifier": "<2"}]


def test_upgrade_package_reaches_every_lock_that_holds_it(root: Path, opts, index) -> None:
    sync(root, opts)
    index.add("alpha", "1.1")
    result = sync(root, opts, upgrade_packages=("alpha",))
    assert result.root == "updated"
    for member in ("core", "report", "service"):
        assert pins(root / f"packages/{member}/uv.lock")["alpha"] == "1.1"
    assert result.members["cli"] == "unchanged"
    check(root, opts)


def uv_shim(tmp_path: Path, opts: LockOptions) -> tuple[Path, Path]:
    """A uv that logs its arguments to the second path, then runs the real one."""
    log = tmp_path / "uv-calls"
    shim = tmp_path / "uv-shim"
    shim.write_text(f'#!/bin/sh\necho "$@" >> {log}\nexec {opts.uv} "$@"\n')
    shim.chmod(shim.stat().st_mode | stat.S_IXUSR)
    return shim, log


def test_a_noop_run_runs_no_uv(root: Path, opts: LockOptions, tmp_path: Path) -> None:
    shim, log = uv_shim(tmp_path, opts)
    sync(root, opts, uv=str(shim))
    log.unlink()
    result = sync(root, opts, uv=str(shim))
    assert set(result.members.values()) == {"unchanged"} and result.root == "fresh"
    assert not log.exists(), "a no-op runs no uv at all"


def test_a_check_remembers_what_it_verified_and_the_next_skips_uv(
    root: Path, opts: LockOptions, tmp_path: Path
) -> None:
    """A fresh clone has no .ws: its first check asks uv, the next ones do not, until uv's
    inputs move (a CI runner or a second ws build checks in milliseconds)."""
    sync(root, opts)
    shutil.rmtree(root / ".ws")
    shim, log = uv_shim(tmp_path, opts)
    checking = LockOptions(**{**opts.__dict__, "uv": str(shim)})

    check(root, checking)
    assert "lock" in log.read_text(), "nothing recorded yet: uv decides"
    log.unlink()
    check(root, checking)
    assert not log.exists(), "the verified root lock and member locks were remembered"

    edit(root / "packages/cli/pyproject.toml", '"gamma"', '"gamma", "alpha"')
    with pytest.raises(StaleFiles, match="uv.lock: out of date with the workspace's"):
        check(root, checking)
    assert "lock" in log.read_text(), "a change uv reads is checked by uv again"


def test_image_settings_leave_the_lock_cache_valid(
    root: Path, opts: LockOptions, tmp_path: Path
) -> None:
    """`ws docker pin` rewrites [tool.ws.docker]: uv never reads it, so nothing is re-locked."""
    shim, log = uv_shim(tmp_path, opts)
    sync(root, opts, uv=str(shim))
    log.unlink()
    with (root / "pyproject.toml").open("a") as f:
        f.write('\n[tool.ws.docker]\npython-image = "localhost:5000/python:3.11-slim"\n')
    with (root / "packages/service/pyproject.toml").open("a") as f:
        f.write('\n[tool.ws.docker]\ncommand = ["service"]\n')
    result = sync(root, opts, uv=str(shim))
    assert set(result.members.values()) == {"unchanged"} and result.root == "fresh"
    assert not log.exists() or "lock" not in log.read_text()
    edit(
        root / "pyproject.toml",
        "[tool.ws.docker]",
        "[tool.uv]\nupgrade-package = []\n\n[tool.ws.docker]",
    )
    sync(root, opts, uv=str(shim))
    assert "lock" in log.read_text(), "a change uv reads still re-locks"
    log.unlink()
    sync(root, opts, uv=str(shim))
    assert not log.exists(), "the key of that uv lock was kept, though no member lock moved"


def test_named_members_bring_their_dependents(root: Path, opts: LockOptions) -> None:
    result = sync(root, opts, names=["report"])
    assert sorted(result.members) == ["report", "service"]
    assert not (root / "packages/core/uv.lock").exists()


@pytest.mark.parametrize("staleness", ["missing", "pyproject", "root-disagrees"])
def test_check_reports_each_kind_of_staleness(root: Path, opts, index, staleness: str) -> None:
    sync(root, opts)
    check(root, opts)
    (root / ".ws" / "records.json").unlink()  # check must not trust a cache it did not make
    if staleness == "missing":
        (root / "packages/cli/uv.lock").unlink()
        expected = "packages/cli/uv.lock: missing"
    elif staleness == "pyproject":
        edit(root / "packages/cli/pyproject.toml", '"gamma"', '"gamma", "alpha"')
        expected = "uv.lock: out of date with the workspace's pyproject.toml files"
    else:
        index.add("alpha", "1.1")
        subprocess.run(
            [opts.uv, "lock", "--upgrade-package", "alpha"], cwd=root, env=opts.env, check=True
        )
        expected = "packages/core/uv.lock: out of date with the root lock"
    before = {p: p.read_bytes() for p in root.rglob("uv.lock")}
    with pytest.raises(StaleFiles) as err:
        check(root, opts)
    assert expected in str(err.value)
    assert {p: p.read_bytes() for p in root.rglob("uv.lock")} == before


def test_check_tells_a_failure_of_uv_from_a_stale_lock(
    root: Path, opts: LockOptions, index, tmp_path: Path
) -> None:
    """`uv lock --locked` failing for another reason than staleness (the index unreachable)
    is an error with uv's first error line and its causes, never "out of date"."""
    sync(root, opts)
    edit(root / "packages/cli/pyproject.toml", '"gamma"', '"gamma", "delta"')
    index.close()  # and a cold cache: uv must ask the index
    cold = {**opts.env, "UV_CACHE_DIR": str(tmp_path / "cold"), "UV_HTTP_RETRIES": "0"}
    with pytest.raises(LockError) as err:
        check(root, LockOptions(**{**opts.__dict__, "env": cold}))
    message = err.value.message
    assert "out of date" not in message
    assert f"could not tell whether {root / 'uv.lock'} is up to date:\nerror: " in message
    assert f"127.0.0.1:{index.port}" in message, "the cause under uv's first error"
    assert err.value.fix is not None and "network" in err.value.fix


def test_check_of_a_bad_uv_setting_is_an_error_not_staleness(root: Path, opts) -> None:
    sync(root, opts)
    (root / "uv.toml").write_text('required-version = "~=0.12.0"\n')  # refuses the uv given
    with pytest.raises(LockError) as err:
        check(root, opts)
    assert "error: Required uv version `~=0.12.0` does not match" in err.value.message
    assert "out of date" not in err.value.message


def test_renovate_bump_changes_exactly_the_expected_files(root: Path, opts, index) -> None:
    sync(root, opts)
    repo = init_repo(root)
    repo.commit_all("locked")
    index.add("alpha", "2.0")
    edit(root / "packages/core/pyproject.toml", "alpha>=1.0", "alpha>=2.0")
    sync(root, opts)
    changed = set(repo.git("diff", "--name-only").splitlines())
    assert changed == {
        "packages/core/pyproject.toml",
        "uv.lock",
        "packages/core/uv.lock",
        "packages/report/uv.lock",
        "packages/service/uv.lock",
    }
    for lock in sorted(changed - {"packages/core/pyproject.toml"}):
        diff = repo.git("diff", "-U0", "--", lock)
        removed_added = [
            line
            for line in diff.splitlines()
            if line[:1] in "+-" and not line.startswith(("+++", "---"))
        ]
        assert removed_added, lock
        for line in removed_added:
            # Only alpha's entry and core's own specifier for alpha may move.
            assert "alpha" in line or line[1:].startswith(('version = "1.0"', 'version = "2.0"')), (
                lock,
                line,
            )


def test_a_failing_resolution_names_the_member_and_touches_nothing(root: Path, opts) -> None:
    sync(root, opts)
    before = {p: p.read_bytes() for p in root.rglob("uv.lock")}
    edit(root / "packages/cli/pyproject.toml", '"gamma"', '"gamma>=9"')
    with pytest.raises(LockError) as err:
        sync(root, opts)
    assert "gamma" in str(err.value) and "uv could not lock the workspace" in str(err.value)
    assert {p: p.read_bytes() for p in root.rglob("uv.lock")} == before


def test_a_broken_root_lock_is_one_error_per_cause(root: Path, opts: LockOptions) -> None:
    """Every member is tried once; the members one cause hit are named together."""
    sync(root, opts)
    lock = root / "uv.lock"
    text = lock.read_text()
    start = text.index('[[package]]\nname = "alpha"')
    end = text.index("[[package]]", start + 1)
    lock.write_text(text[:start] + text[end:])
    before = {p: p.read_bytes() for p in root.rglob("uv.lock")}
    with pytest.raises(LockError) as err:
        derive_locks(
            load_workspace(root),
            lockfile.parse_lock_bytes((root / "uv.lock").read_bytes(), root / "uv.lock"),
            ["cli", "core", "report", "service"],
        )
    message = str(err.value)
    assert message.count("needs alpha") == 1, message
    assert "(members: core, report, service)" in message
    assert "fix: re-lock the workspace" in message
    assert "fix:" not in err.value.message and "re-lock the workspace" in (err.value.fix or "")
    assert {p: p.read_bytes() for p in root.rglob("uv.lock")} == before


def test_a_second_run_waits_then_fails_clearly(root: Path, opts: LockOptions) -> None:
    with workspace_lock(root, timeout=1), pytest.raises(Busy, match="another ws run"):
        sync(root, opts)


# Loaded into the ws process under test: the n-th time ws is about to rename a temporary
# file over a lock, it says so (a marker file) and waits to be killed there.
PAUSE_BEFORE_RENAME = """
import os, time
_replace, _seen = os.replace, [0]
def replace(src, dst, *args, **kwargs):
    if str(src).endswith(".tmp") and "uv.lock" in str(dst):
        _seen[0] += 1
        if _seen[0] == int(os.environ["WS_PAUSE_AT"]):
            open(os.environ["WS_PAUSE_MARKER"], "w").close()
            time.sleep(60)
    return _replace(src, dst, *args, **kwargs)
os.replace = replace
"""


def test_a_killed_run_leaves_every_lock_whole(
    root: Path, opts: LockOptions, index, tmp_path: Path
) -> None:
    """Killed when uv starts, and when each member lock's temporary file is written but not
    yet renamed: every lock stays whole, and the next run cleans up and completes."""
    sync(root, opts)
    index.add("alpha", "1.1")
    index.add("gamma", "0.2")
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    (hooks / "sitecustomize.py").write_text(PAUSE_BEFORE_RENAME)
    shim, log = uv_shim(tmp_path, opts)
    code = (
        "import sys; from ws.entry import main; "
        "sys.argv = ['ws', '--root', sys.argv[1], 'sync-locks', '--upgrade']; main()"
    )
    marker = tmp_path / "paused"
    env = {**opts.env, "WS_UV": str(shim), "PYTHONPATH": str(hooks), "WS_PAUSE_MARKER": str(marker)}
    for event in ("uv", 1, 2, 3):
        marker.unlink(missing_ok=True)
        log.unlink(missing_ok=True)
        seen = log if event == "uv" else marker
        proc = subprocess.Popen(
            [sys.executable, "-c", code, str(root)], env={**env, "WS_PAUSE_AT": str(event)}
        )
        deadline = time.monotonic() + 60
        while not seen.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.005)
        assert seen.exists(), f"never reached {event}"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        time.sleep(0.5 if event == "uv" else 0)  # the orphaned uv finishes its own write
        for lock in root.rglob("uv.lock"):
            lockfile.parse_lock_bytes(lock.read_bytes(), lock)  # parses: whole, old or new
    sync(root, opts, upgrade=True)
    check(root, opts)
    assert not [p for p in root.rglob("*.tmp")], "the next run removed what a killed run left"


def test_ctrl_c_during_uv_lock_restores_the_root_lock(
    root: Path, opts: LockOptions, tmp_path: Path
) -> None:
    """uv writes its lock in place: a run interrupted mid-write leaves the old lock."""
    sync(root, opts)
    before = (root / "uv.lock").read_bytes()
    marker = tmp_path / "uv-started"
    shim = tmp_path / "uv-truncating"
    # A uv that, like an interrupted write, leaves half a lock and then hangs.
    shim.write_text(
        f'#!/bin/sh\ncase "$*" in *lock*) head -c 100 uv.lock > uv.lock.half; '
        f'mv uv.lock.half uv.lock; touch {marker}; sleep 60;; esac\nexec {opts.uv} "$@"\n'
    )
    shim.chmod(0o755)
    edit(root / "packages/cli/pyproject.toml", '"gamma"', '"gamma", "alpha"')
    code = (
        "import sys; from ws.entry import main; "
        "sys.argv = ['ws', '--root', sys.argv[1], 'sync-locks']; main()"
    )
    env = {**opts.env, "WS_UV": str(shim)}
    proc = subprocess.Popen(
        [sys.executable, "-c", code, str(root)], env=env, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 30
    while not marker.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert marker.exists(), "ws never ran uv lock"
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 130, stderr
    assert (root / "uv.lock").read_bytes() == before


def vendored(path: str) -> dict:
    """cli, taking `extra` from a wheel at path (relative to cli's folder) instead of the index."""
    return {
        **MEMBERS,
        "cli": {
            "dependencies": ["gamma", "extra"],
            "extra": f'[tool.uv.sources]\nextra = {{ path = "{path}" }}',
        },
    }


def test_path_sources_inside_the_root_are_locked_and_keyed(
    tmp_path: Path, index, opts: LockOptions
) -> None:
    wheel = "vendor/extra-1.0-py3-none-any.whl"
    root = make_workspace(tmp_path / "ws", vendored(f"../../{wheel}"), index_url=index.url)
    write_wheel(root / "vendor", "extra", "1.0")
    sync(root, opts)
    assert pins(root / "packages/cli/uv.lock")["extra"] == "1.0"
    # uv writes path sources relative to the workspace root, as in the root lock
    assert f'source = {{ path = "{wheel}" }}' in (root / "packages/cli/uv.lock").read_text()
    check(root, opts)
    write_wheel(root / "vendor", "extra", "1.0", requires=["alpha"])  # same name, new bytes
    with pytest.raises(StaleFiles) as caught:
        check(root, opts)
    assert f"{root / 'uv.lock'}: out of date" in str(caught.value), "the root key saw the wheel"
    sync(root, opts)
    assert "alpha" in pins(root / "packages/cli/uv.lock"), "the input cache saw the new wheel"


def test_a_path_source_outside_the_root_is_locked_as_uv_locks_it(
    tmp_path: Path, index, opts: LockOptions
) -> None:
    """uv accepts it, so sync-locks does (only an image cannot hold it: see test_generate)."""
    write_wheel(tmp_path / "elsewhere", "extra", "1.0")
    path = "../../../elsewhere/extra-1.0-py3-none-any.whl"
    root = make_workspace(tmp_path / "ws", vendored(path), index_url=index.url)
    sync(root, opts)
    assert pins(root / "packages/cli/uv.lock")["extra"] == "1.0"
    check(root, opts)


@pytest.mark.parametrize("link", ["uv.lock", "packages/core/uv.lock"])
def test_a_lock_that_is_a_symbolic_link_is_refused(
    root: Path, opts: LockOptions, tmp_path: Path, link: str
) -> None:
    """ws writes only regular files inside the root: a committed link is one clear error,
    and the file it points at is never written."""
    sync(root, opts)
    outside = tmp_path / "outside.txt"
    outside.write_text("keep me")
    (root / link).unlink()
    (root / link).symlink_to(outside)
    if link == "uv.lock":  # let the root lock be re-made
        edit(root / "packages/cli/pyproject.toml", '"gamma"', '"gamma", "alpha"')
    with pytest.raises(WsError) as err:
        sync(root, opts)
    assert link in str(err.value) and "link" in str(err.value)
    assert outside.read_text() == "keep me"


def test_a_noop_derives_nothing_but_an_edited_lock_is_made_again(
    root: Path, opts: LockOptions, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run that finds the root and member locks as the last run left them skips the
    derivation; a member lock edited by hand is not as it was left, and is made again."""
    sync(root, opts)
    calls: list[str] = []
    real = member_lock.member_lock
    monkeypatch.setattr(
        member_lock, "member_lock", lambda lock, name: calls.append(name) or real(lock, name)
    )
    assert set(sync(root, opts).members.values()) == {"unchanged"}
    check(root, opts)
    assert calls == []
    path = root / "packages/core/uv.lock"
    good = path.read_bytes()
    path.write_bytes(good.replace(b'version = "1.0"', b'version = "9.9"'))
    with pytest.raises(StaleFiles, match="packages/core/uv.lock: out of date"):
        check(root, opts)
    assert sync(root, opts).members["core"] == "updated"
    assert path.read_bytes() == good


def test_a_huge_pyproject_costs_a_noop_no_tomlkit(root: Path, opts: LockOptions) -> None:
    """A 10 MB pyproject.toml once made a no-op take 24 s in tomlkit: sync-locks reads with
    tomllib and never imports tomlkit."""
    with (root / "packages/cli/pyproject.toml").open("a") as f:
        f.write("\n[tool.padding]\n" + "".join(f'k{i} = "{"x" * 90}"\n' for i in range(100_000)))
    sync(root, opts)
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "ws", "--root", str(root), "sync-locks"],
        env={**opts.env, "WS_UV": opts.uv},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "tomlkit" not in done.stderr and "up to date" in done.stdout

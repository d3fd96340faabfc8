"""The root lock is read once and parsed once a run, and read again only when it changed.

A run used to read and parse the root uv.lock once per part that needed it: loading a workspace
with a dynamic member, the member-lock check, the path sources an image or a change installs,
the lock's own change since a ref. Each part now asks the Workspace's one RootLock.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from ws.errors import ConfigError
from ws.state import digest
from ws.workspace import lockfile, root_lock
from ws.workspace.members import load_workspace
from ws.workspace.root_lock import RootLock

from tests.support.files import make_workspace
from tests.support.gitrepo import init_repo
from tests.support.pyindex import Package
from tests.support.wheels import write_wheel
from tests.test_trust import ws
from tests.test_uv_shapes import dyn_member

WHEEL = "extra-1.0-py3-none-any.whl"
LOCK_HEAD = 'version = 1\nrevision = 3\nrequires-python = ">=3.11"\n'


# ---------------------------------------------------------------- the reader


def test_the_lock_is_read_once_and_again_only_when_it_changed(tmp_path: Path) -> None:
    lock = RootLock(tmp_path)
    assert lock.read() is None
    (tmp_path / "uv.lock").write_text(LOCK_HEAD)
    first = lock.read()
    assert first is not None
    assert first == LOCK_HEAD.encode()
    assert lock.read() is first, "an unchanged file is not read again"
    assert lock.parse(first) is lock.parse(first), "nor parsed again"
    # What a sync that ran while this run waited for the workspace lock leaves: a new file.
    replacement = tmp_path / "uv.lock.new"
    replacement.write_text(LOCK_HEAD + "\n")
    replacement.replace(tmp_path / "uv.lock")
    assert lock.read() == (LOCK_HEAD + "\n").encode()
    # What `uv lock` leaves: the same file written in place, the same size.
    with (tmp_path / "uv.lock").open("r+b") as handle:
        handle.write(LOCK_HEAD.replace("3", "4", 1).encode())
    assert lock.read() == (LOCK_HEAD.replace("3", "4", 1) + "\n").encode()


def test_a_fifo_or_a_link_is_one_clear_error_and_a_missing_lock_none(tmp_path: Path) -> None:
    lock = RootLock(tmp_path)
    with pytest.raises(ConfigError, match=r"(?s)uv\.lock: missing.*fix: run `ws sync-locks`"):
        lock.parsed()
    os.mkfifo(tmp_path / "uv.lock")
    with pytest.raises(ConfigError, match=r"uv\.lock: not a regular file"):
        lock.read()  # never waits on the FIFO
    (tmp_path / "uv.lock").unlink()
    (tmp_path / "elsewhere.lock").write_text(LOCK_HEAD)
    (tmp_path / "uv.lock").symlink_to(tmp_path / "elsewhere.lock")
    with pytest.raises(ConfigError, match=r"uv\.lock: a symbolic link"):
        lock.read()


def test_a_rewrite_in_the_same_clock_tick_is_still_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a file system whose times tick once a second (older kernels tick every few
    milliseconds), `uv lock` can rewrite the lock in place, at its size, within the tick of
    the read before: the times then vouch for nothing, and the file is read again. The
    coarse clock is simulated: this machine's file system keeps nanoseconds."""

    def coarse(status: os.stat_result) -> os.stat_result:
        fields = list(status)
        ns = {k: getattr(status, k) // 10**9 * 10**9 for k in ("st_mtime_ns", "st_ctime_ns")}
        return os.stat_result(fields, {**ns})

    real_stat, real_fstat = os.stat, os.fstat
    monkeypatch.setattr(root_lock.os, "stat", lambda *a, **k: coarse(real_stat(*a, **k)))
    monkeypatch.setattr(root_lock.os, "fstat", lambda fd: coarse(real_fstat(fd)))
    path = tmp_path / "uv.lock"
    path.write_text(LOCK_HEAD + "# pkg 1.2.3\n")
    lock = RootLock(tmp_path)
    assert lock.read() == path.read_bytes()
    with path.open("r+b") as handle:
        handle.write((LOCK_HEAD + "# pkg 1.2.4\n").encode())
    assert lock.read() == (LOCK_HEAD + "# pkg 1.2.4\n").encode()


def test_keys_cannot_be_shifted_between_parts() -> None:
    """A key is of the parts, not of their concatenation: bytes moved from one part to the
    next (a member lock's tail passed off as the next name) make another key."""
    assert digest(["a\0b", ""]) != digest(["a", "b", ""])
    assert digest([b"ab", b"c"]) != digest([b"a", b"bc"])


# ---------------------------------------------------------------- once a run


@pytest.fixture
def dynamic_with_source(
    tmp_path: Path, pyindex_factory, uv_bin: str, uv_env: dict[str, str]
) -> Iterator[tuple[Path, Callable[..., None], dict[str, str]]]:
    """A workspace whose dyn member takes its version and dependencies from a backend (so
    loading it reads the root lock) and whose core installs a vendored wheel through a path
    source (so what a change affects reads it too), locked by the real uv, committed."""
    index = pyindex_factory([Package("alpha", "1.0"), Package("gamma", "0.1")])
    root = tmp_path / "ws"
    source = f'[tool.uv.sources]\nextra = {{ path = "../../vendor/{WHEEL}" }}\n'
    make_workspace(
        root, {"core": {"dependencies": ["alpha", "extra"], "extra": source}}, index_url=index.url
    )
    write_wheel(root / "vendor", "extra", "1.0")
    dyn_member(root)
    env = {**uv_env, "WS_UV": uv_bin, "XDG_CACHE_HOME": str(tmp_path / "cache")}

    def uv(*args: str) -> None:
        subprocess.run([uv_bin, *args], cwd=root, env=uv_env, check=True, capture_output=True)

    repo = init_repo(root)
    repo.commit_all("dynamic")
    repo.git("tag", "v2.5.0")
    uv("lock")
    repo.commit_all("locked")
    index.add("gamma", "0.2")
    yield root, uv, env


def _parses_of_the_lock(root: Path, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Records each parse of the lock file's present text (not git's older one)."""
    parses: list[int] = []
    real = lockfile.parse_lock

    def counted(text: str, path: Path) -> lockfile.Lock:
        if text.encode() == (root / "uv.lock").read_bytes():
            parses.append(1)
        return real(text, path)

    monkeypatch.setattr(lockfile, "parse_lock", counted)
    return parses


def test_ws_affected_parses_the_root_lock_once(
    dynamic_with_source, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Loading dyn, the path sources each member installs and the lock's change since HEAD
    each read the lock: three parses of the same bytes before, one now."""
    root, uv, env = dynamic_with_source
    uv("lock", "--upgrade-package", "gamma")
    parses = _parses_of_the_lock(root, monkeypatch)
    result = ws(root, env, "affected", "--since", "HEAD")
    assert result.exit_code == 0, result.output
    assert result.output.split() == ["dyn"]
    assert len(parses) == 1


def test_ws_check_parses_the_root_lock_once(
    dynamic_with_source, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Loading dyn and checking the member locks read the lock: twice before, once now."""
    root, _, env = dynamic_with_source
    assert ws(root, env, "sync-locks").exit_code == 0
    (root / ".ws").rename(root / ".ws-aside")  # no record: the check parses the lock
    parses = _parses_of_the_lock(root, monkeypatch)
    result = ws(root, env, "check")
    assert result.exit_code == 0, result.output
    assert len(parses) == 1
    # No Docker setting here: the check says what it checked, not what it could not.
    assert "no [tool.ws.docker]: no Docker files or pins to check" in result.output
    assert [d.name for d in load_workspace(root).members["dyn"].dependencies] == ["core"]

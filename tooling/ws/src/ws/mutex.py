"""One ws run at a time per workspace: an advisory lock under <root>/.ws/."""

from __future__ import annotations

import contextlib
import fcntl
import os
import stat
import time
from collections.abc import Iterator
from pathlib import Path

from ws.errors import Busy, WsError
from ws.fsio import open_parent
from ws.state import state_dir

_LOCK_FLAGS = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


@contextlib.contextmanager
def lock_if_possible(root: Path, *, timeout: float, writable: bool = True) -> Iterator[None]:
    """The workspace lock for a run that writes no repository file (a check): held when .ws
    can hold it; without it when .ws cannot be made (a read-only checkout, a .ws that is a
    link) or is not ws's to write (writable: git tracks it), since such a run changes
    nothing another could see half done."""
    if writable:
        try:
            state_dir(root)
        except WsError:
            writable = False
    with workspace_lock(root, timeout=timeout, writable=writable):
        yield


@contextlib.contextmanager
def workspace_lock(root: Path, *, timeout: float, writable: bool = True) -> Iterator[None]:
    """Hold the workspace's lock; wait up to timeout seconds for another run to finish.
    Not writable (.ws is the repository's: git tracks it): no lock, and nothing written."""
    if not writable:
        yield
        return
    path = state_dir(root) / "lock"
    fd = _open_lock(root, path)
    try:
        _acquire(fd, path, timeout)
        with contextlib.suppress(OSError):  # the pid is a courtesy: a full disk may refuse it
            os.ftruncate(fd, 0)
            os.pwrite(fd, str(os.getpid()).encode(), 0)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _open_lock(root: Path, path: Path) -> int:
    """The lock file, opened without following a link and only if it is a regular file."""
    try:
        with open_parent(path, root) as parent:
            fd = os.open(path.name, _LOCK_FLAGS, 0o666, dir_fd=parent)
    except OSError as e:
        raise WsError(
            f"cannot open the workspace lock {path}: {e.strerror or e}",
            fix=f"{path} must be a regular file (not a link): remove it and run again",
        ) from e
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise WsError(
            f"the workspace lock {path} is not a regular file", fix="remove it and run again"
        )
    return fd


def _acquire(fd: int, path: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise Busy(
                    _busy_message(fd, path),
                    fix="wait for it to finish, or pass --wait SECONDS to wait longer",
                ) from None
            time.sleep(0.1)


def _busy_message(fd: int, path: Path) -> str:
    holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    if not holder.isdigit():
        holder = "unknown"
    return f"another ws run (pid {holder}) is working on this workspace ({path})"

"""One ws run at a time per workspace: an advisory lock under <root>/.ws/."""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Iterator
from pathlib import Path

from ws.errors import Busy

STATE_DIR = ".ws"


def state_dir(root: Path) -> Path:
    """<root>/.ws, created with a .gitignore that keeps it out of git."""
    path = root / STATE_DIR
    path.mkdir(exist_ok=True)
    ignore = path / ".gitignore"
    if not ignore.exists():
        ignore.write_text("# ws's local state; never committed\n*\n", encoding="utf-8")
    return path


@contextlib.contextmanager
def workspace_lock(root: Path, *, timeout: float) -> Iterator[None]:
    """Hold the workspace's lock; wait up to timeout seconds for another run to finish."""
    path = state_dir(root) / "lock"
    with path.open("a+", encoding="utf-8") as handle:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise Busy(_busy_message(path)) from None
                time.sleep(0.1)
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _busy_message(path: Path) -> str:
    holder = path.read_text(encoding="utf-8").strip() or "unknown"
    return (
        f"another ws run (pid {holder}) is working on this workspace ({path})\n"
        "  fix: wait for it to finish, or pass --wait SECONDS to wait longer"
    )

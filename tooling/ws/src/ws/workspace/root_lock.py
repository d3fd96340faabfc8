"""The root uv.lock of one run: read once, parsed once, read again only when the file changed.

Every command that needs the root lock (a dynamic member's edges, the path sources an image
installs, the member locks, what a change affects) asks the run's one RootLock, which the
Workspace carries. The file is read again only when it is no longer the file read (another
inode, size or time: `uv lock` rewrote it, or a sync that held the workspace lock while this
run waited for it did), so a command that takes the workspace lock after loading the
workspace still judges the bytes that are there once it holds it.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import TYPE_CHECKING

from ws.errors import ConfigError

if TYPE_CHECKING:
    from ws.workspace.lockfile import Lock

NAME = "uv.lock"
# What identifies one version of the file without reading it again.
_Signature = tuple[int, int, int, int]


def _signature(status: os.stat_result) -> _Signature:
    return (status.st_ino, status.st_size, status.st_mtime_ns, status.st_ctime_ns)


class RootLock:
    """The workspace's uv.lock as this run read it (through a link, as uv reads it)."""

    def __init__(self, root: Path) -> None:
        self.path = root / NAME
        self._read: tuple[_Signature, bytes] | None = None  # what was read, and when
        self._parsed: tuple[bytes, Lock] | None = None

    def read(self) -> bytes | None:
        """The lock's bytes as they are now; None when there is no lock (or no regular file:
        a FIFO there would hang the read). The file is read again only if it changed."""
        try:
            now = os.stat(self.path)
        except OSError:
            return None
        if not stat.S_ISREG(now.st_mode):
            return None
        if self._read is not None and self._read[0] == _signature(now):
            return self._read[1]
        try:
            with self.path.open("rb") as handle:
                # The signature of what was opened, taken before reading: a write meanwhile
                # changes the file's times, so the next read() reads it again.
                before = _signature(os.fstat(handle.fileno()))
                data = handle.read()
        except FileNotFoundError:
            return None
        except OSError as e:
            raise ConfigError(self.path, f"cannot read: {e.strerror or e}", fix=_fix()) from e
        self._read = (before, data)
        return data

    def parse(self, data: bytes) -> Lock:
        """data (bytes read() gave) read as a lock: a ConfigError naming the line and the
        field where they are not what uv writes. Parsed once for the same bytes."""
        if self._parsed is not None and self._parsed[0] is data:
            return self._parsed[1]
        from ws.workspace.lockfile import parse_lock_bytes  # only where a lock is read

        lock = parse_lock_bytes(data, self.path)
        self._parsed = (data, lock)
        return lock

    def parsed(self, *, fix: str | None = None) -> Lock:
        """The lock as it is now, parsed; a ConfigError with fix (or `ws sync-locks`'s) when
        there is none."""
        data = self.read()
        if data is None:
            raise ConfigError(
                self.path, "missing", fix=fix or "run `ws sync-locks` (it runs `uv lock`)"
            )
        return self.parse(data)


def _fix() -> str:
    return "make uv.lock a readable file (`uv lock` writes it again)"

"""The root uv.lock of one run: read once, parsed once, read again only when the file changed.

Every command that needs the root lock (a dynamic member's edges, the path sources an image
installs, the member locks, what a change affects) asks the run's one RootLock, which the
Workspace carries. The file is read again when it is no longer the file read (another inode,
size or time: `uv lock` rewrote it, or a sync that held the workspace lock while this run
waited for it did), so a command that takes the workspace lock after loading the workspace
still judges the bytes that are there once it holds it.

A file's times tell a rewrite apart only when it falls in a later tick of the file system's
clock (1-10 ms on older Linux kernels, 1-2 s on some mounts). As git does with its index, a
read made while the file was that young proves nothing of a later one: the file is read
again, and the bytes compared.
"""

from __future__ import annotations

import errno
import os
import stat
import time
from pathlib import Path
from typing import TYPE_CHECKING

from ws.errors import ConfigError

if TYPE_CHECKING:
    from ws.workspace.lockfile import Lock

NAME = "uv.lock"
# How much older than a read the file's last change must be for its times to vouch that a
# later change would show: the coarsest clock of a file system ws may run on (FAT's 2 s).
RACY_NS = 2_000_000_000
_FIX = "make uv.lock a regular file (`uv lock` writes it again)"
# What identifies one version of the file without reading it again.
_Signature = tuple[int, int, int, int]


def _signature(status: os.stat_result) -> _Signature:
    return (status.st_ino, status.st_size, status.st_mtime_ns, status.st_ctime_ns)


class RootLock:
    """The workspace's uv.lock as this run read it: a regular file, never through a link."""

    def __init__(self, root: Path) -> None:
        self.path = root / NAME
        self._bytes: bytes | None = None  # what was read last
        self._known: _Signature | None = None  # its signature, when its times vouch for it
        self._parsed: tuple[bytes, Lock] | None = None

    def read(self) -> bytes | None:
        """The lock's bytes as they are now; None when there is none. The file is read again
        unless its signature is the one read and its times could show a change since."""
        try:
            now = os.stat(self.path, follow_symlinks=False)
        except FileNotFoundError:
            return None
        except OSError as e:
            raise ConfigError(self.path, f"cannot read: {e.strerror or e}", fix=_FIX) from e
        if self._known is not None and self._known == _signature(now):
            return self._bytes
        self._known, data = self._open_and_read()
        if data != self._bytes:
            self._bytes = data
        return self._bytes  # the same object for the same bytes: their parse holds

    def _open_and_read(self) -> tuple[_Signature | None, bytes]:
        """The bytes, and the signature they may be known by again (None: the file was too
        young for its times to show a later change)."""
        started = time.time_ns()
        flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
        try:
            fd = os.open(self.path, flags)
        except OSError as e:
            raise self._unreadable(e) from e
        with open(fd, "rb") as handle:
            status = os.fstat(fd)
            if not stat.S_ISREG(status.st_mode):  # a FIFO is never waited on
                raise ConfigError(self.path, "not a regular file", fix=_FIX)
            data = handle.read()
        young = max(status.st_mtime_ns, status.st_ctime_ns) > started - RACY_NS
        return (None if young else _signature(status)), data

    def _unreadable(self, error: OSError) -> ConfigError:
        if error.errno == errno.ELOOP:
            problem = "a symbolic link: ws reads the root lock only as a regular file"
            return ConfigError(self.path, problem, fix="replace the link with the file")
        return ConfigError(self.path, f"cannot read: {error.strerror or error}", fix=_FIX)

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

"""Real file systems for failure tests: a small tmpfs, made read-only or filled to the brim."""

from __future__ import annotations

import contextlib
import errno
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest


def _mount(*args: str) -> None:
    done = subprocess.run(["mount", *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"cannot mount here (needs root): {done.stderr.strip()}")


@contextlib.contextmanager
def tmpfs(path: Path, *, size: str = "2m") -> Iterator[Path]:
    """A fresh tmpfs of size mounted on path (created) while open; unmounted afterwards."""
    path.mkdir(parents=True, exist_ok=True)
    _mount("-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(path))
    try:
        yield path
    finally:
        subprocess.run(["umount", "--lazy", str(path)], check=True)


def make_read_only(path: Path) -> None:
    """Remount the tmpfs on path read-only: every write below fails with EROFS."""
    _mount("-o", "remount,ro", str(path))


def fill(path: Path) -> None:
    """Fill the file system holding path until it has no byte left (ENOSPC)."""
    chunk = b"\0" * 4096
    fd = os.open(path / ".filler", os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        while True:
            os.write(fd, chunk)
    except OSError as e:
        if e.errno != errno.ENOSPC:
            raise
    finally:
        os.close(fd)
    # A few bytes may remain in a partial page: take them too.
    with contextlib.suppress(OSError), open(path / ".filler", "ab", buffering=0) as handle:
        while handle.write(b"\0"):
            pass

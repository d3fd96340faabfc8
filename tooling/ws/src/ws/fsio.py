"""Atomic file writes: a reader sees the old file or the new one, never half of either."""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from pathlib import Path

from ws.errors import WsError


def atomic_write_text(path: Path, text: str, *, encoding: str = "utf-8") -> None:
    """Replace path's contents with text, exactly as given (no newline translation)."""
    atomic_write_bytes(path, text.encode(encoding))


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write data beside path, fsync it, then rename it over path.

    An existing file keeps its permission bits (a symlink's target is the file written);
    a new file gets the usual mode under the umask. On any failure the temporary file is
    removed, path is untouched, and a WsError names the file and the reason.
    """
    target = Path(os.path.realpath(path))
    temp = target.with_name(f".{target.name}.{secrets.token_hex(6)}.tmp")
    try:
        mode = _existing_mode(target)
        _write_new(temp, data, mode)
        os.replace(temp, target)
        _fsync_directory(target.parent)
    except OSError as e:
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()
        raise WsError(f"cannot write {path}: {e.strerror or e}") from e


def _existing_mode(path: Path) -> int | None:
    try:
        return stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        return None


def _write_new(temp: Path, data: bytes, mode: int | None) -> None:
    # O_EXCL: never write through somebody else's file; 0o666 lets the umask decide.
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    with open(fd, "wb") as f:
        f.write(data)
        f.flush()
        if mode is not None:
            os.fchmod(f.fileno(), mode)
        os.fsync(f.fileno())


def _fsync_directory(directory: Path) -> None:
    """Make the rename itself durable; not every filesystem allows this, which is fine."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)

"""Safe writes: a reader sees the old file or the new one, never half of either, and ws
writes only regular files, never through a symbolic link."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import re
import stat
from collections.abc import Iterator
from pathlib import Path

from ws.errors import WsError

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_TEMP_SUFFIX = ".tmp"
_TEMP_NAME = re.compile(r"\..+\.[0-9a-f]{12}\.tmp")  # what _write_and_rename names them
_FIXES = {
    errno.ENOSPC: "free some disk space and run again",
    errno.EDQUOT: "free some disk space (you are over quota) and run again",
    errno.EROFS: "the file system is mounted read-only: run ws where the workspace is writable",
    errno.EACCES: "make the folder writable for this user",
    errno.EPERM: "the file or its folder may be immutable or owned by another user",
}


def atomic_write_text(
    path: Path, text: str, *, encoding: str = "utf-8", root: Path | None = None
) -> None:
    """Replace path's contents with text, exactly as given (no newline translation)."""
    atomic_write_bytes(path, text.encode(encoding), root=root)


def atomic_write_bytes(path: Path, data: bytes, *, root: Path | None = None) -> None:
    """Write data beside path, fsync it, then rename it over path.

    path must be a regular file or missing: a symbolic link there (dangling or not) is
    refused, never written through nor replaced. With root, every folder from root down to
    path's is opened without following links, so a folder that is (or becomes) a link
    cannot send the write outside root. An existing file keeps its permission bits; a new
    one gets the usual mode under the umask. Temporary files a killed run left beside path
    are removed first. On failure the temporary file is removed, path is untouched, and a
    WsError names the file, the reason and the fix.
    """
    try:
        with open_parent(path, root) as parent:
            _refuse_non_regular(path, parent)
            _remove_stale_temps(parent, path.name)
            _write_and_rename(parent, path.name, data)
    except OSError as e:
        raise write_error(path, e) from e


def read_regular(path: Path, *, root: Path | None = None) -> bytes:
    """The bytes of path, a regular file reached without following a link (below root, when
    given, as atomic_write_bytes walks): what ws reads to send elsewhere, such as a
    Dockerfile, cannot be /etc/shadow behind a link. A link, a FIFO or a folder there is a
    WsError; FileNotFoundError and other OSErrors pass to the caller."""
    with open_parent(path, root) as parent:
        flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
        try:
            fd = os.open(path.name, flags, dir_fd=parent)
        except OSError as e:
            if e.errno == errno.ELOOP:
                raise WsError(
                    f"refusing to read {path}: it is a symbolic link; ws reads only regular "
                    "files here, so nothing from outside the workspace is sent on",
                    fix=f"replace {path} with a regular file (git rm the link)",
                ) from e
            raise
    with open(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise WsError(f"refusing to read {path}: it is not a regular file")
        return handle.read()


def refuse_links(path: Path, *, root: Path | None = None) -> None:
    """A WsError unless path is a regular file or missing, reached (below root, when given)
    without a link: for files another program writes in place, such as `uv lock`'s uv.lock."""
    try:
        with open_parent(path, root) as parent:
            _refuse_non_regular(path, parent)
    except OSError as e:
        raise write_error(path, e) from e


def write_error(path: Path, error: OSError) -> WsError:
    """The WsError for a failed write of path: the reason and, where known, the fix."""
    return WsError(
        f"cannot write {path}: {error.strerror or error}", fix=_FIXES.get(error.errno or 0)
    )


@contextlib.contextmanager
def open_parent(path: Path, root: Path | None) -> Iterator[int]:
    """A file descriptor of path's folder, opened from root one folder at a time without
    following links (a link on the way is a WsError); without root, opened as named."""
    if root is None:
        fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    else:
        fd = _walk_down(root, _parts_below(path, root)[:-1], path)
    try:
        yield fd
    finally:
        os.close(fd)


def _parts_below(path: Path, root: Path) -> list[str]:
    rel = os.path.relpath(os.path.abspath(path), os.path.abspath(root))
    parts = Path(rel).parts
    if not parts or parts[0] == ".." or rel == ".":
        raise WsError(
            f"refusing {path}: it is not inside the workspace {root}",
            fix="this is a bug in ws or a hostile path; report it",
        )
    return list(parts)


def _walk_down(root: Path, folders: list[str], path: Path) -> int:
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for depth, name in enumerate(folders):
            try:
                child = os.open(name, _DIR_FLAGS, dir_fd=fd)
            except OSError as e:
                if e.errno in (errno.ELOOP, errno.ENOTDIR):
                    where = root.joinpath(*folders[: depth + 1])
                    raise WsError(
                        f"refusing {path}: {where} is a symbolic link or not a folder; ws "
                        "never goes through a link, so nothing outside the workspace is "
                        "read or written",
                        fix=f"replace {where} with a regular folder (git rm the link), "
                        "then run again",
                    ) from e
                raise
            os.close(fd)
            fd = child
    except BaseException:
        os.close(fd)
        raise
    return fd


def _refuse_non_regular(path: Path, parent: int) -> None:
    try:
        st = os.stat(path.name, dir_fd=parent, follow_symlinks=False)
    except FileNotFoundError:
        return
    if stat.S_ISLNK(st.st_mode):
        target = os.readlink(path.name, dir_fd=parent)
        raise _link_refused(path, f"is a symbolic link (to {target!r})")
    if not stat.S_ISREG(st.st_mode):
        raise WsError(
            f"cannot write {path}: it exists and is not a regular file",
            fix="move it away; ws writes only regular files",
        )


def _link_refused(path: Path, what: str) -> WsError:
    return WsError(
        f"refusing to write {path}: it {what}; ws never writes through a link, "
        "so nothing lands outside the workspace",
        fix=f"replace {path} with a regular file (git rm the link), then run again",
    )


def _locked_temp(parent: int, name: str) -> tuple[str, int]:
    """A new temporary file beside name, locked: the lock tells a later run that it is still
    in use. Another run's clean-up may remove it between its creation and the lock (it is
    then unlinked: no link left), so a new one is made until the lock holds a linked file."""
    # O_EXCL and O_NOFOLLOW: never write through somebody else's file; 0o666 lets the
    # umask decide.
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    while True:
        temp = f".{name}.{os.urandom(6).hex()}{_TEMP_SUFFIX}"  # secrets costs an import
        fd = os.open(temp, flags, 0o666, dir_fd=parent)
        fcntl.flock(fd, fcntl.LOCK_EX)
        if os.fstat(fd).st_nlink > 0:
            return temp, fd
        os.close(fd)


def _write_and_rename(parent: int, name: str, data: bytes) -> None:
    mode = _existing_mode(parent, name)
    temp, fd = _locked_temp(parent, name)
    try:
        with open(fd, "wb", closefd=False) as f:
            f.write(data)
            f.flush()
        if mode is not None:
            os.fchmod(fd, mode)
        os.fsync(fd)
        os.replace(temp, name, src_dir_fd=parent, dst_dir_fd=parent)
    except BaseException:
        _unlink_quietly(temp, parent)
        raise
    finally:
        os.close(fd)
    _fsync(parent)


def _existing_mode(parent: int, name: str) -> int | None:
    try:
        return stat.S_IMODE(os.stat(name, dir_fd=parent, follow_symlinks=False).st_mode)
    except FileNotFoundError:
        return None


def remove_abandoned(folder: Path) -> list[str]:
    """Remove the temporary files killed ws runs left in folder (those no live writer holds);
    the names removed. A run calls this for the folders it writes in, even when it ends up
    writing nothing there."""
    removed = []
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return removed
    try:
        for entry in os.listdir(fd):
            if _TEMP_NAME.fullmatch(entry) and _remove_if_abandoned(fd, entry):
                removed.append(entry)
    finally:
        os.close(fd)
    return removed


def _remove_stale_temps(parent: int, name: str) -> None:
    """Remove .<name>.*.tmp files beside name whose writer is gone (their lock is free)."""
    prefix = f".{name}."
    for entry in os.listdir(parent):
        if entry.startswith(prefix) and entry.endswith(_TEMP_SUFFIX):
            _remove_if_abandoned(parent, entry)


def _remove_if_abandoned(parent: int, entry: str) -> bool:
    try:
        flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
        fd = os.open(entry, flags, dir_fd=parent)
    except OSError:
        return False
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return False
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.unlink(entry, dir_fd=parent)
    except OSError:
        return False  # a live writer holds it, or the folder refuses: leave it
    finally:
        os.close(fd)
    return True


def _unlink_quietly(name: str, parent: int) -> None:
    # Cleanup must not hide the first error: a read-only or full file system fails here too.
    with contextlib.suppress(OSError):
        os.unlink(name, dir_fd=parent)


def _fsync(fd: int) -> None:
    """Make the rename itself durable; not every filesystem allows this, which is fine."""
    with contextlib.suppress(OSError):
        os.fsync(fd)

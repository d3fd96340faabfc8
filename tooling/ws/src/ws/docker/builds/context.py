"""Build contexts: stream the files git holds and a .dockerignore keeps into a deterministic tar.

Folders are walked through file descriptors (each opened below its parent without following
links), so a folder swapped for a link during the walk cannot pull files from outside the
root into the tar. Credential files (ws.docker.builds.credentials) and hard links stay out always.
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import stat
import tarfile
import tempfile
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO

from ws.docker.builds.credentials import credential_reason
from ws.docker.generate.dockerignore import DockerIgnore, MatchInfo
from ws.errors import WsError
from ws.git import held_files

__all__ = ["ContextReport", "DockerIgnore", "Skipped", "context_tar", "write_context"]

_SPECIAL_KINDS = {
    stat.S_IFIFO: "a named pipe (FIFO)",
    stat.S_IFSOCK: "a socket",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
}
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


@dataclass(frozen=True)
class Skipped:
    """An entry that the .dockerignore keeps but ws left out of the context, and why."""

    path: str
    reason: str


@dataclass
class ContextReport:
    """What went into a context tar: regular files and their bytes, links, dirs, skips."""

    files: int = 0
    bytes: int = 0
    symlinks: int = 0
    directories: int = 0
    members: list[str] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)


@dataclass
class _Writer:
    root: Path
    real_root: str
    ignore: DockerIgnore
    tar: tarfile.TarFile
    mtime: int | None
    reserved: frozenset[str]
    held: _Held
    report: ContextReport = field(default_factory=ContextReport)
    # Excluded directories walked for exceptions; written only once something below is kept.
    pending: list[tuple[str, os.stat_result]] = field(default_factory=list)

    def header(self, name: str, kind: bytes, st: os.stat_result | None) -> tarfile.TarInfo:
        info = tarfile.TarInfo(name)
        info.type = kind
        # The classic builder's COPY cache key (tarsum v1) hashes uid, gid, uname, gname
        # and mode but not mtime: fixed owners keep the cache independent of who checked out.
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        info.mode = stat.S_IMODE(st.st_mode) if st else 0o644
        disk_mtime = int(st.st_mtime) if st else 0
        info.mtime = self.mtime if self.mtime is not None else disk_mtime
        return info

    def flush_pending(self) -> None:
        for name, st in self.pending:
            self.add_directory(name, st)
        self.pending.clear()

    def add_directory(self, name: str, st: os.stat_result) -> None:
        self.tar.addfile(self.header(name, tarfile.DIRTYPE, st))
        self.report.directories += 1
        self.report.members.append(name)

    def skip(self, name: str, reason: str) -> None:
        self.report.skipped.append(Skipped(name, reason))

    def walk(self, fd: int, rel: str, parent: MatchInfo | None, excluded_dir: bool = False) -> None:
        for name, st in self.listing(fd, rel, excluded_dir):
            path = f"{rel}/{name}" if rel else name
            if not self.held.holds(path, directory=stat.S_ISDIR(st.st_mode)):
                continue
            excluded, info = self.ignore.match(path, parent)
            if stat.S_ISDIR(st.st_mode):
                self.visit_directory(fd, name, path, st, (excluded, info))
            elif not excluded:
                self.add_entry(fd, name, path, st)

    def listing(self, fd: int, rel: str, excluded_dir: bool) -> list[tuple[str, os.stat_result]]:
        try:
            with os.scandir(fd) as entries:
                found = [(e.name, e.stat(follow_symlinks=False)) for e in entries]
        except OSError as e:
            if excluded_dir:
                # BuildKit, too, passes over an excluded directory it cannot read.
                self.skip(rel, f"excluded directory not searched for exceptions ({e.strerror})")
                return []
            raise _unlistable(self.root / rel, e) from e
        # Go's filepath.Walk order (bytewise) is what Docker sends; code points sort the same.
        return sorted(found, key=lambda item: item[0])

    def visit_directory(
        self, fd: int, name: str, path: str, st: os.stat_result, match: tuple[bool, MatchInfo]
    ) -> None:
        excluded, info = match
        if excluded and not self.ignore.may_include_below(path):
            return
        with self.open_directory(fd, name, path, excluded) as child:
            if child is None:
                return
            if not excluded:
                self.flush_pending()
                self.add_directory(path, st)
                self.walk(child, path, info)
                return
            self.pending.append((path, st))
            self.walk(child, path, info, excluded_dir=True)
            if self.pending and self.pending[-1][0] == path:
                self.pending.pop()

    @contextlib.contextmanager
    def open_directory(self, fd: int, name: str, path: str, excluded: bool) -> Iterator[int | None]:
        """The folder name below fd, never through a link: None (and a skip) if it changed."""
        try:
            child = os.open(name, _DIR_FLAGS, dir_fd=fd)
        except OSError as e:
            if e.errno in (errno.ELOOP, errno.ENOTDIR, errno.ENOENT):
                self.skip(path, "changed while the context was written")
            elif excluded:
                self.skip(path, f"excluded directory not searched for exceptions ({e.strerror})")
            else:
                raise _unlistable(self.root / path, e) from e
            yield None
            return
        try:
            yield child
        finally:
            os.close(child)

    def add_entry(self, fd: int, name: str, path: str, st: os.stat_result) -> None:
        secret = credential_reason(path)
        if path in self.reserved:
            self.skip(path, "replaced by the generated Dockerfile")
        elif secret:
            self.skip(path, f"{secret}; ws never sends credentials to a build")
        elif stat.S_ISLNK(st.st_mode):
            self.add_symlink(fd, name, path, st)
        elif stat.S_ISREG(st.st_mode):
            self.add_file(fd, name, path)
        else:
            kind = _SPECIAL_KINDS.get(stat.S_IFMT(st.st_mode), "not a regular file")
            self.skip(path, f"{kind}; only files, directories and symlinks are sent")

    def add_symlink(self, fd: int, name: str, path: str, st: os.stat_result) -> None:
        try:
            target = os.readlink(name, dir_fd=fd)
        except OSError:
            self.skip(path, "changed while the context was written")
            return
        # Only the link itself is sent; this decides whether its target is inside the root.
        resolved = os.path.realpath(self.root / path)
        if os.path.commonpath([resolved, self.real_root]) != self.real_root:
            self.skip(path, f"symlink to {target!r} resolves outside the context")
            return
        info = self.header(path, tarfile.SYMTYPE, st)
        info.linkname = target
        self.flush_pending()
        self.tar.addfile(info)
        self.report.symlinks += 1
        self.report.members.append(path)

    def add_file(self, fd: int, name: str, path: str) -> None:
        full = self.root / path
        try:
            # O_NOFOLLOW and the fstat check refuse a file swapped for a link or FIFO since
            # the listing; O_NONBLOCK keeps such a FIFO from hanging the open.
            file_fd = os.open(name, _FILE_FLAGS, dir_fd=fd)
        except OSError as e:
            if e.errno == errno.ELOOP:
                self.skip(path, "changed while the context was written")
                return
            raise _unreadable(full, e) from e
        with os.fdopen(file_fd, "rb") as handle:
            st = os.fstat(file_fd)
            if not stat.S_ISREG(st.st_mode):
                self.skip(path, "changed while the context was written")
                return
            if st.st_nlink > 1:
                self.skip(path, _HARD_LINK.format(st.st_nlink))
                return
            info = self.header(path, tarfile.REGTYPE, st)
            info.size = st.st_size
            self.flush_pending()
            try:
                self.tar.addfile(info, handle)
            except OSError as e:
                raise _unreadable(full, e) from e
        self.report.files += 1
        self.report.bytes += st.st_size
        self.report.members.append(path)


_HARD_LINK = (
    "a hard link ({} names): its other names may be outside the workspace, so it stays "
    "out; copy it into a file of its own to send it"
)


@dataclass(frozen=True)
class _Held:
    """What may enter: the files git holds and the folders above them (None: everything)."""

    files: frozenset[str] | None
    folders: frozenset[str] = frozenset()

    @classmethod
    def of(cls, files: Collection[str] | None) -> _Held:
        if files is None:
            return cls(None)
        folders: set[str] = set()
        for path in files:  # string slicing: a checkout holds tens of thousands of files
            end = path.rfind("/")
            while end > 0 and path[:end] not in folders:
                folders.add(path[:end])  # and its parents next, unless a sibling added them
                end = path.rfind("/", 0, end)
        return cls(frozenset(files), frozenset(folders))

    def holds(self, path: str, *, directory: bool) -> bool:
        if self.files is None:
            return True
        return path in (self.folders if directory else self.files)


def _unlistable(directory: Path, error: OSError) -> WsError:
    return WsError(
        f"{directory}: cannot list the build context directory ({error.strerror})",
        fix="make it readable, or exclude it in .dockerignore",
    )


def _unreadable(path: Path, error: OSError) -> WsError:
    reason = error.strerror or str(error)
    return WsError(
        f"{path}: cannot read it into the build context ({reason})",
        fix="make it readable and leave it unchanged during the build, "
        "or exclude it in .dockerignore",
    )


def _dockerfile_name(name: str) -> str:
    clean = PurePosixPath(name)
    if clean.is_absolute() or not clean.parts or ".." in clean.parts or "\\" in name:
        raise WsError(
            f"Dockerfile name {name!r} must be a relative path inside the context",
            fix="use a name such as 'Dockerfile' or 'docker/app.Dockerfile'",
        )
    return str(clean)


def write_context(
    root: Path,
    ignore: DockerIgnore,
    fileobj: IO[bytes],
    *,
    dockerfile: tuple[str, bytes] | None = None,
    mtime: int | None = None,
    held: Collection[str] | None = None,
) -> ContextReport:
    """Write the context under root, minus what ignore excludes, as a tar to fileobj.

    held, when given, are the only files that may enter (paths relative to root; the
    folders above them come along); None lets in every file on disk. Credential files and
    hard links stay out either way. Entries come in Go's walk order with owner 0:0 and their
    own mode; mtime None keeps each file's time, an int stamps every entry with it.
    dockerfile (name, content) is added last, whatever the .dockerignore says, as Docker
    always sends the Dockerfile.
    """
    real_root = os.path.realpath(root)
    name = _dockerfile_name(dockerfile[0]) if dockerfile else None
    reserved = frozenset([name] if name else [])
    try:
        root_fd = os.open(real_root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as e:
        raise WsError(f"{root}: the build context is not a directory ({e.strerror})") from e
    try:
        with tarfile.open(fileobj=fileobj, mode="w|", format=tarfile.PAX_FORMAT) as tar:
            writer = _Writer(
                Path(real_root), real_root, ignore, tar, mtime, reserved, _Held.of(held)
            )
            writer.walk(root_fd, "", None)
            if dockerfile and name:
                _add_bytes(writer, name, dockerfile[1])
    finally:
        os.close(root_fd)
    return writer.report


def _add_bytes(writer: _Writer, name: str, content: bytes) -> None:
    info = writer.header(name, tarfile.REGTYPE, None)
    info.size = len(content)
    writer.tar.addfile(info, io.BytesIO(content))
    writer.report.files += 1
    writer.report.bytes += len(content)
    writer.report.members.append(name)


def context_tar(
    root: Path,
    ignore: DockerIgnore,
    *,
    dockerfile: tuple[str, bytes] | None = None,
    mtime: int | None = None,
    tmpdir: Path | None = None,
    held: Collection[str] | None = None,
) -> tuple[IO[bytes], ContextReport]:
    """The context of the files git holds under root (tracked, or untracked and not
    ignored; held, when the caller has listed them already), as a rewound temporary file
    to send as a build's body. The caller closes it; closing deletes it."""
    held = held_files(root) if held is None else held
    handle = tempfile.TemporaryFile(dir=tmpdir)
    try:
        report = write_context(root, ignore, handle, dockerfile=dockerfile, mtime=mtime, held=held)
    except BaseException:
        handle.close()
        raise
    handle.seek(0)
    return handle, report

"""Build contexts: stream the files a .dockerignore keeps into a deterministic tar."""

from __future__ import annotations

import io
import os
import stat
import tarfile
import tempfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO

from ws.docker.dockerignore import DockerIgnore, MatchInfo
from ws.errors import WsError

__all__ = ["ContextReport", "DockerIgnore", "Skipped", "context_tar", "write_context"]

_SPECIAL_KINDS = {
    stat.S_IFIFO: "a named pipe (FIFO)",
    stat.S_IFSOCK: "a socket",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
}


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

    def walk(self, rel: str, parent: MatchInfo | None, excluded_dir: bool = False) -> None:
        for name, st in self.listing(rel, excluded_dir):
            path = f"{rel}/{name}" if rel else name
            excluded, info = self.ignore.match(path, parent)
            if stat.S_ISDIR(st.st_mode):
                self.visit_directory(path, st, excluded, info)
            elif not excluded:
                self.add_entry(path, st)

    def listing(self, rel: str, excluded_dir: bool) -> list[tuple[str, os.stat_result]]:
        directory = self.root / rel
        try:
            with os.scandir(directory) as entries:
                found = [(e.name, e.stat(follow_symlinks=False)) for e in entries]
        except OSError as e:
            if excluded_dir:
                # BuildKit, too, passes over an excluded directory it cannot read.
                self.skip(rel, f"excluded directory not searched for exceptions ({e.strerror})")
                return []
            raise WsError(
                f"{directory}: cannot list the build context directory ({e.strerror})\n"
                "  fix: make it readable, or exclude it in .dockerignore"
            ) from e
        # Go's filepath.Walk order (bytewise) is what Docker sends; code points sort the same.
        return sorted(found, key=lambda item: item[0])

    def visit_directory(
        self, path: str, st: os.stat_result, excluded: bool, info: MatchInfo
    ) -> None:
        if not excluded:
            self.flush_pending()
            self.add_directory(path, st)
            self.walk(path, info)
            return
        if not self.ignore.may_include_below(path):
            return
        self.pending.append((path, st))
        self.walk(path, info, excluded_dir=True)
        if self.pending and self.pending[-1][0] == path:
            self.pending.pop()

    def add_entry(self, path: str, st: os.stat_result) -> None:
        if path in self.reserved:
            self.skip(path, "replaced by the generated Dockerfile")
        elif stat.S_ISLNK(st.st_mode):
            self.add_symlink(path, st)
        elif stat.S_ISREG(st.st_mode):
            self.add_file(path)
        else:
            kind = _SPECIAL_KINDS.get(stat.S_IFMT(st.st_mode), "not a regular file")
            self.skip(path, f"{kind}; only files, directories and symlinks are sent")

    def add_symlink(self, path: str, st: os.stat_result) -> None:
        full = self.root / path
        target = os.readlink(full)
        resolved = os.path.realpath(full)
        if os.path.commonpath([resolved, self.real_root]) != self.real_root:
            self.skip(path, f"symlink to {target!r} resolves outside the context")
            return
        info = self.header(path, tarfile.SYMTYPE, st)
        info.linkname = target
        self.flush_pending()
        self.tar.addfile(info)
        self.report.symlinks += 1
        self.report.members.append(path)

    def add_file(self, path: str) -> None:
        full = self.root / path
        try:
            # O_NOFOLLOW and the fstat check refuse a file swapped for a link or FIFO since
            # the listing; O_NONBLOCK keeps such a FIFO from hanging the open.
            fd = os.open(full, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError as e:
            raise _unreadable(full, e) from e
        with os.fdopen(fd, "rb") as handle:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                self.skip(path, "changed while the context was written")
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


def _unreadable(path: Path, error: OSError) -> WsError:
    reason = error.strerror or str(error)
    return WsError(
        f"{path}: cannot read it into the build context ({reason})\n"
        "  fix: make it readable and leave it unchanged during the build, "
        "or exclude it in .dockerignore"
    )


def _dockerfile_name(name: str) -> str:
    clean = PurePosixPath(name)
    if clean.is_absolute() or not clean.parts or ".." in clean.parts or "\\" in name:
        raise WsError(
            f"Dockerfile name {name!r} must be a relative path inside the context\n"
            "  fix: use a name such as 'Dockerfile' or 'docker/app.Dockerfile'"
        )
    return str(clean)


def write_context(
    root: Path,
    ignore: DockerIgnore,
    fileobj: IO[bytes],
    *,
    dockerfile: tuple[str, bytes] | None = None,
    mtime: int | None = None,
) -> ContextReport:
    """Write the context under root, minus what ignore excludes, as a tar to fileobj.

    Entries come in Go's walk order with owner 0:0 and their own mode; mtime None keeps
    each file's time, an int stamps every entry with it. dockerfile (name, content) is
    added last, whatever the .dockerignore says, as Docker always sends the Dockerfile.
    """
    if not root.is_dir():
        raise WsError(f"{root}: the build context is not a directory")
    real_root = os.path.realpath(root)
    name = _dockerfile_name(dockerfile[0]) if dockerfile else None
    reserved = frozenset([name] if name else [])
    with tarfile.open(fileobj=fileobj, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        writer = _Writer(Path(real_root), real_root, ignore, tar, mtime, reserved)
        writer.walk("", None)
        if dockerfile and name:
            _add_bytes(writer, name, dockerfile[1])
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
) -> tuple[IO[bytes], ContextReport]:
    """The context as a rewound temporary file, for docker-py's build(fileobj=...,
    custom_context=True). The caller closes it; closing deletes it."""
    handle = tempfile.TemporaryFile(dir=tmpdir)
    try:
        report = write_context(root, ignore, handle, dockerfile=dockerfile, mtime=mtime)
    except BaseException:
        handle.close()
        raise
    handle.seek(0)
    return handle, report

"""The generated Docker files of a workspace: compute them, write the changed ones, check them."""

from __future__ import annotations

import errno
import os
import posixpath
import stat
from collections.abc import Collection, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ws.docker.generate import freshness
from ws.docker.generate.buildfiles import BuildFile, build_files
from ws.docker.generate.config import DockerConfig, RootConfig, is_root_project
from ws.docker.generate.dockerignore import DockerIgnore
from ws.docker.generate.gitversion import version_overrides
from ws.docker.generate.render import (
    DOCKERFILE,
    DOCKERIGNORE,
    HEADER,
    PYPROJECT,
    ROOT_IGNORE,
    ImageInputs,
    beside,
    covered,
    dockerfile_path,
    generated_paths,
    member_ignore_patterns,
    render_dockerfile,
    render_dockerignore,
    render_pyproject,
)
from ws.errors import ConfigError
from ws.fsio import atomic_write_text
from ws.locks.sync import member_lock_path
from ws.state import Records, no_records, regular_bytes
from ws.workspace.graph import closure, workspace_closure
from ws.workspace.lockfile import Lock
from ws.workspace.members import Member, Workspace
from ws.workspace.sources import installed_sources, sources_lock

if TYPE_CHECKING:
    import networkx as nx

GENERATED_NAMES = (DOCKERFILE, DOCKERIGNORE, PYPROJECT)
# Root files besides pyproject.toml that steer uv; .python-version is not among them
# because the image sets UV_PYTHON to its own interpreter.
ROOT_UV_FILES = ("uv.toml",)


def select_images(ws: Workspace, config: DockerConfig, names: Iterable[str] | None) -> list[str]:
    """The image members named (any spelling), or all of them; an error for a library."""
    if not names:
        return sorted(config.images)
    selected = []
    for raw in names:
        member = ws.member(raw)
        if member.name not in config.images and is_root_project(member):
            raise ConfigError(
                member.pyproject,
                f"the root project {member.name} has no image: its [tool.ws.docker] table "
                "holds only the workspace-wide settings",
                fix='add command = ["..."] to the root\'s [tool.ws.docker] to give it one',
            )
        if member.name not in config.images:
            raise ConfigError(
                member.pyproject,
                f"{member.name} has no [tool.ws.docker] table, so it gets no image",
                fix='add [tool.ws.docker] with command = ["..."] to opt it in',
            )
        selected.append(member.name)
    return sorted(set(selected))


def plan_images(ws: Workspace, config: DockerConfig, names: Iterable[str]) -> list[ImageInputs]:
    """Each named image's inputs, from the members' own edges (no graph, no networkx)."""
    names = sorted(names)
    lock = sources_lock(ws) if names else None
    return [image_inputs(ws, config, n, workspace_closure(ws, n), lock) for n in names]


def image_inputs(
    ws: Workspace,
    config: DockerConfig,
    name: str,
    names: Collection[str],
    root_lock: Lock | None,
) -> ImageInputs:
    """What name's generated files are made from; names: its closure; root_lock: as
    ws.workspace.sources.sources_lock reads it, for the path sources name installs."""
    root = _root(ws, config)
    member = ws.members[name]
    members = [ws.members[n] for n in sorted(names)]
    folders = tuple(sorted(m.rel.as_posix() for m in members if not is_root_project(m)))
    root_files = tuple(f for f in ROOT_UV_FILES if (ws.root / f).is_file())
    local_paths = installed_sources(ws, root_lock, name, config.images[name].extras)
    lock = member_lock_path(ws, name).relative_to(ws.root).as_posix()
    return ImageInputs(
        name=name,
        rel=member.rel.as_posix(),
        version=member.version,
        closure=folders,
        root=root,
        image=config.images[name],
        lock=lock,
        root_files=root_files,
        local_paths=local_paths,
        build_files=_build_files(ws, config, members, folders, (*root_files, *local_paths)),
        version_env=tuple(sorted({v for m in members for v in version_overrides(m)})),
        git_version=bool(version_overrides(member)),
    )


def _build_files(
    ws: Workspace,
    config: DockerConfig,
    members: list[Member],
    folders: tuple[str, ...],
    copied: tuple[str, ...],
) -> tuple[str, ...]:
    """What the closure's builds read outside the member folders the builder stage copies,
    each path once: none already copied, none inside another."""
    found: dict[str, BuildFile] = {}
    for member in members:
        for entry in build_files(ws.root, member, config.build_files.get(member.name, ())):
            found.setdefault(entry.path, entry)
    for entry in found.values():
        _check_clash(entry, folders)
    paths = [p for p in found if not covered(p, folders) and not covered(p, copied)]
    return tuple(sorted(p for p in paths if not covered(p, [q for q in paths if q != p])))


def _check_clash(entry: BuildFile, folders: tuple[str, ...]) -> None:
    """A build file may not land where the image keeps its own files or another copy goes."""
    inner = [f for f in folders if f.startswith(entry.path + "/")]
    if entry.path in ("pyproject.toml", "uv.lock") or inner:
        target = f"the member {inner[0]}" if inner else f"the image's own /app/{entry.path}"
        raise ConfigError(
            entry.pyproject,
            f"`{entry.key}` names {entry.path}, and copying it would overwrite {target}",
            fix="name the files the build reads one by one under [tool.ws.docker] build-files",
        )


def generated_files(
    ws: Workspace,
    graph: nx.DiGraph | None,
    config: DockerConfig,
    names: Collection[str] | None = None,
) -> dict[str, str]:
    """Root-relative path -> text of every file ws generates for the selected image members.

    The graph is needed only when there is an image member.
    """
    if not config.images:
        return {}
    if graph is None:
        raise ValueError("image members need the workspace graph")
    lock = sources_lock(ws)
    selected = select_images(ws, config, names)
    return image_files(
        ws, graph, [image_inputs(ws, config, n, closure(graph, n), lock) for n in selected]
    )


def image_files(
    ws: Workspace, graph: nx.DiGraph | None, images: Sequence[ImageInputs]
) -> dict[str, str]:
    """Root-relative path -> text of the files ws generates for these images (planned:
    plan_images), each rendered once."""
    files: dict[str, str] = {}
    for inputs in images:
        if graph is None:
            raise ValueError("image members need the workspace graph")
        files.update(_member_files(ws, graph, inputs))
    return dict(sorted(files.items()))


def _member_files(ws: Workspace, graph: nx.DiGraph, inputs: ImageInputs) -> dict[str, str]:
    from ws.docker.generate.root_pyproject import isolated_root_pyproject, root_project_pyproject

    _check_includes(inputs)
    ignore = render_dockerignore(inputs)
    names = closure(graph, inputs.name)
    if any(is_root_project(ws.members[n]) for n in names):
        pyproject = root_project_pyproject(ws, names)
    else:
        pyproject = isolated_root_pyproject(ws, names)
    return {
        inputs.dockerfile: render_dockerfile(inputs),
        inputs.ignore_file: ignore,
        inputs.pyproject: render_pyproject(pyproject),
    }


def _check_includes(inputs: ImageInputs) -> None:
    """Refuse an include that the whitelist's own deny list keeps out (its patterns as data,
    not the rendered file read back)."""
    ignore = DockerIgnore(member_ignore_patterns(inputs), source=inputs.ignore_file)
    for i, path in enumerate(inputs.image.include):
        if ignore.excluded(beside(inputs.rel, path)):
            raise ConfigError(
                inputs.image.pyproject,
                f"`tool.ws.docker.include[{i}]` = {path!r} is a file no image may hold "
                "(a secret, a cache or a local environment)",
                fix="remove it from include; pass secrets at run time instead",
            )


def _root(ws: Workspace, config: DockerConfig) -> RootConfig:
    if config.root is None:
        raise ConfigError(
            ws.pyproject,
            "`tool.ws.docker` is missing",
            fix='add python-image = "..." and uv-image = "..." under [tool.ws.docker]',
        )
    return config.root


def orphaned_files(ws: Workspace, config: DockerConfig) -> list[str]:
    """Files ws generated where no image's files go now: beside members that no longer ask
    for an image (or the root project's, now placed elsewhere by `dockerfile`), and the root
    .dockerignore when ws wrote it (it no longer does; a user's own is never read further)."""
    wanted = {
        path
        for name, image in config.images.items()
        for path in generated_paths(dockerfile_path(ws.members[name].rel.as_posix(), image))
    }
    folders = sorted({m.rel.as_posix() for m in ws.members.values()} | {"."})
    candidates = [beside(folder, name) for folder in folders for name in GENERATED_NAMES]
    candidates.append(ROOT_IGNORE)
    return sorted(p for p in candidates if p not in wanted and _is_generated(ws.root / p))


# What frees the root for a user's own Dockerfile (or its .dockerignore).
PLACE_FIX = (
    "give the root project's image files a home of their own: set dockerfile = "
    '"docker/app.Dockerfile" (any path under the root) in the root pyproject.toml\'s '
    "[tool.ws.docker]; ws leaves your file alone"
)


_MAKE_ROOM = "move it away or delete it: `ws docker generate` makes it from [tool.ws.docker]"
# What frees a member's folder for a Dockerfile of its own.
MEMBER_PLACE_FIX = (
    'give the image\'s files a name of their own: set dockerfile = "ws.Dockerfile" (a path '
    "in the member's folder) in its [tool.ws.docker]; ws leaves your file alone"
)


def _not_ours_fix(rel: str) -> str:
    """The fix for a user's file where ws would write one: the `dockerfile` setting of the
    root project (at the root) or of the member (in its folder); elsewhere, making room."""
    if rel in GENERATED_NAMES:
        return PLACE_FIX
    if posixpath.basename(rel) in GENERATED_NAMES:
        return MEMBER_PLACE_FIX
    return _MAKE_ROOM


def write_generated(root: Path, files: Mapping[str, str], remove: Iterable[str] = ()) -> list[str]:
    """Write each file whose text differs (atomically) and delete remove; what changed.

    A file in the way that ws did not write is never overwritten: nothing is written then.
    """
    for rel in files:
        path = root / rel
        if path.exists() and not _is_generated(path):
            raise ConfigError(path, "exists and was not generated by ws", fix=_not_ours_fix(rel))
    changed = []
    for rel, text in files.items():
        if _read(root / rel) != text:
            atomic_write_text(root / rel, text, root=root)
            changed.append(rel)
    for rel in remove:
        (root / rel).unlink(missing_ok=True)
        changed.append(rel)
    return changed


def stale_generated(
    root: Path,
    files: Mapping[str, str],
    orphans: Iterable[str] = (),
    read: Mapping[str, bytes | None] | None = None,
) -> list[str]:
    """One line per generated file that is missing, edited by hand or out of date. read: the
    files' bytes as the caller read them (freshness.read_files), which its records key on."""
    if read is None:
        read = {rel: regular_bytes(root / rel) for rel in files}
    problems = []
    for rel, text in files.items():
        current = _text(root / rel, read[rel])
        if current is None:
            problems.append(f"{rel}: missing")
        elif not current.startswith(HEADER):
            fix = _not_ours_fix(rel)
            mine = f" ({fix})" if fix != _MAKE_ROOM else ""
            problems.append(
                f"{rel}: not generated by ws (its first line is not the ws header){mine}"
            )
        elif current != text:
            problems.append(f"{rel}: out of date or edited by hand")
    problems += [f"{rel}: {_left_over(rel)}" for rel in orphans]
    return problems


def _left_over(rel: str) -> str:
    if rel == ROOT_IGNORE:
        return "left over: ws no longer writes a root .dockerignore"
    return "left over from a member without [tool.ws.docker]"


def check_generated(
    ws: Workspace,
    config: DockerConfig,
    images: Sequence[ImageInputs] | None = None,
    records: Records | None = None,
) -> list[str]:
    """stale_generated for images' files (None: every image member's and the files ws
    generated that no member asks for any more), rendering only what the digests
    recorded in .ws do not vouch for, and recording what then matches."""
    records = records if records is not None else no_records(ws.root)
    every = images is None
    orphans = orphaned_files(ws, config) if every else []
    planned = plan_images(ws, config, config.images) if images is None else list(images)
    current = freshness.read_files(ws.root, planned)
    if every:
        if not orphans and (not planned or freshness.all_current(ws, planned, records, current)):
            return []
        checked = planned
    else:
        checked = freshness.unrecorded(ws, planned, records, current)
        if not checked:
            return []
    from ws.workspace.graph import build_graph  # networkx only to render

    rendered = image_files(ws, build_graph(ws), checked)
    found = stale_generated(ws.root, rendered, orphans, current)
    if not found:
        freshness.record(ws, checked, records, current, every=every)
    return found


def _read(path: Path) -> str | None:
    try:
        # Bytes, not read_text: newline translation would hide a CRLF edit.
        return path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        return None
    except UnicodeDecodeError:
        return ""
    except OSError as e:
        raise ConfigError(path, f"cannot read: {e.strerror or e}") from e


def _text(path: Path, data: bytes | None) -> str | None:
    """A generated file's bytes as read (None: no regular file there) as text: None when it
    is missing, "" when it cannot be ws's (a link, a FIFO, bytes that are not UTF-8)."""
    if data is None:
        return "" if path.exists() or path.is_symlink() else None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return ""


def _is_generated(path: Path) -> bool:
    """Whether path is a regular file starting with ws's header. Only the header is read, and
    a link or a FIFO is not ws's: a user's file there (a root .dockerignore linked to their
    .gitignore) is neither followed nor waited on."""
    header = HEADER.encode()
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        return False
    except OSError as e:
        if e.errno == errno.ELOOP:
            return False
        raise ConfigError(path, f"cannot read: {e.strerror or e}") from e
    with open(fd, "rb") as handle:
        return stat.S_ISREG(os.fstat(fd).st_mode) and handle.read(len(header)) == header

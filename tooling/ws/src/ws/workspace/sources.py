"""Path sources: the local wheels and folders, outside the members, that locks depend on.

uv reads every declared one when it locks (local_sources); an image installs, and mounts,
only those its member's part of the root lock holds for it (installed_sources).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from ws.errors import ConfigError
from ws.workspace.members import Workspace, is_workspace_source

if TYPE_CHECKING:
    from ws.workspace.lockfile import Entry, Lock


@dataclass(frozen=True)
class LocalSource:
    package: str
    rel: PurePosixPath  # relative to the workspace root, as the copies and images hold it
    declared_in: Path  # the pyproject.toml whose [tool.uv.sources] names it


def local_sources(ws: Workspace, members: Iterable[str]) -> list[LocalSource]:
    """The `path` sources of the root and of the given members, each checked to lie inside
    the root: the isolated copies and the images keep the layout relative to it."""
    found: dict[PurePosixPath, LocalSource] = {}
    tables = [(ws.pyproject, ws.data)]
    tables += [(ws.members[n].pyproject, ws.members[n].data) for n in sorted(members)]
    for pyproject, data in tables:
        for package, source in _sources(data).items():
            for path in _paths(source):
                entry = _locate(ws.root, pyproject, package, path)
                found.setdefault(entry.rel, entry)
    return [found[rel] for rel in sorted(found)]


def declares_path_sources(ws: Workspace) -> bool:
    """Whether the root or any member names a `path` source (unchecked: a cheap test)."""
    tables = [ws.data, *(m.data for m in ws.members.values())]
    return any(declared_paths(data) for data in tables)


def sources_lock(ws: Workspace) -> Lock | None:
    """The root lock, which tells which path sources each member installs; None when no
    pyproject names a path source (then no member installs one, and no lock is needed)."""
    if not declares_path_sources(ws):
        return None
    data = ws.lock.read()
    if data is None:
        raise ConfigError(
            ws.lock.path,
            "missing: ws reads in it which path sources each image installs",
            fix="run `ws sync-locks` (it runs `uv lock`), then generate again",
        )
    return ws.lock.parse(data)


def installed_sources(
    ws: Workspace, lock: Lock | None, name: str, extras: Collection[str] = ()
) -> tuple[str, ...]:
    """The path sources (relative to the root, sorted) that an image of member name installs
    with these extras of its own (`uv sync --no-dev --package name --extra ...`), from its
    part of the root lock: those of its closure, and the ones they need in turn."""
    if lock is None:
        return ()
    from ws.workspace.member_lock import path_sources  # only with a lock to read

    entries = path_sources(lock, name, extras, groups=False)
    return tuple(sorted({_installed(ws.root, lock, name, e) for e in entries}))


def _installed(root: Path, lock: Lock, name: str, entry: Entry) -> str:
    """entry's path, checked to lie inside the root: an image holds nothing outside it."""
    path = entry.local_path or ""
    rel = PurePosixPath(path)
    where = f"{name} installs {entry.name} from {path!r}"
    if rel.is_absolute() or ".." in rel.parts:
        raise ConfigError(
            lock.path,
            f"{where}, outside the workspace root {root}",
            fix="move it under the workspace root: an image is built from the root and "
            "holds nothing outside it",
        )
    if not (root / rel).exists():
        raise ConfigError(
            lock.path,
            f"{where}, which does not exist",
            fix="fix the path source or add the file, then run `ws sync-locks`",
        )
    return rel.as_posix()


def declared_paths(data: dict[str, Any]) -> list[str]:
    """The `path` values of a pyproject's [tool.uv.sources], as written."""
    return [path for source in _sources(data).values() for path in _paths(source)]


def _sources(data: dict[str, Any]) -> dict[str, Any]:
    sources = data.get("tool", {}).get("uv", {}).get("sources", {})
    return sources if isinstance(sources, dict) else {}


def _paths(source: Any) -> list[str]:
    if is_workspace_source(source):
        return []
    entries = source if isinstance(source, list) else [source]
    return [e["path"] for e in entries if isinstance(e, dict) and isinstance(e.get("path"), str)]


def _locate(root: Path, pyproject: Path, package: str, path: str) -> LocalSource:
    where = f"[tool.uv.sources] {package} = {{ path = {path!r} }}"
    target = (pyproject.parent / path).resolve()
    try:
        rel = target.relative_to(root.resolve())
    except ValueError:
        raise ConfigError(
            pyproject,
            f"{where} lies outside the workspace root {root}",
            fix="move it under the workspace root: ws locks and builds each member from a "
            "copy of the root that keeps paths relative to it",
        ) from None
    if not target.exists():
        raise ConfigError(pyproject, f"{where} does not exist", fix="fix the path or add the file")
    return LocalSource(package, PurePosixPath(rel.as_posix()), pyproject)

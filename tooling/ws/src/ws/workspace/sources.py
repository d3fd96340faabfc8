"""Path sources: the local wheels and folders, outside the members, that locks depend on."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from ws.errors import ConfigError
from ws.workspace.members import Workspace, is_workspace_source


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
        sources = data.get("tool", {}).get("uv", {}).get("sources", {})
        for package, source in sources.items() if isinstance(sources, dict) else ():
            for path in _paths(source):
                entry = _locate(ws.root, pyproject, package, path)
                found.setdefault(entry.rel, entry)
    return [found[rel] for rel in sorted(found)]


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


def fingerprint(root: Path, source: LocalSource) -> bytes:
    """What a lock depends on: a wheel's or archive's bytes, a folder's build metadata."""
    path = root / source.rel
    if path.is_file():
        return hashlib.sha256(path.read_bytes()).digest()
    parts = [path / "pyproject.toml", path / "setup.py", path / "setup.cfg"]
    return hashlib.sha256(b"".join(p.read_bytes() for p in parts if p.is_file())).digest()

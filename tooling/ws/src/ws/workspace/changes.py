"""Which files changed since a git ref, and which members they touch."""

from __future__ import annotations

import posixpath
from pathlib import Path, PurePosixPath
from typing import Any, NamedTuple

import networkx as nx

from ws.errors import WsError
from ws.git import changed_since, text_at, verify_commit
from ws.uv import ROOT_SETTINGS_FILES
from ws.workspace.graph import dependents
from ws.workspace.lockfile import Lock, parse_lock
from ws.workspace.member_lock import member_lock, path_sources
from ws.workspace.members import Member, Workspace, is_workspace_source, requirement_names
from ws.workspace.root_lock import NAME
from ws.workspace.sources import sources_lock

# Files at the root whose change touches every member: what uv reads there to resolve and
# install. The root lock is not one of them: it is compared member lock by member lock.
WORKSPACE_WIDE = frozenset({"pyproject.toml", *ROOT_SETTINGS_FILES})
ROOT_LOCK = NAME  # the root lock, as git names it
_EVERY = "every member counts as affected"


class Affected(NamedTuple):
    changed: set[str]  # members a changed file touches, or whose member lock changed
    affected: set[str]  # those and every member installing one touched by a file
    notes: tuple[str, ...] = ()  # why every member counts, when the lock could not tell


def changed_files(root: Path, ref: str) -> set[str]:
    """Paths (relative to root) changed since ref: committed, staged, unstaged or untracked."""
    verify_commit(root, ref)
    return changed_since(root, ref)


def affected(ws: Workspace, graph: nx.DiGraph, ref: str) -> Affected:
    """The members changed since ref, and everything installing them.

    A member whose derived member lock changed, or installs (by it) a path source a changed
    file lies in, counts without its dependents: their own member locks hold what they
    install, and are compared too."""
    files = changed_files(ws.root, ref)
    member_locks = _member_locks(ws)
    # The locks are no member's files: the root lock is compared member lock by member
    # lock, and a changed member lock says what its own member installs changed.
    others = files - {ROOT_LOCK, *member_locks}
    lock = _sources_lock(ws)
    touched = touched_members(ws, others, lock)
    by_lock: set[str] = set()
    notes: tuple[str, ...] = ()
    if ROOT_LOCK in files and touched != set(ws.members):
        by_lock, notes = lock_changes(ws, ref)
    by_lock |= {member_locks[f] for f in files if f in member_locks}
    exact = by_lock | installing(ws, others, lock)
    return Affected(touched | exact, dependents(graph, touched) | exact, notes)


def _member_locks(ws: Workspace) -> dict[str, str]:
    """Each member lock's path (relative to the root, as git names it) -> its member."""
    from ws.locks.sync import member_lock_path  # where ws sync-locks writes them

    return {member_lock_path(ws, name).relative_to(ws.root).as_posix(): name for name in ws.members}


def touched_members(ws: Workspace, files: set[str], lock: Lock | None = None) -> set[str]:
    """The members owning any of files, or whose build reads one of them from outside their
    folder (a version file, a shared readme), or a path source they declare when the root
    lock (lock) cannot say who installs it; every member when a workspace-wide file changed."""
    if files & WORKSPACE_WIDE:
        return set(ws.members)
    from ws.docker.generate.buildfiles import under  # only for affected

    inputs = _outside_inputs(ws, lock)
    touched = {n for n, paths in inputs.items() if any(under(f, p) for f in files for p in paths)}
    return touched | _owners(ws, files)


def installing(ws: Workspace, files: set[str], lock: Lock | None) -> set[str]:
    """The members whose part of the root lock installs a path source (or what one needs
    from a path) that one of files lies in: its extras and groups too, as its member lock."""
    from ws.docker.generate.buildfiles import under  # only for affected

    if lock is None or not files:
        return set()
    found = set()
    for name in ws.members:
        try:
            entries = path_sources(lock, name)
        except WsError:
            continue  # not in the lock (a stale one): its declarations count instead
        paths = {posixpath.normpath(e.local_path or "") for e in entries}
        if any(under(f, p) for f in files for p in paths):
            found.add(name)
    return found


def _outside_inputs(ws: Workspace, lock: Lock | None) -> dict[str, list[str]]:
    """member -> the files outside its folder its build reads, as ws docker copies them,
    and the path sources it declares when the root lock does not hold it."""
    from ws.docker.generate.buildfiles import build_files  # only for affected

    found: dict[str, list[str]] = {}
    for member in ws.members.values():
        try:
            declared = _declared_build_files(member)
            found[member.name] = [f.path for f in build_files(ws.root, member, declared)]
        except WsError:
            found[member.name] = []  # a broken setting: ws docker generate reports it
        if lock is None or lock.member(member.name) is None:
            found[member.name] += declared_sources(ws, member)
    return found


def _sources_lock(ws: Workspace) -> Lock | None:
    """The root lock, when a path source is declared and it can be read."""
    try:
        return sources_lock(ws)
    except WsError:
        return None  # no lock, or a broken one: the declarations tell instead


def _declared_build_files(member: Member) -> list[str]:
    """The member's `build-files`, relative to the root (what config validates, unchecked)."""
    from ws.docker.generate.config import docker_table, workspace_path

    raw = (docker_table(member.data, member.pyproject) or {}).get("build-files", [])
    paths = [workspace_path(member.rel, r) for r in raw if isinstance(r, str)]
    return [p for p in paths if p is not None] if isinstance(raw, list) else []


def declared_sources(ws: Workspace, member: Member) -> list[str]:
    """The declared `path` sources (relative to the root) of the packages member requires,
    from its [tool.uv.sources] or else the root's, as uv applies them. Every source counts for a
    member whose requirements a build backend computes; paths outside the root are left
    out (git reports no change there)."""
    origin = PurePosixPath(".")
    sources = {name: (origin, s) for name, s in _sources(ws.data).items()}
    sources |= {name: (member.rel, s) for name, s in _sources(member.data).items()}
    wanted = None if member.dynamic_edges else requirement_names(member)
    found: list[str] = []
    for name, (base, source) in sorted(sources.items()):
        if wanted is None or name in wanted:
            found += [p for p in _paths(ws.root, base, source) if p not in found]
    return found


def _sources(data: dict[str, Any]) -> dict[str, Any]:
    """[tool.uv.sources] of a pyproject (load_workspace checked it is a table)."""
    from packaging.utils import canonicalize_name

    tool = data.get("tool")
    uv = tool.get("uv") if isinstance(tool, dict) else None
    sources = uv.get("sources") if isinstance(uv, dict) else None
    return {canonicalize_name(k): v for k, v in (sources or {}).items()}


def _paths(root: Path, base: PurePosixPath, source: Any) -> list[str]:
    """The paths of a source's `path` entries (any marker), relative to root."""
    if is_workspace_source(source):
        return []
    entries = source if isinstance(source, list) else [source]
    found = []
    for entry in entries:
        path = entry.get("path") if isinstance(entry, dict) else None
        if not isinstance(path, str):
            continue
        # lexically, as git names the files: a link would take the path elsewhere
        rel = posixpath.normpath(posixpath.join(base.as_posix(), path))
        if posixpath.isabs(rel) and PurePosixPath(rel).is_relative_to(root.as_posix()):
            rel = PurePosixPath(rel).relative_to(root.as_posix()).as_posix()
        if not posixpath.isabs(rel) and rel != ".." and not rel.startswith("../"):
            found.append(rel)
    return found


def _owners(ws: Workspace, files: set[str]) -> set[str]:
    owners = sorted(
        ((m.rel, m.name) for m in ws.members.values()), key=lambda o: len(o[0].parts), reverse=True
    )
    touched: set[str] = set()
    for path in files:
        pure = PurePosixPath(path)
        for rel, name in owners:
            if rel == PurePosixPath(".") or rel in pure.parents or rel == pure:
                touched.add(name)
                break
    return touched


# ---------------------------------------------------------------- the root lock


def lock_changes(ws: Workspace, ref: str) -> tuple[set[str], tuple[str, ...]]:
    """The members whose member lock, derived from the root lock, differs between ref and
    now; every member, with the reason, when either root lock cannot be read. Line endings
    are read as universal newlines on both sides: they change nothing a member installs."""
    every = set(ws.members)
    before = text_at(ws.root, ref, ROOT_LOCK)
    if before is None:
        return every, (f"the root {ROOT_LOCK} does not exist at {ref}: {_EVERY}",)
    try:
        old = _parse(before, Path(ROOT_LOCK))
    except WsError as e:
        return every, (f"cannot read the root {ROOT_LOCK} at {ref} ({e.message}): {_EVERY}",)
    data = ws.lock.read()
    if data is None:
        return every, (f"the root {ROOT_LOCK} no longer exists: {_EVERY}",)
    try:
        new = ws.lock.parse(data)
    except WsError as e:
        return every, (f"cannot read the root {ROOT_LOCK} ({e.message}): {_EVERY}",)
    return {name for name in ws.members if _differs(old, new, name)}, ()


def _parse(text: str, path: Path) -> Lock:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as e:  # surrogates stand for bytes that are not UTF-8
        raise WsError(f"{path}: not UTF-8 text") from e
    return parse_lock(text, path)


def _differs(old: Lock, new: Lock, name: str) -> bool:
    """Whether name's member lock changed; a lock that cannot give one counts as changed."""
    before = _member(old, name)
    return before is None or before != _member(new, name)


def _member(lock: Lock, name: str) -> bytes | None:
    """name's member lock, its line endings as "\n" (git's side is read as universal
    newlines, the checkout's as it is)."""
    try:
        return member_lock(lock, name).replace(b"\r\n", b"\n")
    except WsError:
        return None

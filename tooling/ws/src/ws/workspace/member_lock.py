"""A member's lock: the part of the root lock it can install, cut from the root lock's bytes
and proven by reading it back.

A member lock is the subgraph of the root lock that the member can install: its own
dependencies, extras and groups, and of every package it reaches only the extras it asks
for. Kept entries stay the root lock's bytes, with two trims uv needs to read the result:
members other than the target lose their dependency groups, and an entry loses the extras
it was not asked for that name packages left out.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ws.errors import ConfigError, LockError
from ws.workspace.lockfile import (
    RELOCK_FIX,
    ROOT_ONLY_MANIFEST,
    ROOT_ONLY_MANIFEST_TABLES,
    Entry,
    Lock,
    Ref,
    Section,
    read_blocks,
    restore_fix,
)


def resolve(lock: Lock, ref: Ref, needed_by: Entry) -> list[Entry]:
    """The entries a dependency names; uv narrows by version and source only when ambiguous."""
    found = [
        e
        for e in lock.by_name(ref.name)
        if (ref.version is None or e.version == ref.version)
        and (ref.source is None or e.source == ref.source)
    ]
    if not found:
        raise LockError(
            f"{lock.path}: {needed_by.label} needs {ref.name}, which the lock has no entry for",
            fix=RELOCK_FIX,
        )
    return found


# An edge of the lock's graph: the entry a dependency resolves to, and the extras it asks.
Edge = tuple[int, tuple[str, ...]]


@dataclass(frozen=True)
class _Edges:
    """An entry's dependencies resolved to entry indexes: its own, each extra's, its groups'."""

    dependencies: tuple[Edge, ...]
    extras: Mapping[str, tuple[Edge, ...]]
    groups: tuple[Edge, ...]


def _edges(lock: Lock, entry: Entry) -> _Edges:
    """entry's dependencies resolved once for every member lock (a missing one raises when
    an entry that needs it is reached, not before)."""
    key = ("edges", entry.index)
    if key not in lock.memo:

        def resolved(refs: tuple[Ref, ...]) -> tuple[Edge, ...]:
            return tuple((d.index, r.extras) for r in refs for d in resolve(lock, r, entry))

        grouped = tuple(r for refs in entry.groups.values() for r in refs)
        lock.memo[key] = _Edges(
            resolved(entry.dependencies),
            {x: resolved(refs) for x, refs in entry.extras.items()},
            resolved(grouped),
        )
    return lock.memo[key]


def reach(
    lock: Lock, target: Entry, extras: Collection[str] | None = None, *, groups: bool = True
) -> dict[int, set[str]]:
    """Entry index -> the extras asked of it, for everything target can install: with its
    extras (all of them, or those named) and its dependency groups (unless not groups)."""
    own = set(target.extras) if extras is None else set(target.extras) & set(extras)
    kept: dict[int, set[str]] = {target.index: own}
    todo: list[tuple[int, str | None]] = [
        (target.index, None),
        *((target.index, x) for x in sorted(own)),
    ]
    while todo:
        index, extra = todo.pop()
        edges = _edges(lock, lock.entries[index])
        if extra is not None:
            found = edges.extras.get(extra, ())
        elif index == target.index and groups:
            found = edges.dependencies + edges.groups
        else:
            found = edges.dependencies
        for dep, asked in found:
            if dep not in kept:
                kept[dep] = set()
                todo.append((dep, None))
            for more in asked:
                if more not in kept[dep]:
                    kept[dep].add(more)
                    todo.append((dep, more))
    return kept


def path_sources(
    lock: Lock, name: str, extras: Collection[str] | None = None, *, groups: bool = True
) -> list[Entry]:
    """The packages member name installs from a local path that are not workspace members
    (path sources, and what they need from paths), as reach finds them: with extras and
    groups, all its member lock holds; an image's, only what its `uv sync` installs."""
    target = lock.member(name)
    if target is None:
        raise LockError(f"{lock.path}: has no entry for workspace member {name}", fix=RELOCK_FIX)
    members = set(lock.members)
    found = (lock.entries[i] for i in sorted(reach(lock, target, extras, groups=groups)))
    return [e for e in found if e.local_path is not None and e.name not in members]


def member_lock(lock: Lock, name: str) -> bytes:
    """The lock of member name: the part of the root lock it can install, as uv writes it,
    in the root lock's line ending; read back and compared with the entries meant."""
    target = lock.member(name)
    if target is None:
        raise LockError(f"{lock.path}: has no entry for workspace member {name}", fix=RELOCK_FIX)
    kept = reach(lock, target)
    cuts = [_cut(lock, lock.entries[i], target, kept) for i in sorted(kept)]
    listed = set(lock.members)
    members = sorted(c.entry.name for c in cuts if c.entry.name in listed)
    parts = [_header_text(lock.header, members), *(_text(lock, c) for c in cuts)]
    text = "".join(parts).rstrip("\n") + "\n"
    if lock.newline != "\n":
        text = text.replace("\n", lock.newline)
    meant = _meant_top(lock, members)
    if cuts:
        meant["package"] = [c.meant() for c in cuts]
    _prove(lock, name, text, meant)
    return text.encode("utf-8")


def _header_text(header: tuple[Section, ...], members: list[str]) -> str:
    out = []
    listed = "members = [\n" + "".join(f'    "{m}",\n' for m in members) + "]\n"
    for section in header:
        if section.table in ROOT_ONLY_MANIFEST_TABLES:
            continue
        if section.table == "[manifest]":
            out.append(section.text(ROOT_ONLY_MANIFEST, {"members": listed}))
        else:
            out.append(section.text())
    return "".join(out)


@dataclass(frozen=True)
class _Cut:
    """What a member lock keeps of one entry: its groups only if it is the member itself,
    and not the extras left out."""

    entry: Entry
    groups: bool
    drop: tuple[str, ...]

    def text(self) -> str:
        out = []
        for section in self.entry.sections:
            if section.table == "[package.dev-dependencies]" and not self.groups:
                continue
            if section.table == "[package.optional-dependencies]":
                if len(self.drop) == len(self.entry.extras):
                    continue
                out.append(section.text(self.drop))
            else:
                out.append(section.text())
        return "".join(out)

    def meant(self) -> Mapping[str, Any]:
        """The entry's table as the member lock must read."""
        data = self.entry.data
        if not self.drop and (self.groups or "dev-dependencies" not in data):
            return data
        package = {k: v for k, v in data.items() if k != "optional-dependencies"}
        if not self.groups:
            package.pop("dev-dependencies", None)
        extras = data.get("optional-dependencies", {})
        extras = {x: refs for x, refs in extras.items() if x not in self.drop}
        if extras:
            package["optional-dependencies"] = extras
        return package


def _text(lock: Lock, cut: _Cut) -> str:
    """cut's text, made once for every member lock that keeps the entry alike."""
    key = ("text", cut.entry.index, cut.groups, cut.drop)
    if key not in lock.memo:
        lock.memo[key] = cut.text()
    return lock.memo[key]


def _cut(lock: Lock, entry: Entry, target: Entry, kept: dict[int, set[str]]) -> _Cut:
    drop = tuple(x for x in entry.extras if _left_out(lock, entry, x, kept))
    return _Cut(entry, entry is target, drop)


def _left_out(lock: Lock, entry: Entry, extra: str, kept: dict[int, set[str]]) -> bool:
    """An extra nobody asked for that names a package the member lock leaves out."""
    if extra in kept[entry.index]:
        return False
    return any(dep not in kept for dep, _ in _edges(lock, entry).extras[extra])


def _meant_top(lock: Lock, members: list[str]) -> dict[str, Any]:
    """The root's top tables as a member lock must read them: its manifest lists the members
    kept and none of the root's own requirements."""
    meant = dict(lock.data)
    if "manifest" in meant:
        manifest = {k: v for k, v in meant["manifest"].items() if k not in ROOT_ONLY_MANIFEST}
        if "members" in manifest:
            manifest["members"] = members
        meant["manifest"] = manifest
    return _without_empty_manifest(meant)


def _without_empty_manifest(data: dict[str, Any]) -> dict[str, Any]:
    """An empty [manifest] and none read alike (a manifest of root requirements only)."""
    if data.get("manifest") == {}:
        data = {k: v for k, v in data.items() if k != "manifest"}
    return data


def _prove(lock: Lock, name: str, text: str, meant: dict[str, Any]) -> None:
    """Read the derived lock back as the root lock was read (cut before each `[[package]]`
    line, each part parsed on its own, which is how the whole file parses): it must hold
    exactly the entries meant, in one line ending, or nobody gets it."""
    try:
        back = read_blocks(text, Path(f"{name}'s member lock"), lock.parsed, lock.blocks)
    except ConfigError as e:
        raise _unproven(lock, e.message) from e
    mixed = text.count("\n") != text.count("\r\n") if "\r" in text else False
    if back.newline != lock.newline or mixed:
        raise _unproven(lock, "its line endings are not the root lock's")
    got = _without_empty_manifest(dict(back.top))
    if back.packages:
        got["package"] = back.packages
    if got != meant:
        raise _unproven(lock, _difference(got, meant))


def _unproven(lock: Lock, why: str) -> LockError:
    """The same for every member it hits, so that they are named together."""
    return LockError(
        f"{lock.path}: a member lock cut from it does not read back as the member's part of "
        f"it ({why}); the root lock is not laid out as uv writes it",
        fix=restore_fix(lock.path),
    )


def _difference(got: Mapping[str, Any], meant: Mapping[str, Any]) -> str:
    """The first thing that differs, named for the user."""
    for key in sorted(set(got) | set(meant)):
        if key != "package" and got.get(key) != meant.get(key):
            return f"its `{key}` differs"
    ours, theirs = got.get("package", []), meant.get("package", [])
    for have, want in zip(ours, theirs, strict=False):
        if have != want:
            keys = sorted(k for k in set(have) | set(want) if have.get(k) != want.get(k))
            return f"package {want.get('name')}: {', '.join(keys)} differ"
    return f"it holds {len(ours)} packages where {len(theirs)} were meant"

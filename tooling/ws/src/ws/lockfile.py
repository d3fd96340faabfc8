"""uv.lock files: read the root lock, and derive a member's part of it byte for byte.

A member lock is the subgraph of the root lock that the member can install: its own
dependencies, extras and groups, and of every package it reaches only the extras it asks
for. Kept entries stay the root lock's bytes, with two trims uv needs to read the result:
members other than the target lose their dependency groups, and an entry loses the extras
it was not asked for that name packages left out.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ws.errors import ConfigError, LockError

LOCAL_SOURCES = ("editable", "virtual", "directory")
_ROOT_ONLY_MANIFEST = ("requirements",)
_ROOT_ONLY_MANIFEST_TABLES = ("[manifest.dependency-groups]",)


@dataclass(frozen=True)
class Ref:
    """A dependency as the lock writes it: a package, maybe narrowed, and the extras asked."""

    name: str
    version: str | None
    source: str | None
    extras: tuple[str, ...]


@dataclass(frozen=True)
class Section:
    """One TOML table of the lock as text: its header line and the lines up to the next."""

    head: str  # the header line ("" for the lines before the first table)
    body: str

    @property
    def table(self) -> str:
        return self.head.strip()

    def text(self, drop: Iterable[str] = (), replace: Mapping[str, str] | None = None) -> str:
        """The section's text, without the keys in drop and with replace's keys' text."""
        dropped, replace = set(drop), replace or {}
        if not dropped and not replace:
            return self.head + self.body
        items, trailer = _items(self.body)
        kept = (replace.get(k, t) for k, t in items if k not in dropped)
        return self.head + "".join(kept) + trailer


def _items(body: str) -> tuple[list[tuple[str, str]], str]:
    """A table's keys as (key, its whole text), and the blank lines after the last; uv starts
    every key at column 0 and indents what continues it."""
    items: list[tuple[str, str]] = []
    blanks = ""
    for line in body.splitlines(keepends=True):
        if not line.strip():
            blanks += line
        elif line[0] in " \t]" and items:
            key, text = items[-1]
            items[-1] = (key, text + blanks + line)
            blanks = ""
        else:
            items.append((line.split("=", 1)[0].strip().strip('"'), blanks + line))
            blanks = ""
    return items, blanks


@dataclass(frozen=True)
class Entry:
    """One [[package]] of a lock: what it is, what it needs, and its text."""

    index: int
    name: str
    version: str | None
    source: str
    dependencies: tuple[Ref, ...]
    extras: Mapping[str, tuple[Ref, ...]]
    groups: Mapping[str, tuple[Ref, ...]]
    sections: tuple[Section, ...]

    @property
    def local(self) -> bool:
        return self.source.split("=", 1)[0] in LOCAL_SOURCES

    @property
    def label(self) -> str:
        return f"{self.name} {self.version or '(no version)'}"


@dataclass(frozen=True)
class Lock:
    path: Path
    header: tuple[Section, ...]
    entries: tuple[Entry, ...]
    members: tuple[str, ...]
    names: Mapping[str, tuple[Entry, ...]] = field(default_factory=dict, repr=False)

    def by_name(self, name: str) -> tuple[Entry, ...]:
        return self.names.get(name, ())

    def member(self, name: str) -> Entry | None:
        found = [e for e in self.by_name(name) if e.local and name in self.members]
        return found[0] if found else None


def read_lock(path: Path) -> Lock:
    try:
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError as e:
        raise ConfigError(path, "missing", fix="run `ws sync-locks` (it runs `uv lock`)") from e
    return parse_lock(text, path)


def parse_lock(text: str, path: Path) -> Lock:
    sections = _split_sections(text)
    try:
        data = tomllib.loads(_lean(sections))
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(path, f"unreadable lock: {e}", fix="re-run `uv lock`") from e
    header, blocks = _group_blocks(sections)
    packages = data.get("package", [])
    if len(packages) != len(blocks) or any(not isinstance(p, dict) for p in packages):
        raise ConfigError(path, "not laid out as uv writes a lock", fix="re-run `uv lock`")
    try:
        entries = tuple(
            _entry(i, p, b) for i, (p, b) in enumerate(zip(packages, blocks, strict=True))
        )
    except (KeyError, TypeError, AttributeError) as e:
        raise ConfigError(path, f"a package entry lacks {e}", fix="re-run `uv lock`") from e
    members = tuple(data.get("manifest", {}).get("members", ()))
    if not members:  # a lone project: the one local package at the root is the member
        members = tuple(e.name for e in entries if e.source in ("editable=.", "virtual=."))
    names: dict[str, tuple[Entry, ...]] = {}
    for entry in entries:
        names[entry.name] = (*names.get(entry.name, ()), entry)
    return Lock(path, header, entries, members, names)


# Tables start at column 0 in what uv writes; array items and continuations are indented.
_TABLE_START = re.compile(r"^(?=\[)", re.M)
# Of a package, ws reads what it needs and where from; its files and metadata only pass.
_FILES = re.compile(r"^(?:sdist = \{[^\n]*\}|wheels = \[\n.*?^\])\n", re.M | re.S)
_READ = ("[[package]]", "[package.optional-dependencies]", "[package.dev-dependencies]")


def _split_sections(text: str) -> list[Section]:
    """The lock's tables in order, as text (regular expressions: a lock can be megabytes)."""
    sections = []
    for chunk in _TABLE_START.split(text):
        if not chunk:
            continue
        if chunk.startswith("["):
            head, _, body = chunk.partition("\n")
            sections.append(Section(head + "\n", body))
        else:
            sections.append(Section("", chunk))
    return sections


def _lean(sections: list[Section]) -> str:
    """The TOML ws reads: the top keys, the manifest, and of each package its name, version,
    source and dependencies (parsing every wheel's URL and hash would be most of the work)."""
    parts = []
    for section in sections:
        if section.table == "[[package]]":
            parts.append(section.head + _FILES.sub("", section.body))
        elif section.table in _READ or section.table in ("", "[manifest]"):
            parts.append(section.head + section.body)
    return "".join(parts)


def _group_blocks(sections: list[Section]) -> tuple[tuple[Section, ...], list[list[Section]]]:
    header: list[Section] = []
    blocks: list[list[Section]] = []
    for section in sections:
        if section.table == "[[package]]":
            blocks.append([section])
        elif blocks:
            blocks[-1].append(section)
        else:
            header.append(section)
    return tuple(header), blocks


def render_source(source: Mapping[str, Any] | None) -> str:
    source = source or {}
    return ",".join(f"{k}={source[k]}" for k in sorted(source))


def _refs(values: Any) -> tuple[Ref, ...]:
    return tuple(
        Ref(
            v["name"],
            v.get("version"),
            render_source(v["source"]) if "source" in v else None,
            tuple(v.get("extra", ())),
        )
        for v in values or ()
    )


def _entry(index: int, package: dict[str, Any], sections: list[Section]) -> Entry:
    return Entry(
        index=index,
        name=package["name"],
        version=package.get("version"),
        source=render_source(package.get("source")),
        dependencies=_refs(package.get("dependencies")),
        extras={k: _refs(v) for k, v in package.get("optional-dependencies", {}).items()},
        groups={k: _refs(v) for k, v in package.get("dev-dependencies", {}).items()},
        sections=tuple(sections),
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
            fix="re-lock the workspace: `ws sync-locks` (it runs `uv lock`)",
        )
    return found


def reach(lock: Lock, target: Entry) -> dict[int, set[str]]:
    """Entry index -> the extras asked of it, for everything target can install."""
    kept: dict[int, set[str]] = {target.index: set(target.extras)}
    todo: list[tuple[Entry, str | None]] = [(target, None), *((target, x) for x in target.extras)]
    while todo:
        entry, extra = todo.pop()
        if extra is not None:
            refs = entry.extras.get(extra, ())
        elif entry is target:
            refs = entry.dependencies + tuple(r for g in entry.groups.values() for r in g)
        else:
            refs = entry.dependencies
        for ref in refs:
            for dep in resolve(lock, ref, entry):
                if dep.index not in kept:
                    kept[dep.index] = set()
                    todo.append((dep, None))
                for asked in set(ref.extras) - kept[dep.index]:
                    kept[dep.index].add(asked)
                    todo.append((dep, asked))
    return kept


def member_lock(lock: Lock, name: str) -> bytes:
    """The lock of member name: the part of the root lock it can install, as uv writes it."""
    target = lock.member(name)
    if target is None:
        raise LockError(
            f"{lock.path}: has no entry for workspace member {name}",
            fix="re-lock the workspace: `ws sync-locks` (it runs `uv lock`)",
        )
    kept = reach(lock, target)
    members = sorted(lock.entries[i].name for i in kept if lock.entries[i].name in lock.members)
    parts = [_header_text(lock.header, members)]
    for entry in lock.entries:
        if entry.index in kept:
            parts.append(_entry_text(lock, entry, target, kept))
    return ("".join(parts).rstrip("\n") + "\n").encode("utf-8")


def members_of(lock: Lock, name: str) -> set[str]:
    """The workspace members that member name's lock holds (itself included)."""
    target = lock.member(name)
    if target is None:
        return {name}
    return {lock.entries[i].name for i in reach(lock, target)} & set(lock.members)


def _header_text(header: tuple[Section, ...], members: list[str]) -> str:
    out = []
    listed = "members = [\n" + "".join(f'    "{m}",\n' for m in members) + "]\n"
    for section in header:
        if section.table in _ROOT_ONLY_MANIFEST_TABLES:
            continue
        if section.table == "[manifest]":
            out.append(section.text(_ROOT_ONLY_MANIFEST, {"members": listed}))
        else:
            out.append(section.text())
    return "".join(out)


def _entry_text(lock: Lock, entry: Entry, target: Entry, kept: dict[int, set[str]]) -> str:
    out = []
    for section in entry.sections:
        if section.table == "[package.dev-dependencies]" and entry is not target:
            continue
        if section.table == "[package.optional-dependencies]":
            drop = [x for x in entry.extras if _left_out(lock, entry, x, kept)]
            if len(drop) == len(entry.extras):
                continue
            out.append(section.text(drop))
        else:
            out.append(section.text())
    return "".join(out)


def _left_out(lock: Lock, entry: Entry, extra: str, kept: dict[int, set[str]]) -> bool:
    """An extra nobody asked for that names a package the member lock leaves out."""
    if extra in kept[entry.index]:
        return False
    return any(
        dep.index not in kept for ref in entry.extras[extra] for dep in resolve(lock, ref, entry)
    )


def parse_lock_bytes(data: bytes, path: Path) -> Lock:
    """parse_lock of a lock's bytes, as read once by the caller."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ConfigError(
            path, f"not UTF-8 (byte {e.start})", fix="re-run `uv lock`: uv writes UTF-8"
        ) from e
    return parse_lock(text, path)

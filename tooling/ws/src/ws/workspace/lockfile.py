"""uv.lock files: read the root lock, and derive a member's part of it byte for byte, proven.

A member lock is the subgraph of the root lock that the member can install: its own
dependencies, extras and groups, and of every package it reaches only the extras it asks
for. Kept entries stay the root lock's bytes, with two trims uv needs to read the result:
members other than the target lose their dependency groups, and an entry loses the extras
it was not asked for that name packages left out.

The text is cut before each `[[package]]` line (and an entry before its `[package.metadata]`
line), and each part is parsed on its own: an entry's data is read from the entry's own
text, so text and data cannot be paired wrongly. Each part starts at a table header and the
part before it parsed alone, so the whole file's parser reads each part as it is read here;
a cut line inside a multi-line value leaves the part before it unterminated, and is refused
at its line, never followed. Every member lock is read back the same way (the parts that are
the root lock's bytes reuse their parse) and compared with the entries meant before anyone
writes or trusts it.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ws.errors import ConfigError, LockError

LOCAL_SOURCES = ("editable", "virtual", "directory")
# The sources of a package installed from a local path: those, and a wheel's or an archive's.
PATH_SOURCES = (*LOCAL_SOURCES, "path")
# What only the root installs: its own requirements and dependency groups.
_ROOT_ONLY_MANIFEST = ("requirements", "dependency-groups")
_ROOT_ONLY_MANIFEST_TABLES = ("[manifest.dependency-groups]",)
_RELOCK = "re-lock the workspace: `ws sync-locks` (it runs `uv lock`)"


def _restore(path: Path) -> str:
    return (
        f"restore {path.name} as uv wrote it (`git checkout -- {path.name}`), "
        "or delete it and run `ws sync-locks` to lock afresh"
    )


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
    line: int = 1  # where the section starts in the lock (1-based)

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
    every key at column 0 and indents what continues it (a lock written otherwise is caught
    when the derived lock is read back)."""
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
    data: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def local(self) -> bool:
        return self.source.split("=", 1)[0] in LOCAL_SOURCES

    @property
    def label(self) -> str:
        return f"{self.name} {self.version or '(no version)'}"

    @property
    def local_path(self) -> str | None:
        """The path it installs from, as the lock writes it (relative to the lock's folder);
        None for a package from an index, a URL or git."""
        source = self.data.get("source")
        if not isinstance(source, dict):
            return None
        return next((source[k] for k in PATH_SOURCES if k in source), None)


@dataclass(frozen=True)
class Lock:
    """A uv.lock: its header tables as text, its entries, and the workspace members it lists."""

    path: Path
    header: tuple[Section, ...]
    entries: tuple[Entry, ...]
    members: tuple[str, ...]
    names: Mapping[str, tuple[Entry, ...]] = field(default_factory=dict, repr=False)
    data: Mapping[str, Any] = field(default_factory=dict, repr=False)  # all but the packages
    newline: str = "\n"  # uv writes "\n"; a checkout may turn every line to "\r\n"
    # The text of each part of the lock -> its data: what a member lock keeps of the root
    # lock's bytes is read back without parsing it again.
    parsed: dict[str, dict[str, Any]] = field(default_factory=dict, compare=False, repr=False)

    def by_name(self, name: str) -> tuple[Entry, ...]:
        return self.names.get(name, ())

    def member(self, name: str) -> Entry | None:
        found = [e for e in self.by_name(name) if e.local and name in self.members]
        return found[0] if found else None


def read_lock(path: Path) -> Lock:
    try:
        data = path.read_bytes()
    except FileNotFoundError as e:
        raise ConfigError(path, "missing", fix="run `ws sync-locks` (it runs `uv lock`)") from e
    except OSError as e:
        raise ConfigError(path, f"cannot read: {e.strerror or e}", fix=_restore(path)) from e
    return parse_lock_bytes(data, path)


def parse_lock_bytes(data: bytes, path: Path) -> Lock:
    """parse_lock of a lock's bytes, as the caller read them (once)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        problem = f"not UTF-8 text (byte 0x{data[e.start]:02x}), which uv refuses too"
        raise ConfigError(path, problem, line=line, fix=_restore(path)) from e
    return parse_lock(text, path)


def parse_lock(text: str, path: Path) -> Lock:
    parsed: dict[str, dict[str, Any]] = {}
    read = _read(text, path, parsed)
    line = read.header.count("\n") + 1
    entries = []
    for i, (package, block) in enumerate(zip(read.packages, read.blocks, strict=True)):
        entries.append(_entry(i, package, _split_sections(block, line), path))
        line += block.count("\n")
    members = _members(read.top, _Where(path, None, ""))
    if not members:  # a lone project: the one local package at the root is the member
        members = tuple(e.name for e in entries if e.source in ("editable=.", "virtual=."))
    header = tuple(_split_sections(read.header, 1))
    names = _by_name(entries)
    return Lock(path, header, tuple(entries), members, names, read.top, read.newline, parsed)


def _by_name(entries: Sequence[Entry]) -> dict[str, tuple[Entry, ...]]:
    """The entries of each name, in one pass (a lock may hold thousands of one name)."""
    found: dict[str, list[Entry]] = {}
    for entry in entries:
        found.setdefault(entry.name, []).append(entry)
    return {name: tuple(same) for name, same in found.items()}


@dataclass(frozen=True)
class _Read:
    """A lock's text cut before each `[[package]]` line: the header and the blocks, each
    parsed on its own."""

    newline: str
    header: str
    top: dict[str, Any]  # the header's tables
    blocks: list[str]
    packages: list[dict[str, Any]]  # each block's [[package]] table


# uv starts every [[package]] table with this line.
_BLOCK_HEAD = "[[package]]\n"


def _cut_blocks(text: str) -> tuple[str, list[str]]:
    """The text before the first `[[package]]` line, and from each such line to the next
    (str.split: a lock can be megabytes, and is cut again for every member lock)."""
    first, *pieces = ("\n" + text).split("\n" + _BLOCK_HEAD)  # the "\n" each cut takes...
    if not pieces:
        return text, []
    blocks = [_BLOCK_HEAD + piece + "\n" for piece in pieces]  # ...goes back before it
    blocks[-1] = blocks[-1][:-1]
    return (first + "\n")[1:], blocks


def _read(text: str, path: Path, parsed: dict[str, dict[str, Any]]) -> _Read:
    """Cut the text before each `[[package]]` line and parse each part on its own (parsed:
    part text -> data, shared by a root lock and the member locks cut from it, so that what
    they keep of the root lock's bytes is parsed once). Each part starts at a table header
    and the part before it parsed whole, so the file's parser reads each part as it is read
    here: a cut inside a multi-line value leaves the part before it unterminated."""
    newline = "\r\n" if text.partition("\n")[0].endswith("\r") else "\n"
    if "\r" in text:
        text = text.replace("\r\n", "\n")  # tomllib reads both alike, in strings too
    header, blocks = _cut_blocks(text)
    top = _parse_part(text, header, len(header), path, parsed)
    if "package" in top:
        where = _Where(path, None, "")
        raise where.wrong("package", "[[package]] tables, as uv writes them", top["package"])
    packages = []
    end = len(header)
    for block in blocks:
        start, end = end, end + len(block)
        packages.append(_package(text, block, start, path, parsed))
    return _Read(newline, header, top, blocks, packages)


_METADATA_HEAD = "\n[package.metadata]\n"


def _package(
    text: str, block: str, start: int, path: Path, parsed: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    """The one [[package]] table a block holds. Its metadata (uv writes it last, and it is
    most of a member's text) is parsed apart: a member lock trims a member's groups and
    extras, never its metadata, which is then parsed once for all member locks."""
    cut = block.find(_METADATA_HEAD) + 1 or len(block)
    head, tail = block[:cut], block[cut:]
    data = _parse_part(text, head, start + cut, path, parsed)
    package = data.get("package")
    if len(data) != 1 or type(package) is not list or len(package) != 1:
        raise _not_uv_layout(text, start, path)
    if not tail:
        return package[0]
    # Alone, [package.metadata] and what follows make a table `package`; in the file they
    # fill this entry: the same, when they define no key the entry's first part defined.
    more = _parse_part(text, tail, start + len(block), path, parsed)
    rest = more.get("package")
    if len(more) != 1 or type(rest) is not dict or rest.keys() & package[0].keys():
        raise _not_uv_layout(text, start, path)
    return {**package[0], **rest}


# Tables start at column 0 in what uv writes; array items and continuations are indented.
_TABLE_START = re.compile(r"^(?=\[)", re.M)


def _split_sections(text: str, line: int) -> list[Section]:
    """A part of the lock as its tables, in order (line: where the part starts)."""
    sections = []
    for chunk in _TABLE_START.split(text):
        if not chunk:
            continue
        if chunk.startswith("["):
            head, _, body = chunk.partition("\n")
            sections.append(Section(head + "\n", body, line))
        else:
            sections.append(Section("", chunk, line))
        line += chunk.count("\n")
    return sections


def _parse_part(
    text: str, part: str, end: int, path: Path, parsed: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    """One part of the lock, parsed on its own (end: where the part ends in text)."""
    if part not in parsed:
        try:
            parsed[part] = tomllib.loads(part)
        except (tomllib.TOMLDecodeError, RecursionError) as e:
            raise _unreadable(text, end, path) from e
    return parsed[part]


_POSITION = re.compile(r"\s*\(at line (\d+), column (\d+)\)")


def _unreadable(text: str, end: int, path: Path) -> ConfigError:
    """Why a part does not parse: the whole lock does not, or the table header ws cut
    before (at end) lies in a multi-line value."""
    try:
        tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        found = _POSITION.search(str(e))
        line, column = (int(found[1]), int(found[2])) if found else (None, None)
        problem = f"unreadable lock: {_POSITION.sub('', str(e))}"
        return ConfigError(path, problem, line=line, column=column, fix=_restore(path))
    except RecursionError:
        return ConfigError(path, "arrays or tables nested too deeply to read", fix=_restore(path))
    return ConfigError(
        path,
        "this table header lies inside a multi-line value, which uv never writes: "
        "ws cannot cut the lock into its packages",
        line=text.count("\n", 0, end) + 1,
        fix=_restore(path),
    )


def _not_uv_layout(text: str, start: int, path: Path) -> ConfigError:
    return ConfigError(
        path,
        "not laid out as uv writes a lock: a [[package]] table is followed by "
        "another table than its own",
        line=text.count("\n", 0, start) + 1,
        fix=_restore(path),
    )


_KINDS: dict[type, str] = {
    str: "a string",
    bool: "a boolean",
    int: "an integer",
    float: "a float",
    list: "an array",
    dict: "a table",
}


@dataclass(frozen=True)
class _Where:
    """Where a value of the lock sits, for an error naming the file, the line and the field."""

    path: Path
    line: int | None
    owner: str  # "" at the top, else "package NAME"

    def wrong(self, key: str, want: str, value: Any) -> ConfigError:
        owner = f" of {self.owner}" if self.owner else ""
        got = _KINDS.get(type(value), type(value).__name__)
        problem = f"`{key}`{owner} must be {want}, not {got}"
        return ConfigError(self.path, problem, line=self.line, fix=_restore(self.path))

    def string(self, table: Mapping[str, Any], key: str, at: str = "") -> str | None:
        value = table.get(key)
        if value is not None and not isinstance(value, str):
            raise self.wrong(at + key, "a string", value)
        return value

    def name(self, table: Mapping[str, Any], at: str = "") -> str:
        value = self.string(table, "name", at)
        if value is None:
            owner = f" of {self.owner}" if self.owner else ""
            problem = f"`{at}name`{owner} is missing"
            raise ConfigError(self.path, problem, line=self.line, fix=_restore(self.path))
        return value

    def strings(self, table: Mapping[str, Any], key: str, at: str = "") -> tuple[str, ...]:
        value = table.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.wrong(at + key, "an array of strings", value)
        return tuple(value)

    def table(self, table: Mapping[str, Any], key: str, want: str) -> dict[str, Any]:
        value = table.get(key, {})
        if not isinstance(value, dict):
            raise self.wrong(key, want, value)
        return value


def _members(top: Mapping[str, Any], where: _Where) -> tuple[str, ...]:
    manifest = where.table(top, "manifest", "a table")
    return where.strings(manifest, "members", "manifest.")


def render_source(source: Mapping[str, Any] | None) -> str:
    source = source or {}
    return ",".join(f"{k}={source[k]}" for k in sorted(source))


_SOURCE = 'a table such as { registry = "..." }'


def _source(where: _Where, table: Mapping[str, Any], at: str = "") -> str | None:
    source = table.get("source")
    if source is None:
        return None
    if not isinstance(source, dict) or not all(isinstance(v, str) for v in source.values()):
        raise where.wrong(at + "source", _SOURCE, source)
    return render_source(source)


def _refs(where: _Where, values: Any, key: str) -> tuple[Ref, ...]:
    if not isinstance(values, list):
        raise where.wrong(key, 'an array of tables such as { name = "..." }', values)
    refs = []
    for i, value in enumerate(values):
        at = f"{key}[{i}]."
        if not isinstance(value, dict):
            raise where.wrong(at[:-1], 'a table such as { name = "..." }', value)
        version = where.string(value, "version", at)
        source = _source(where, value, at)
        refs.append(Ref(where.name(value, at), version, source, where.strings(value, "extra", at)))
    return tuple(refs)


def _ref_groups(where: _Where, package: Mapping[str, Any], key: str) -> dict[str, tuple[Ref, ...]]:
    groups = where.table(package, key, "a table of arrays")
    return {k: _refs(where, v, f"{key}.{k}") for k, v in groups.items()}


def _entry(index: int, package: dict[str, Any], sections: list[Section], path: Path) -> Entry:
    name = _Where(path, sections[0].line, "a [[package]]").name(package)
    where = _Where(path, sections[0].line, f"package {name}")
    return Entry(
        index=index,
        name=name,
        version=where.string(package, "version"),
        source=_source(where, package) or "",
        dependencies=_refs(where, package.get("dependencies", []), "dependencies"),
        extras=_ref_groups(where, package, "optional-dependencies"),
        groups=_ref_groups(where, package, "dev-dependencies"),
        sections=tuple(sections),
        data=package,
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
            fix=_RELOCK,
        )
    return found


def reach(
    lock: Lock, target: Entry, extras: Collection[str] | None = None, *, groups: bool = True
) -> dict[int, set[str]]:
    """Entry index -> the extras asked of it, for everything target can install: with its
    extras (all of them, or those named) and its dependency groups (unless not groups)."""
    own = set(target.extras) if extras is None else set(target.extras) & set(extras)
    kept: dict[int, set[str]] = {target.index: own}
    todo: list[tuple[Entry, str | None]] = [(target, None), *((target, x) for x in sorted(own))]
    while todo:
        entry, extra = todo.pop()
        if extra is not None:
            refs = entry.extras.get(extra, ())
        elif entry is target and groups:
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


def path_sources(
    lock: Lock, name: str, extras: Collection[str] | None = None, *, groups: bool = True
) -> list[Entry]:
    """The packages member name installs from a local path that are not workspace members
    (path sources, and what they need from paths), as reach finds them: with extras and
    groups, all its member lock holds; an image's, only what its `uv sync` installs."""
    target = lock.member(name)
    if target is None:
        raise LockError(f"{lock.path}: has no entry for workspace member {name}", fix=_RELOCK)
    members = set(lock.members)
    found = (lock.entries[i] for i in sorted(reach(lock, target, extras, groups=groups)))
    return [e for e in found if e.local_path is not None and e.name not in members]


def member_lock(lock: Lock, name: str) -> bytes:
    """The lock of member name: the part of the root lock it can install, as uv writes it,
    in the root lock's line ending; read back and compared with the entries meant."""
    target = lock.member(name)
    if target is None:
        raise LockError(f"{lock.path}: has no entry for workspace member {name}", fix=_RELOCK)
    kept = reach(lock, target)
    cuts = [_cut(lock, lock.entries[i], target, kept) for i in sorted(kept)]
    listed = set(lock.members)
    members = sorted(c.entry.name for c in cuts if c.entry.name in listed)
    parts = [_header_text(lock.header, members), *(c.text() for c in cuts)]
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
        if section.table in _ROOT_ONLY_MANIFEST_TABLES:
            continue
        if section.table == "[manifest]":
            out.append(section.text(_ROOT_ONLY_MANIFEST, {"members": listed}))
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


def _cut(lock: Lock, entry: Entry, target: Entry, kept: dict[int, set[str]]) -> _Cut:
    drop = tuple(x for x in entry.extras if _left_out(lock, entry, x, kept))
    return _Cut(entry, entry is target, drop)


def _left_out(lock: Lock, entry: Entry, extra: str, kept: dict[int, set[str]]) -> bool:
    """An extra nobody asked for that names a package the member lock leaves out."""
    if extra in kept[entry.index]:
        return False
    return any(
        dep.index not in kept for ref in entry.extras[extra] for dep in resolve(lock, ref, entry)
    )


def _meant_top(lock: Lock, members: list[str]) -> dict[str, Any]:
    """The root's top tables as a member lock must read them: its manifest lists the members
    kept and none of the root's own requirements."""
    meant = dict(lock.data)
    if "manifest" in meant:
        manifest = {k: v for k, v in meant["manifest"].items() if k not in _ROOT_ONLY_MANIFEST}
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
        back = _read(text, Path(f"{name}'s member lock"), lock.parsed)
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
        fix=_restore(lock.path),
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

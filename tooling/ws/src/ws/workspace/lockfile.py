"""uv.lock files read as uv writes them: entries, their text and their data (the derivation
of a member's part is ws.workspace.member_lock).

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
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ws.errors import ConfigError
from ws.workspace.members import toml_problem

LOCAL_SOURCES = ("editable", "virtual", "directory")
# The sources of a package installed from a local path: those, and a wheel's or an archive's.
PATH_SOURCES = (*LOCAL_SOURCES, "path")
# What only the root installs: its own requirements and dependency groups.
ROOT_ONLY_MANIFEST = ("requirements", "dependency-groups")
ROOT_ONLY_MANIFEST_TABLES = ("[manifest.dependency-groups]",)
RELOCK_FIX = "re-lock the workspace: `ws sync-locks` (it runs `uv lock`)"


def restore_fix(path: Path) -> str:
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
    # Each [[package]] block's text -> its table: a member lock keeping the block as it is
    # reads back the very table the root lock's entry holds (compared by identity, at once).
    blocks: dict[str, dict[str, Any]] = field(default_factory=dict, compare=False, repr=False)
    # What deriving member locks found once and every member lock shares (resolved
    # dependencies, the text an entry keeps): deriving 80 member locks asks each many times.
    memo: dict[Any, Any] = field(default_factory=dict, compare=False, repr=False)

    def by_name(self, name: str) -> tuple[Entry, ...]:
        return self.names.get(name, ())

    def member(self, name: str) -> Entry | None:
        found = [e for e in self.by_name(name) if e.local and name in self.members]
        return found[0] if found else None


def parse_lock_bytes(data: bytes, path: Path) -> Lock:
    """parse_lock of a lock's bytes, as the caller read them (once)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        problem = f"not UTF-8 text (byte 0x{data[e.start]:02x}), which uv refuses too"
        raise ConfigError(path, problem, line=line, fix=restore_fix(path)) from e
    return parse_lock(text, path)


def parse_lock(text: str, path: Path) -> Lock:
    parsed: dict[str, dict[str, Any]] = {}
    blocks: dict[str, dict[str, Any]] = {}
    read = read_blocks(text, path, parsed, blocks)
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
    return Lock(
        path, header, tuple(entries), members, names, read.top, read.newline, parsed, blocks
    )


def _by_name(entries: Sequence[Entry]) -> dict[str, tuple[Entry, ...]]:
    """The entries of each name, in one pass (a lock may hold thousands of one name)."""
    found: dict[str, list[Entry]] = {}
    for entry in entries:
        found.setdefault(entry.name, []).append(entry)
    return {name: tuple(same) for name, same in found.items()}


@dataclass(frozen=True)
class Blocks:
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


def read_blocks(
    text: str,
    path: Path,
    parsed: dict[str, dict[str, Any]],
    blocks: dict[str, dict[str, Any]],
) -> Blocks:
    """Cut the text before each `[[package]]` line and parse each part on its own (parsed:
    part text -> data, and blocks: block text -> its table, shared by a root lock and the
    member locks cut from it, so that what they keep of the root lock's bytes is parsed
    once). Each part starts at a table header
    and the part before it parsed whole, so the file's parser reads each part as it is read
    here: a cut inside a multi-line value leaves the part before it unterminated."""
    newline = "\r\n" if text.partition("\n")[0].endswith("\r") else "\n"
    if "\r" in text:
        text = text.replace("\r\n", "\n")  # tomllib reads both alike, in strings too
    header, cut = _cut_blocks(text)
    top = _parse_part(text, header, len(header), path, parsed)
    if "package" in top:
        where = _Where(path, None, "")
        raise where.wrong("package", "[[package]] tables, as uv writes them", top["package"])
    packages = []
    end = len(header)
    for block in cut:
        start, end = end, end + len(block)
        if block not in blocks:
            blocks[block] = _package(text, block, start, path, parsed)
        packages.append(blocks[block])
    return Blocks(newline, header, top, cut, packages)


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


# What an entry says of its files (sdist = {...}, wheels = [...]) is most of a lock's text and
# none of what ws reads. Where those lines are exactly of uv's form (inline tables of plain
# strings without escapes, and numbers, one a line), they can hold no quote that opens or
# closes anything, so leaving them out changes no other key of the part: they are not parsed.
_VALUE = r'(?:"[^"\\\n]*"|[0-9]+)'
_INLINE = rf"\{{ [a-z][a-z-]* = {_VALUE}(?:, [a-z][a-z-]* = {_VALUE})* \}}"
_FILES = re.compile(rf"^(?:sdist = {_INLINE}\n|wheels = \[\n(?:    {_INLINE},\n)*\]\n)", re.M)


def _parse_part(
    text: str, part: str, end: int, path: Path, parsed: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    """One part of the lock, parsed on its own (end: where the part ends in text), without
    the inert lines of its files."""
    if part not in parsed:
        try:
            parsed[part] = tomllib.loads(_FILES.sub("", part))
        except (tomllib.TOMLDecodeError, RecursionError) as e:
            raise _unreadable(text, end, path) from e
    return parsed[part]


def _unreadable(text: str, end: int, path: Path) -> ConfigError:
    """Why a part does not parse: the whole lock does not, or the table header ws cut
    before (at end) lies in a multi-line value."""
    try:
        tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        problem, line, column = toml_problem(e)
        return ConfigError(
            path, f"unreadable lock: {problem}", line=line, column=column, fix=restore_fix(path)
        )
    except RecursionError:
        return ConfigError(
            path, "arrays or tables nested too deeply to read", fix=restore_fix(path)
        )
    return ConfigError(
        path,
        "this table header lies inside a multi-line value, which uv never writes: "
        "ws cannot cut the lock into its packages",
        line=text.count("\n", 0, end) + 1,
        fix=restore_fix(path),
    )


def _not_uv_layout(text: str, start: int, path: Path) -> ConfigError:
    return ConfigError(
        path,
        "not laid out as uv writes a lock: a [[package]] table is followed by "
        "another table than its own",
        line=text.count("\n", 0, start) + 1,
        fix=restore_fix(path),
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
        return ConfigError(self.path, problem, line=self.line, fix=restore_fix(self.path))

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
            raise ConfigError(self.path, problem, line=self.line, fix=restore_fix(self.path))
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

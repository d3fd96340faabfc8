"""The one place ws edits TOML: tomlkit round trips, so comments and layout survive. Reading
goes through tomllib (read_toml, read_strings): fast, and it accepts what uv accepts."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Mapping, MutableMapping
from pathlib import Path
from typing import Any

import tomlkit
from tomlkit.exceptions import ParseError, TOMLKitError
from tomlkit.items import String, StringType

from ws.errors import ConfigError
from ws.fsio import atomic_write_text

BOM = "\ufeff"  # uv reads a file that starts with one; so does ws, and keeps it on writing
KeyPath = tuple[str, ...]
_POSITION = re.compile(r" \(at line (\d+), column (\d+)\)$")


def read_toml(path: Path) -> dict[str, Any]:
    """path parsed as uv reads it (a leading byte-order mark skipped), with tomllib.

    Unreadable files, invalid TOML and nesting too deep for Python are a ConfigError.
    """
    return parse_toml(path, _read(path))


def parse_toml(path: Path | str, text: str) -> dict[str, Any]:
    """text (read from path) parsed as read_toml does."""
    try:
        return tomllib.loads(text.removeprefix(BOM))
    except tomllib.TOMLDecodeError as e:
        # Before Python 3.14 the position is only in the message: "... (at line 3, column 9)".
        where = _POSITION.search(str(e))
        line, column = (int(where[1]), int(where[2])) if where else (None, None)
        problem = _POSITION.sub("", str(e))
        raise ConfigError(path, f"invalid TOML: {problem}", line=line, column=column) from e
    except RecursionError as e:
        raise ConfigError(
            path, "arrays or tables nested too deeply to read", fix="flatten the nesting"
        ) from e


def read_strings(path: Path, keys: Iterable[KeyPath]) -> dict[KeyPath, str | None]:
    """The string at each key path (None where it is missing or not a string)."""
    document: Any = read_toml(path)
    found: dict[KeyPath, str | None] = {}
    for key_path in keys:
        value = document
        for key in key_path:
            value = value.get(key) if isinstance(value, dict) else None
        found[key_path] = value if isinstance(value, str) else None
    return found


def set_values(path: Path, updates: Mapping[KeyPath, str], *, root: Path | None = None) -> bool:
    """Set string values at key paths, e.g. ("tool", "ws", "docker", "python-image").

    Missing tables are created. Everything but the changed values is kept byte for byte,
    including a value's trailing comment, literal ('...') quoting where the new value
    allows it, and a leading byte-order mark. The file is rewritten atomically (below root,
    when given: see ws.fsio), and only if something changed; returns whether it did.
    """
    original = _read(path)
    bom = BOM if original.startswith(BOM) else ""
    document = _parse(path, original.removeprefix(BOM))
    for keys, value in updates.items():
        _set(path, document, keys, value)
    text = bom + document.as_string()
    if text == original:
        return False
    atomic_write_text(path, text, root=root)
    return True


def _read(path: Path) -> str:
    try:
        # Bytes, not read_text: newline translation would rewrite every CRLF file.
        return path.read_bytes().decode("utf-8")
    except FileNotFoundError as e:
        raise ConfigError(path, "file not found") from e
    except UnicodeDecodeError as e:
        raise ConfigError(path, f"not UTF-8 ({e.reason})", fix="save it as UTF-8") from e
    except OSError as e:
        raise ConfigError(path, f"cannot read: {e.strerror or e}") from e


def _parse(path: Path, text: str) -> tomlkit.TOMLDocument:
    try:
        return tomlkit.parse(text)
    except (TOMLKitError, RecursionError) as e:
        parse_toml(path, text)  # invalid TOML: tomllib's error, as uv would report it
        line, column = (e.line, e.col) if isinstance(e, ParseError) else (None, None)
        raise ConfigError(
            path,
            f"valid TOML, but laid out in a way ws's TOML editor (tomlkit) cannot rewrite: {e}",
            line=line,
            column=column,
            fix="give each table its own [header] (for example [tool.ws.docker] instead of "
            "dotted docker.* keys under [tool.ws]), then run again",
        ) from e


def _set(path: Path, document: tomlkit.TOMLDocument, keys: tuple[str, ...], value: str) -> None:
    if not keys:
        raise ValueError("an empty key path names no value")
    table: Any = document
    for depth, key in enumerate(keys[:-1]):
        if key not in table:
            # A super table renders only its innermost header: [tool.ws.docker].
            table[key] = tomlkit.table(is_super_table=True)
        table = table[key]
        if not isinstance(table, MutableMapping):
            where = ".".join(keys[: depth + 1])
            raise ConfigError(path, f"{where} is not a table", fix=f"make {where} a table")
    last = keys[-1]
    current = table.get(last)
    if current is not None and not isinstance(current, str):
        where = ".".join(keys)
        raise ConfigError(path, f"{where} is not a string", fix=f"make {where} a string")
    if current != value:
        table[last] = _like(current, value)


def _like(current: object, value: str) -> String:
    """value as a TOML string, literal-quoted if the old value was and value allows it."""
    literal = isinstance(current, String) and current.type == StringType.SLL
    if literal and "'" not in value and value.isprintable():
        return tomlkit.string(value, literal=True)
    return tomlkit.string(value)


def set_array_items(
    path: Path, updates: Mapping[KeyPath, Mapping[int, str]], *, root: Path | None = None
) -> bool:
    """Replace items of existing string arrays: key path -> {index: new text}, e.g.
    ("project", "dependencies") -> {0: "core==1.2.0"}. The rest of the file (comments,
    layout, the other items) is kept; written atomically, only if something changed."""
    original = _read(path)
    bom = BOM if original.startswith(BOM) else ""
    document = _parse(path, original.removeprefix(BOM))
    for keys, items in updates.items():
        array: Any = document
        for key in keys:
            array = array[key]
        for index, value in items.items():
            array[index] = _like(array[index], value)
    text = bom + document.as_string()
    if text == original:
        return False
    atomic_write_text(path, text, root=root)
    return True

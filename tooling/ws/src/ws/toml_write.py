"""The one place ws edits TOML: tomlkit round trips, so comments and layout survive."""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from pathlib import Path
from typing import Any

import tomlkit
from tomlkit.exceptions import ParseError, TOMLKitError
from tomlkit.items import String, StringType

from ws.errors import ConfigError
from ws.fsio import atomic_write_text


def set_values(path: Path, updates: Mapping[tuple[str, ...], str]) -> bool:
    """Set string values at key paths, e.g. ("tool", "ws", "docker", "python-image").

    Missing tables are created. Everything but the changed values is kept byte for byte,
    including a value's trailing comment and literal ('...') quoting where the new value
    allows it. The file is rewritten atomically, and only if something changed; returns
    whether it did.
    """
    original = _read(path)
    document = _parse(path, original)
    for keys, value in updates.items():
        _set(path, document, keys, value)
    text = document.as_string()
    if text == original:
        return False
    atomic_write_text(path, text)
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
    except ParseError as e:
        raise ConfigError(path, f"invalid TOML: {e}", line=e.line, column=e.col) from e
    except TOMLKitError as e:
        raise ConfigError(path, f"invalid TOML: {e}") from e


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

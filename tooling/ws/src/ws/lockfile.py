"""Reading uv.lock files: their packages, and whether a member lock agrees with the root lock."""

from __future__ import annotations

import tomllib
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ws.errors import ConfigError

LOCAL_SOURCES = ("editable", "virtual", "directory")


@dataclass(frozen=True, order=True)
class Pin:
    """One package entry of a uv.lock."""

    name: str
    version: str | None
    source: str  # the source table rendered stably, e.g. registry=<url> or editable=<path>

    @property
    def label(self) -> str:
        return f"{self.name} {self.version or '(no version)'} ({self.source})"


def parse_lock(text: str, path: Path) -> list[Pin]:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(path, f"unreadable lock: {e}", fix="re-run `ws sync-locks`") from e
    return [_pin(entry) for entry in data.get("package", [])]


def read_lock(path: Path) -> list[Pin]:
    return parse_lock(path.read_text(encoding="utf-8"), path)


def _pin(entry: dict[str, Any]) -> Pin:
    source = entry.get("source", {})
    rendered = ",".join(f"{k}={source[k]}" for k in sorted(source))
    return Pin(entry["name"], entry.get("version"), rendered)


def is_local(pin: Pin) -> bool:
    return pin.source.split("=", 1)[0] in LOCAL_SOURCES


def disagreements(member_pins: Iterable[Pin], root_pins: Iterable[Pin]) -> list[str]:
    """Every third-party pin of a member lock that the root lock does not hold."""
    root_by_name: dict[str, set[Pin]] = {}
    for pin in root_pins:
        root_by_name.setdefault(pin.name, set()).add(pin)
    problems = []
    for pin in member_pins:
        if is_local(pin) or pin in root_by_name.get(pin.name, set()):
            continue
        root_side = ", ".join(p.label for p in sorted(root_by_name.get(pin.name, set())))
        problems.append(f"{pin.label} but the root lock has {root_side or 'no such package'}")
    return problems


def foreign_members(
    member_pins: Iterable[Pin], workspace_members: Collection[str], closure: Collection[str]
) -> list[str]:
    """Workspace members in a lock that are outside the member's closure."""
    return sorted(
        pin.name
        for pin in member_pins
        if is_local(pin) and pin.name in workspace_members and pin.name not in closure
    )


def subset_key(root_pins: Iterable[Pin], names: Collection[str]) -> list[str]:
    """The root lock's pins for names: what a member lock must follow."""
    return sorted(p.label for p in root_pins if p.name in names and not is_local(p))

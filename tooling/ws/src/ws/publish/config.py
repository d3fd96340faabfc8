"""`[tool.ws.publish]` of a member, validated: whether it is published, where its version
comes from, and how its dependents pin it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from ws.errors import ConfigError
from ws.workspace.members import Member

PRIVATE = "Private :: Do Not Upload"
PIN_OPERATORS = ("==", "~=", ">=")
DEFAULT_TAG = "{name}-v{version}"
_KEYS = frozenset({"publish", "version", "tag", "pin"})
_TABLE = "tool.ws.publish"


@dataclass(frozen=True)
class PublishConfig:
    publish: bool  # false: never published
    version: Literal["static", "git"]  # [project] version, or from the member's git tags
    tag: str  # the tag pattern, with {name} and {version}
    pin: str  # how dependents require this member: ==, ~= or >=


def publish_config(member: Member) -> PublishConfig:
    """The member's [tool.ws.publish], its defaults filled in; a ConfigError names the key."""
    table = _table(member)
    unknown = sorted(set(table) - _KEYS)
    if unknown:
        raise _error(member, f"unknown key {unknown[0]!r}", f"use only {', '.join(sorted(_KEYS))}")
    publish = table.get("publish", True)
    if not isinstance(publish, bool):
        raise _error(member, "`publish` must be true or false", "publish = false")
    version = table.get("version", "static")
    if version not in ("static", "git"):
        raise _error(member, f"`version` = {version!r}", 'version = "git" (or "static")')
    tag = table.get("tag", DEFAULT_TAG)
    if not isinstance(tag, str) or tag.count("{version}") != 1:
        raise _error(member, f"`tag` = {tag!r} has no single {{version}}", f'tag = "{DEFAULT_TAG}"')
    pin = table.get("pin", "==")
    if pin not in PIN_OPERATORS:
        raise _error(member, f"`pin` = {pin!r}", 'pin = "==" (or "~=", ">=")')
    return PublishConfig(publish, version, tag, pin)


def _table(member: Member) -> dict[str, Any]:
    tool = member.data.get("tool")
    ws = tool.get("ws") if isinstance(tool, dict) else None
    table = ws.get("publish") if isinstance(ws, dict) else None
    if table is None:
        return {}
    if not isinstance(table, dict):
        raise _error(member, f"[{_TABLE}] must be a table", f"[{_TABLE}]\npublish = true")
    return table


def _error(member: Member, problem: str, fix: str) -> ConfigError:
    return ConfigError(member.pyproject, f"[{_TABLE}] {problem}", fix=fix)


def unpublishable_reason(member: Member, config: PublishConfig) -> str | None:
    """Why member is never published (None: it is publishable)."""
    if not member.package:
        return "uv does not build it (`tool.uv.package = false`, or no [build-system])"
    classifiers = member.data.get("project", {}).get("classifiers") or []
    if PRIVATE in classifiers:
        return f"its classifiers hold `{PRIVATE}`"
    if not config.publish:
        return f"[{_TABLE}] publish = false"
    return None

"""Sibling pins: a requirement on a workspace member rewritten to require the version this
run releases (`==` by default, `~=` or `>=` as the sibling asks), its extras and marker kept."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

from ws.errors import ConfigError

KeyPath = tuple[str, ...]


def pinned(text: str, version: str, operator: str, where: Path, key: str) -> str:
    """text (a requirement on a sibling) requiring `operator version`; a ConfigError when
    what text already asks excludes the version being released."""
    req = Requirement(text)
    if req.url:
        raise ConfigError(where, f"`{key}` requires {req.name} by URL", fix="require it by name")
    if req.specifier and not req.specifier.contains(Version(version), prereleases=True):
        raise ConfigError(
            where,
            f"`{key}` asks {text!r}, but this release of {req.name} is {version}",
            fix=f"widen the requirement, or release {req.name} in the range it asks",
        )
    req.specifier = SpecifierSet(f"{operator}{version}")
    return str(req)


def pinned_lists(
    project: Mapping[str, Any], versions: Mapping[str, tuple[str, str]], where: Path
) -> dict[KeyPath, dict[int, str]]:
    """The items of [project] dependencies and optional-dependencies naming a sibling in
    versions (name -> (version, operator)), rewritten: key path -> {index: new text}."""
    lists: list[tuple[KeyPath, Any]] = [(("project", "dependencies"), project.get("dependencies"))]
    extras = project.get("optional-dependencies") or {}
    lists += [(("project", "optional-dependencies", x), reqs) for x, reqs in extras.items()]
    updates: dict[KeyPath, dict[int, str]] = {}
    for keys, reqs in lists:
        for i, text in enumerate(reqs or []):
            name = canonicalize_name(Requirement(text).name)
            if name in versions:
                version, operator = versions[name]
                key = ".".join(keys) + f"[{i}]"
                updates.setdefault(keys, {})[i] = pinned(text, version, operator, where, key)
    return updates

"""The version each member is released as: its static [project] version, or one from git
tags (`<member>-v<version>`): the tag's version on the tagged commit, and
X.Y.(Z+1).devN after it, N counting the commits that touched the member or a workspace
dependency it requires. Never a local (`+`) part, which PyPI refuses."""

from __future__ import annotations

import re
from pathlib import Path

from packaging.version import InvalidVersion, Version

from ws import git
from ws.errors import ConfigError
from ws.publish.config import PublishConfig
from ws.publish.plan import Plan, metadata_edges
from ws.workspace.members import Member, Workspace


def release_versions(ws: Workspace, plan: Plan) -> dict[str, str]:
    """Every planned member's release version (git is asked only when a member wants it)."""
    tags: list[str] | None = None
    versions: dict[str, str] = {}
    for member in plan.members:
        config = plan.configs[member.name]
        if config.version == "static":
            versions[member.name] = static_version(member)
            continue
        tags = git.tags_merged(ws.root) if tags is None else tags
        paths = [str(ws.members[n].rel) for n in sorted(requirement_closure(ws, member.name))]
        versions[member.name] = git_version(ws.root, member, config, tags, paths)
    return versions


def static_version(member: Member) -> str:
    if "version" in member.dynamic or member.version is None:
        raise ConfigError(
            member.pyproject,
            f"{member.name}: its version is dynamic, which ws publish cannot read before building",
            fix="write [project] version, or take it from git tags: "
            '[tool.ws.publish] version = "git"',
        )
    return member.version


def requirement_closure(ws: Workspace, name: str) -> set[str]:
    """name and every sibling its metadata requires, transitively."""
    seen, todo = set(), [name]
    while todo:
        current = todo.pop()
        if current not in seen:
            seen.add(current)
            todo += [d.name for d in metadata_edges(ws.members[current])]
    return seen


def tag_version(pattern: str, name: str, tag: str) -> Version | None:
    """The version tag names for member name under pattern, else None."""
    head, tail = pattern.split("{version}")
    prefix, suffix = head.replace("{name}", name), tail.replace("{name}", name)
    found = re.fullmatch(f"{re.escape(prefix)}(.+){re.escape(suffix)}", tag)
    if found is None:
        return None
    try:
        return Version(found[1])
    except InvalidVersion:
        return None


def git_version(
    root: Path, member: Member, config: PublishConfig, tags: list[str], paths: list[str]
) -> str:
    """The tag's version at the tag, else the next patch's .devN (N: commits since the tag
    touching paths); 0.0.1.devN with no tag yet."""
    found = [(v, t) for t in tags if (v := tag_version(config.tag, member.name, t)) is not None]
    if any(v.local for v, _ in found):
        raise ConfigError(
            member.pyproject,
            f"{member.name}: a release tag carries a local version (`+...`), which PyPI refuses",
            fix="tag releases with plain versions, e.g. "
            + config.tag.format(name=member.name, version="1.2.0"),
        )
    base, tag = max(found) if found else (Version("0.0.0"), None)
    count = git.count_commits(root, f"refs/tags/{tag}" if tag else None, paths)
    if tag is not None and count == 0:
        return str(base)
    return next_dev(base, count)


def next_dev(base: Version, count: int) -> str:
    """The development release after base: X.Y.(Z+1).devN, or after a pre-release the next
    one's (1.0.0rc1 -> 1.0.0rc2.devN), as setuptools-scm guesses it."""
    if base.pre is not None:
        letter, number = base.pre
        return f"{base.base_version}{letter}{number + 1}.dev{count}"
    major, minor, micro = (*base.release, 0, 0)[:3]
    return f"{major}.{minor}.{micro + 1}.dev{count}"

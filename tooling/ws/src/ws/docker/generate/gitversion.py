"""Versions from git tags: which members' backends take one, and the version setuptools-scm
would give the checkout, so that an image builds them without `.git` in its context.

Each backend documents an environment variable that replaces its git query:
SETUPTOOLS_SCM_PRETEND_VERSION (setuptools-scm, and hatch-vcs, which uses it),
PDM_BUILD_SCM_VERSION (pdm-backend) and UV_DYNAMIC_VERSIONING_BYPASS (uv-dynamic-versioning).
"""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path
from typing import Any

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from ws.errors import CommandFailed, GitError, WsError
from ws.git import git
from ws.workspace.members import Member

SETUPTOOLS_SCM = "SETUPTOOLS_SCM_PRETEND_VERSION"
PDM = "PDM_BUILD_SCM_VERSION"
UV_DYNAMIC = "UV_DYNAMIC_VERSIONING_BYPASS"
# The build argument the Dockerfile feeds those variables from, and its value for a plain
# `docker build` (a valid version that says it is not a real one).
VERSION_ARG = "WS_GIT_VERSION"
DEFAULT_VERSION = "0.0.0+unknown"
# setuptools-scm's own query and its default tag_regex.
DESCRIBE = ("describe", "--dirty", "--tags", "--long", "--match", "*[0-9]*")
_TAG = re.compile(r"^(?:[\w-]+-)?(?P<version>[vV]?\d+(?:\.\d+){0,2}[^\+]*)(?:\+.*)?$")
_SCM_REQUIRES = frozenset({"setuptools-scm", "hatch-vcs"})


def version_overrides(member: Member) -> tuple[str, ...]:
    """The variables through which member's backend takes its version instead of asking git;
    () when its version does not come from git."""
    if "version" not in member.dynamic:
        return ()
    tool = _table(member.data.get("tool"))
    hatch_source = _table(_table(tool.get("hatch")).get("version")).get("source")
    pdm_source = _table(_table(tool.get("pdm")).get("version")).get("source")
    requires = _table(member.data.get("build-system")).get("requires")
    listed = requires if isinstance(requires, list) else []
    names = {_requirement_name(r) for r in listed if isinstance(r, str)}
    found = set()
    if "setuptools_scm" in tool or hatch_source == "vcs" or names & _SCM_REQUIRES:
        found.add(SETUPTOOLS_SCM)
    if pdm_source == "scm":
        found.add(PDM)
    if hatch_source == "uv-dynamic-versioning" or "uv-dynamic-versioning" in tool:
        found.add(UV_DYNAMIC)
    return tuple(sorted(found))


def _table(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _requirement_name(text: str) -> str:
    found = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", text)
    return canonicalize_name(found[1]) if found else ""


def describe_version(root: Path, today: date) -> str:
    """The version setuptools-scm's defaults give the checkout at root (guess-next-dev,
    node-and-date): the tag on a clean tagged commit, else the next version's .devN."""
    try:
        described = git(root, *DESCRIBE).strip()
    except CommandFailed:  # no tag yet: setuptools-scm counts from 0.0
        head = git(root, "rev-parse", "--verify", "--quiet", "HEAD").strip()
        commits = int(git(root, "rev-list", "--count", "HEAD").strip() or 0)
        dirty = bool(git(root, "status", "--porcelain", "--untracked-files=no").strip())
        return scm_version("0.0", commits, f"g{head[:7]}", dirty, today)
    dirty = described.endswith("-dirty")
    tag, distance, node = described.removesuffix("-dirty").rsplit("-", 2)
    return scm_version(tag, int(distance), node, dirty, today)


def scm_version(tag: str, distance: int, node: str | None, dirty: bool, today: date) -> str:
    """setuptools-scm's guess-next-dev version with its node-and-date local part."""
    version = tag_version(tag)
    if distance == 0 and not dirty:
        return version
    local = "" if node is None else f"+{node}"
    if dirty:
        local += f"{'.' if local else '+'}d{today:%Y%m%d}"
    return f"{_guess_next(version)}.dev{distance}{local}"


def tag_version(tag: str) -> str:
    """The version a tag names, as setuptools-scm reads it (`v1.2`, `pkg-1.2` -> `1.2`)."""
    found = _TAG.match(tag)
    try:
        return str(Version(found["version"])) if found else str(Version(tag))
    except InvalidVersion as e:
        raise GitError(
            f"the git tag {tag!r} names no version, so the images cannot take one from it",
            fix="tag releases with versions (v1.2.3), or move the tag",
        ) from e


def _guess_next(version: str) -> str:
    """The release after version: the .dev0 it precedes, else its last number plus one."""
    public = version.partition("+")[0]
    if ".dev" in public:
        return public.rsplit(".dev", 1)[0]
    found = re.match(r"(.*?)(\d+)$", public)
    if found is None:
        raise WsError(f"cannot guess the version after {public!r}: it does not end in a number")
    return f"{found[1]}{int(found[2]) + 1}"

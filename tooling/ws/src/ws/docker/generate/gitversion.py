"""Versions from git tags: which members' backends take one, and the version each backend
gives the checkout (asked of the backend itself), so that an image builds them without `.git`
in its context.

Each backend documents an environment variable that replaces its git query:
SETUPTOOLS_SCM_PRETEND_VERSION (setuptools-scm, and hatch-vcs, which uses it),
PDM_BUILD_SCM_VERSION (pdm-backend) and UV_DYNAMIC_VERSIONING_BYPASS (uv-dynamic-versioning).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packaging.utils import canonicalize_name

from ws.errors import WsError
from ws.uv import built_version
from ws.workspace.members import Member

SETUPTOOLS_SCM = "SETUPTOOLS_SCM_PRETEND_VERSION"
PDM = "PDM_BUILD_SCM_VERSION"
UV_DYNAMIC = "UV_DYNAMIC_VERSIONING_BYPASS"
# The build argument the Dockerfile feeds those variables from, and its value for a plain
# `docker build` (a valid version that says it is not a real one).
VERSION_ARG = "WS_GIT_VERSION"
DEFAULT_VERSION = "0.0.0+unknown"
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


@dataclass(frozen=True)
class BackendVersions:
    """What the members' own backends give this checkout: a version, or why there is none."""

    versions: Mapping[str, str]
    failures: Mapping[str, str]


def backend_versions(
    root: Path, folders: Mapping[str, Path], uv: str, env: Mapping[str, str]
) -> BackendVersions:
    """Ask each member's build backend for its version (one `uv build` each): re-implementing
    setuptools-scm, hatch-vcs, pdm-backend and uv-dynamic-versioning, each with settings of
    its own (tag_regex, git_describe_command, format, bump, ...), gave versions they would not."""
    versions: dict[str, str] = {}
    failures: dict[str, str] = {}
    for name, folder in folders.items():
        try:
            versions[name] = built_version(uv, root, name, env, folder)
        except WsError as e:
            failures[name] = e.message
    return BackendVersions(versions, failures)

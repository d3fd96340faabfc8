"""Exact environments: one virtual environment per member under <root>/.ws/envs, holding
what the member's lock installs and the member's own dependency groups, nothing a sibling
(or the root) declares.

uv makes each one from the root lock, for the member alone (`uv sync --frozen --package M`,
each of M's groups named: `--all-groups` would also take a group of the root's that M lacks),
hard-linking from uv's cache. What it installed is then proven against the member lock: a
distribution the member lock does not hold is an error, never a quiet pass.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from ws import proc, uv
from ws.errors import CommandFailed, LockError, WsError
from ws.state import Records, digest, file_part, state_dir
from ws.workspace.members import Member, Workspace

ENVS_DIR = "envs"
_RECORD = "run/env/"
_DIST_INFO = re.compile(r"^(?P<name>[^-]+)-[^-]+\.dist-info$")


@dataclass(frozen=True)
class ExactEnv:
    """A member's environment, ready: where it is and the Python it runs."""

    path: Path
    python_version: str

    @property
    def bin(self) -> Path:
        return self.path / "bin"


def env_path(ws: Workspace, name: str) -> Path:
    return ws.root / ".ws" / ENVS_DIR / name


def bytecode_store(ws: Workspace) -> Path:
    """Where the environments' shared bytecode is kept (ws.run.bytecode)."""
    return ws.root / ".ws" / "bytecode"


def groups_of(member: Member) -> list[str]:
    """The member's own dependency groups (uv's legacy dev-dependencies are its `dev`)."""
    groups = set(member.data.get("dependency-groups", {}) or {})
    if member.data.get("tool", {}).get("uv", {}).get("dev-dependencies"):
        groups.add("dev")
    return sorted(groups)


def root_groups_naming(ws: Workspace, program: str) -> list[str]:
    """The root's dependency groups that name program's distribution (pytest in the root's
    dev group): what a shared environment gives every member, and an exact one does not."""
    groups = ws.data.get("dependency-groups") or {}
    found = {
        group
        for group, requirements in (groups.items() if isinstance(groups, dict) else ())
        if any(_names(r, program) for r in requirements if isinstance(requirements, list))
    }
    legacy = ws.data.get("tool", {}).get("uv", {}).get("dev-dependencies") or []
    if isinstance(legacy, list) and any(_names(r, program) for r in legacy):
        found.add("dev")
    return sorted(found)


def _names(requirement: object, program: str) -> bool:
    if not isinstance(requirement, str):
        return False  # an {include-group = ...} table
    try:
        return canonicalize_name(Requirement(requirement).name) == canonicalize_name(program)
    except InvalidRequirement:
        return False


def sync_argv(uv_binary: str, member: Member) -> list[str]:
    argv = [uv_binary, "sync", "--frozen", "--package", member.name, "--all-extras"]
    argv += ["--no-default-groups", "--no-progress", "--quiet"]
    for group in groups_of(member):
        argv += ["--group", group]
    return argv


def env_key(
    ws: Workspace,
    member: Member,
    member_lock: bytes,
    uv_id: str,
    installs: Collection[str],
    built_files: str = "",
    python_request: str = "",
) -> str:
    """What the environment is made from: the member lock, the pyprojects of the members it
    installs (their editable installs read them), the Python asked for (the root's pin,
    UV_PYTHON: python_request), the uv, and the files of the path sources it installs built
    (not editable)."""
    parts: list[bytes | str] = [uv_id, " ".join(sync_argv("uv", member)), member_lock]
    parts += [file_part(ws.root / ".python-version")]
    if python_request:  # none: the key is as it was without
        parts += ["python", python_request]
    for name in sorted(installs):
        parts += [name, file_part(ws.members[name].pyproject)]
    if built_files:  # none: the key is as it was without
        parts += ["built", built_files]
    return digest(parts)


def ensure_env(
    ws: Workspace,
    member: Member,
    *,
    uv_binary: str,
    env: Mapping[str, str],
    key: str,
    allowed: Collection[str],
    records: Records,
    rebuilt: Collection[str] = (),
) -> ExactEnv:
    """member's exact environment: reused while this machine recorded it made with key, else
    made (again) by uv, the path sources in rebuilt built afresh, and proven to hold only
    distributions in allowed (the member lock's)."""
    state_dir(ws.root)
    path = env_path(ws, member.name)
    entry = _RECORD + member.name
    version = python_version(path)
    if version is not None and records.vouches(entry, key):
        return ExactEnv(path, version)
    environ = {k: v for k, v in env.items() if k != "VIRTUAL_ENV"}
    environ["UV_PROJECT_ENVIRONMENT"] = str(path)
    try:
        # uv keeps a built path source installed while its version and pyproject.toml are
        # unchanged: its code may not be, so it is built again whenever the env is made
        reinstall = [arg for name in sorted(rebuilt) for arg in ("--reinstall-package", name)]
        proc.run([*sync_argv(uv_binary, member), *reinstall], cwd=ws.root, env=environ)
    except CommandFailed as e:
        raise WsError(
            f"uv could not make {member.name}'s environment in {path}: {uv.first_error(e.stderr)}",
            fix="if the lock is stale, run `ws sync-locks`; else correct what uv reports",
        ) from e
    _prove(member.name, path, allowed)
    version = python_version(path)
    if version is None:
        raise WsError(f"uv made {path} without a pyvenv.cfg", fix=f"remove {path} and run again")
    records.note(entry, key)
    return ExactEnv(path, version)


def pyvenv_cfg(path: Path) -> dict[str, str] | None:
    """The fields of the environment's pyvenv.cfg, in their order; None when it has none."""
    try:
        text = (path / "pyvenv.cfg").read_text("utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    return {k.strip(): v.strip() for k, _, v in (line.partition("=") for line in text.splitlines())}


def python_version(path: Path) -> str | None:
    """The Python version an environment runs (its pyvenv.cfg says), or None if it is none."""
    fields = pyvenv_cfg(path) or {}
    return next((v for k, v in fields.items() if k in ("version_info", "version")), None)


def installed(path: Path) -> set[str]:
    """The normalised names of the distributions installed in an environment."""
    found: set[str] = set()
    for site in path.glob("lib/python*/site-packages"):
        for entry in os.listdir(site):
            match = _DIST_INFO.match(entry)
            if match:
                found.add(re.sub(r"[-_.]+", "-", match["name"]).lower())
    return found


def _prove(name: str, path: Path, allowed: Collection[str]) -> None:
    extra = sorted(installed(path) - set(allowed))
    if extra:
        raise LockError(
            f"{name}'s environment {path} holds {', '.join(extra)}, which its member lock "
            "does not install",
            fix=f"report this to ws's maintainers; remove {path} meanwhile",
        )


def remove_envs(ws: Workspace) -> bool:
    """Remove every exact environment (ws clean); whether there were any."""
    removed = False
    for folder in (ws.root / ".ws" / ENVS_DIR, bytecode_store(ws)):
        if folder.is_dir() and not folder.is_symlink():
            shutil.rmtree(folder)
            removed = True
    return removed

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

from ws import proc, uv
from ws.errors import CommandFailed, LockError, WsError
from ws.locks.uv_inputs import digest
from ws.state import Records, file_part, state_dir
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


def groups_of(member: Member) -> list[str]:
    """The member's own dependency groups (uv's legacy dev-dependencies are its `dev`)."""
    groups = set(member.data.get("dependency-groups", {}) or {})
    if member.data.get("tool", {}).get("uv", {}).get("dev-dependencies"):
        groups.add("dev")
    return sorted(groups)


def sync_argv(uv_binary: str, member: Member) -> list[str]:
    argv = [uv_binary, "sync", "--frozen", "--package", member.name, "--all-extras"]
    argv += ["--no-default-groups", "--no-progress", "--quiet"]
    for group in groups_of(member):
        argv += ["--group", group]
    return argv


def env_key(
    ws: Workspace, member: Member, member_lock: bytes, uv_id: str, installs: Collection[str]
) -> str:
    """What the environment is made from: the member lock, the pyprojects of the members it
    installs (their editable installs read them), the root's Python pin and the uv."""
    parts: list[bytes | str] = [uv_id, " ".join(sync_argv("uv", member)), member_lock]
    parts += [file_part(ws.root / ".python-version")]
    for name in sorted(installs):
        parts += [name, file_part(ws.members[name].pyproject)]
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
) -> ExactEnv:
    """member's exact environment: reused while this machine recorded it made with key, else
    made (again) by uv and proven to hold only distributions in allowed (the member lock's)."""
    state_dir(ws.root)
    path = env_path(ws, member.name)
    entry = _RECORD + member.name
    version = python_version(path)
    if version is not None and records.vouches(entry, key):
        return ExactEnv(path, version)
    environ = {k: v for k, v in env.items() if k != "VIRTUAL_ENV"}
    environ["UV_PROJECT_ENVIRONMENT"] = str(path)
    try:
        proc.run(sync_argv(uv_binary, member), cwd=ws.root, env=environ)
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


def python_version(path: Path) -> str | None:
    """The Python version an environment runs (its pyvenv.cfg says), or None if it is none."""
    try:
        text = (path / "pyvenv.cfg").read_text("utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    for line in text.splitlines():
        key, _, value = line.partition("=")
        if key.strip() in ("version_info", "version"):
            return value.strip()
    return None


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
    folder = ws.root / ".ws" / ENVS_DIR
    if folder.is_symlink() or not folder.is_dir():
        return False
    shutil.rmtree(folder)
    return True

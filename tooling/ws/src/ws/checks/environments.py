"""The exact environment a check reads: <root>/.ws/envs/<member>, what the member's part of
the root lock installs with its extras and its own dependency groups, made by uv (`uv sync
--frozen`: from the lock as it is, never resolving; hard links from uv's cache)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from ws import proc
from ws.errors import CommandFailed, WsError
from ws.uv import first_error


def environment_folder(root: Path, member: str) -> Path:
    return root / ".ws" / "envs" / member


def sync_argv(uv: str, member: str) -> list[str]:
    return [uv, "sync", "--frozen", "--package", member, "--all-extras", "--all-groups"]


def exact_environment(root: Path, member: str, uv: str, env: Mapping[str, str]) -> Path:
    """The member's exact environment, made or brought up to date (uv answers at once
    when it is: nothing to install)."""
    folder = environment_folder(root, member)
    try:
        proc.run(
            sync_argv(uv, member), cwd=root, env={**env, "UV_PROJECT_ENVIRONMENT": str(folder)}
        )
    except CommandFailed as e:
        raise WsError(
            f"{member}: uv could not make its exact environment in {folder}:\n"
            f"{first_error(e.stderr)}",
            fix="offline, uv's cache must hold every package the member installs: run once "
            "with the network (without --offline or UV_OFFLINE); else `ws sync-locks` if "
            "the lock is stale",
        ) from e
    return folder

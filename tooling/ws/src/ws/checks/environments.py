"""The exact environments a check reads: `ws run`'s (ws.run.envs), made or reused as a run
makes or reuses them, keyed on the member lock cut from the root lock."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from ws.errors import LockError
from ws.run import envs
from ws.state import Records
from ws.workspace.lockfile import RELOCK_FIX, Lock
from ws.workspace.member_lock import member_lock, reach
from ws.workspace.members import Workspace


def exact_environment(
    ws: Workspace,
    lock: Lock,
    name: str,
    *,
    uv_binary: str,
    uv_version: str,
    env: Mapping[str, str],
    records: Records,
) -> Path:
    """The folder of member name's exact environment, made if this machine has not."""
    target = lock.member(name)
    if target is None:
        raise LockError(f"{lock.path}: has no entry for workspace member {name}", fix=RELOCK_FIX)
    member = ws.members[name]
    installs = frozenset(lock.entries[i].name for i in reach(lock, target))
    members = frozenset(n for n in installs if n in ws.members)
    python = env.get("UV_PYTHON", "")
    key = envs.env_key(ws, member, member_lock(lock, name), uv_version, members, "", python)
    made = envs.ensure_env(
        ws, member, uv_binary=uv_binary, env=env, key=key, allowed=installs, records=records
    )
    return made.path

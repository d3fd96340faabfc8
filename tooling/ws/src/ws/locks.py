"""Per-member locks: the root lock brought up to date by uv, each member's part derived from it.

uv is the source of truth. `uv lock` at the root resolves the whole workspace, as a user or
Renovate runs it; a member lock is then the part of that root lock the member can install
(see lockfile.member_lock), so it agrees with the root by construction, needs no network,
no build backend and no copy of the workspace, and changes only when something the member
installs changes.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ws import lockfile
from ws.errors import CommandFailed, ConfigError, LockError, StaleFiles
from ws.fsio import atomic_write_bytes, refuse_links, remove_abandoned
from ws.local_sources import fingerprint, local_sources
from ws.mutex import workspace_lock
from ws.proc import run
from ws.state import file_part, read_digests, remember_digests, write_digests
from ws.uv import identity, lock_argv
from ws.workspace import Workspace

Status = Literal["created", "updated", "unchanged", "fresh"]
Events = Callable[[str, str], None]
CACHE_FILE = "locks.json"
LOCK_NAME = "uv.lock"
# The lock of a root that is itself a project: `uv.lock` there is the workspace's.
ROOT_MEMBER_LOCK = "uv.member.lock"
# Root files that steer uv besides pyproject.toml.
ROOT_UV_FILES = ("uv.toml", ".python-version")
FIX = "run `ws sync-locks` and commit the locks"
# The entries of .ws/locks.json: what the root lock and the member locks were made from.
ROOT_KEY = ""
MEMBERS_KEY = "members"


def _derivation_code() -> bytes:
    """The code that derives member locks: a new ws re-derives them."""
    return Path(lockfile.__file__).read_bytes()


@dataclass(frozen=True)
class LockOptions:
    uv: str
    env: Mapping[str, str]
    upgrade: bool = False
    upgrade_packages: tuple[str, ...] = ()
    wait: float = 300.0


@dataclass
class SyncReport:
    root: Status = "fresh"
    members: dict[str, Status] = field(default_factory=dict)

    @property
    def changed(self) -> list[str]:
        return [n for n, s in self.members.items() if s in ("created", "updated")]


def _quiet(_name: str, _status: str) -> None:
    """The default event sink: ws core never prints."""


def member_lock_path(ws: Workspace, name: str) -> Path:
    """Where member name's lock lives: beside its pyproject.toml, except for the root project."""
    member = ws.members[name]
    return ws.root / ROOT_MEMBER_LOCK if member.path == ws.root else member.path / LOCK_NAME


def sync_locks(
    ws: Workspace,
    names: Collection[str] | None,
    opts: LockOptions,
    on_event: Events = _quiet,
) -> SyncReport:
    """Bring the root lock up to date with uv, then write every member lock that differs
    from its part of the root lock."""
    with workspace_lock(ws.root, timeout=opts.wait):
        for folder in {ws.root, *(m.path for m in ws.members.values())}:
            remove_abandoned(folder)  # what a killed run left beside the locks
        cache = read_digests(ws.root, CACHE_FILE)
        before = dict(cache)
        report = SyncReport(root=_sync_root(ws, opts, cache, on_event))
        targets = _targets(ws, names)
        if _as_left(ws, cache):
            report.members = dict.fromkeys(targets, "unchanged")
        else:
            for name, data in sorted(derive_locks(ws, targets).items()):
                report.members[name] = _write(member_lock_path(ws, name), data, ws.root)
                on_event(name, report.members[name])
            if names is None:
                cache[MEMBERS_KEY] = _members_key(ws, targets)
        if cache != before:
            write_digests(ws.root, CACHE_FILE, cache)
    return report


def _fresh(cache: Mapping[str, str], entry: str, key: str) -> bool:
    """Whether the cache holds key for entry ("" keys are never cached)."""
    return bool(key) and cache.get(entry) == key


def _as_left(ws: Workspace, cache: Mapping[str, str]) -> bool:
    """Whether every member lock is as the last full run left it (so still its part)."""
    return _fresh(cache, MEMBERS_KEY, _members_key(ws, sorted(ws.members)))


def _members_key(ws: Workspace, targets: Sequence[str]) -> str:
    """The root lock and every member lock as they are: when a run finds them as the last
    one left them, each member lock is still the root lock's part (the derivation is a pure
    function of the two, and of the code that derives)."""
    parts: list[bytes | str] = [_derivation_code(), (ws.root / LOCK_NAME).read_bytes()]
    for name in targets:
        path = member_lock_path(ws, name)
        parts += [name, file_part(path)]
    return _digest(parts)


def _targets(ws: Workspace, names: Collection[str] | None) -> list[str]:
    """Every member, or names and the members installing them (the graph is needed, and
    networkx imported, only then)."""
    if not names:
        return sorted(ws.members)
    from ws.graph import build_graph, dependents  # noqa: PLC0415

    return sorted(dependents(build_graph(ws), names))


def derive_locks(ws: Workspace, names: Sequence[str]) -> dict[str, bytes]:
    """Each named member's lock, derived from the root lock. Every member is tried once;
    a failure raises one LockError per distinct cause, naming every member it hit."""
    root_lock = lockfile.read_lock(ws.root / LOCK_NAME)
    derived: dict[str, bytes] = {}
    causes: dict[tuple[str, str | None], list[str]] = {}  # (message, fix) -> members
    for name in names:
        try:
            derived[name] = lockfile.member_lock(root_lock, name)
        except LockError as e:
            causes.setdefault((e.message, e.fix), []).append(name)
    if causes:
        fixes = dict.fromkeys(fix for _, fix in causes if fix)
        raise LockError(
            "\n".join(
                f"{cause}\n  (members: {', '.join(hit)})" for (cause, _), hit in causes.items()
            ),
            fix="; ".join(fixes) or None,
        )
    return derived


def _sync_root(ws: Workspace, opts: LockOptions, cache: dict[str, str], on_event: Events) -> Status:
    """`uv lock` at the root, as a user runs it; skipped when nothing uv reads has moved."""
    upgrading = opts.upgrade or bool(opts.upgrade_packages)
    if not upgrading and _fresh(cache, ROOT_KEY, _root_key(ws, opts)):
        return "fresh"
    on_event("root", "locking")
    path = ws.root / LOCK_NAME
    refuse_links(path, root=ws.root)  # uv writes the lock in place, through any link
    before = path.read_bytes() if path.is_file() else None
    argv = lock_argv(opts.uv, upgrade=opts.upgrade, upgrade_packages=list(opts.upgrade_packages))
    try:
        run(argv, cwd=ws.root, env=opts.env)
    except CommandFailed as e:
        raise LockError(
            f"uv could not lock the workspace ({path}):\n{e.stderr.strip()}",
            fix="fix the requirement uv names, then run `ws sync-locks` again",
        ) from e
    except BaseException:
        _restore(path, before, ws.root)  # uv writes in place: an interrupted write is undone
        raise
    cache[ROOT_KEY] = _root_key(ws, opts)
    after = path.read_bytes()
    status: Status = "created" if before is None else "unchanged" if after == before else "updated"
    on_event("root", status)
    return status


def _restore(path: Path, before: bytes | None, root: Path) -> None:
    current = path.read_bytes() if path.is_file() else None
    if current == before:
        return
    if before is None:
        path.unlink(missing_ok=True)
    else:
        atomic_write_bytes(path, before, root=root)


def _write(path: Path, data: bytes, root: Path) -> Status:
    if not path.exists() and not path.is_symlink():
        atomic_write_bytes(path, data, root=root)
        return "created"
    if not path.is_symlink() and path.read_bytes() == data:
        return "unchanged"
    atomic_write_bytes(path, data, root=root)  # refuses a link, with its fix
    return "updated"


def check_locks(
    ws: Workspace,
    names: Collection[str] | None,
    opts: LockOptions,
    *,
    dependents: bool = True,
) -> None:
    """Raise StaleFiles listing every lock that `ws sync-locks` would change. Writes no lock;
    what it found fresh goes to ws's state (.ws), so that the next check skips it.

    names: only the root lock and these members' locks, and (dependents) the locks of the
    members installing them; None: every lock."""
    cache = read_digests(ws.root, CACHE_FILE)
    verified: dict[str, str] = {}  # what this check found fresh, for the next one to skip
    problems = _check_root(ws, opts, cache, verified)
    if not (ws.root / LOCK_NAME).is_file():
        raise StaleFiles(problems, FIX)
    targets = _targets(ws, names) if dependents or not names else sorted(names)
    as_left = _members_key(ws, sorted(ws.members))  # the locks are not written in between
    if not _fresh(cache, MEMBERS_KEY, as_left):
        problems += _stale_members(ws, targets)
        if not problems and names is None:  # targets are every member: as_left is their key
            verified[MEMBERS_KEY] = as_left
    if problems:
        raise StaleFiles(problems, FIX)
    remember_digests(ws.root, CACHE_FILE, verified)


def _stale_members(ws: Workspace, targets: Sequence[str]) -> list[str]:
    derived = derive_locks(ws, targets)
    problems = []
    for name in targets:
        path = member_lock_path(ws, name)
        current = path.read_bytes() if path.is_file() else None
        if current is None:
            problems.append(f"{path}: missing")
        elif current != derived[name]:
            problems.append(f"{path}: out of date with the root lock ({name}'s part of it)")
    return problems


def _check_root(
    ws: Workspace, opts: LockOptions, cache: Mapping[str, str], verified: dict[str, str]
) -> list[str]:
    path = ws.root / LOCK_NAME
    if not path.is_file():
        return [f"{path}: missing"]
    key = _root_key(ws, opts)
    if _fresh(cache, ROOT_KEY, key):
        return []
    try:
        run(lock_argv(opts.uv, locked=True), cwd=ws.root, env=opts.env)
    except CommandFailed as e:
        return [f"{path}: out of date with the workspace's pyproject.toml files ({_why(e)})"]
    if key:
        verified[ROOT_KEY] = key
    return []


def _why(error: CommandFailed) -> str:
    lines = [line for line in error.stderr.splitlines() if "needs to be updated" in line]
    return (lines or error.stderr.strip().splitlines()[-1:] or ["uv lock --locked failed"])[0]


def _digest(parts: Sequence[bytes | str]) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(part.encode() if isinstance(part, str) else part)
        h.update(b"\0")
    return h.hexdigest()


def _uv_view(data: dict[str, Any]) -> str:
    """A pyproject as uv reads it: without ws's own [tool.ws] table (image pins, labels,
    commands, which uv never reads), so that `ws docker pin` leaves the lock cache valid."""
    tool = data.get("tool")
    if isinstance(tool, dict) and "ws" in tool:
        data = {**data, "tool": {k: v for k, v in tool.items() if k != "ws"}}
    return json.dumps(data, sort_keys=True, default=str)


def _root_key(ws: Workspace, opts: LockOptions) -> str:
    """What `uv lock` reads, when ws can see all of it; "" (never cached) when a build
    backend computes a member's metadata from files and tags only uv asks for."""
    if any(m.dynamic for m in ws.members.values()):
        return ""
    path = ws.root / LOCK_NAME
    parts: list[bytes | str] = [identity(opts.uv), _uv_view(ws.data)]
    parts += [(ws.root / f).read_bytes() for f in ROOT_UV_FILES if (ws.root / f).is_file()]
    parts += [_uv_view(m.data) for m in ws.members.values()]
    try:
        parts += [fingerprint(ws.root, s) for s in local_sources(ws, ws.members)]
    except ConfigError:
        return ""  # a path source outside the root: uv reads it, ws does not key it
    parts.append(path.read_bytes() if path.is_file() else b"")
    return _digest(parts)

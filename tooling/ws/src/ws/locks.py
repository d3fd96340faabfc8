"""Per-member locks: each member's closure locked alone, in agreement with the root lock."""

from __future__ import annotations

import hashlib
import json
import tempfile
from collections.abc import Callable, Collection, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import networkx as nx

from ws import lockfile
from ws.errors import CommandFailed, LockError, StaleFiles
from ws.fsio import atomic_write_bytes
from ws.graph import closure, dependents
from ws.isolate import ROOT_UV_FILES, isolated_root_pyproject, make_copy
from ws.local_sources import fingerprint, local_sources
from ws.mutex import state_dir, workspace_lock
from ws.proc import run
from ws.uv import lock_argv, version_of
from ws.workspace import Workspace

Status = Literal["created", "updated", "unchanged", "fresh"]
Events = Callable[[str, str], None]
CACHE_FILE = "locks.json"
LOCK_NAME = "uv.lock"


@dataclass(frozen=True)
class LockOptions:
    uv: str
    env: Mapping[str, str]
    jobs: int = 2
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


@dataclass
class _Run:
    """What one sync or check run knows: the workspace, its graph, options and cache."""

    ws: Workspace
    graph: nx.DiGraph
    opts: LockOptions
    on_event: Events = _quiet
    cache: dict[str, str] = field(default_factory=dict)

    @property
    def root_lock(self) -> Path:
        return self.ws.root / LOCK_NAME

    def lock_of(self, name: str) -> Path:
        return self.ws.members[name].path / LOCK_NAME

    def closure(self, name: str) -> set[str]:
        return closure(self.graph, name)

    def run_uv(self, cwd: Path, **options: bool | Sequence[str]) -> bytes:
        run(lock_argv(self.opts.uv, **options), cwd=cwd, env=self.opts.env)  # type: ignore[arg-type]  # options mirror lock_argv's keywords
        return (cwd / LOCK_NAME).read_bytes()


def sync_locks(
    ws: Workspace,
    graph: nx.DiGraph,
    names: Collection[str] | None,
    opts: LockOptions,
    on_event: Events = _quiet,
) -> SyncReport:
    """Bring the root lock up to date, then re-lock every member whose inputs changed."""
    with workspace_lock(ws.root, timeout=opts.wait):
        state = _Run(ws, graph, opts, on_event, _load_cache(ws.root))
        report = SyncReport(root=_sync_root(state))
        targets = dependents(graph, names) if names else set(ws.members)
        root_pins = lockfile.read_lock(state.root_lock)
        stale = sorted(n for n in targets if state.cache.get(n) != _member_key(state, n, root_pins))
        report.members = {n: "fresh" for n in sorted(targets) if n not in stale}
        fresh_locks, failures = _lock_members(state, stale, root_pins)
        for name, data in fresh_locks.items():
            report.members[name] = _write(state.lock_of(name), data)
            state.cache[name] = _member_key(state, name, root_pins)
        _save_cache(ws.root, state.cache)
    if failures:
        raise LockError("\n".join(failures))
    return report


def _sync_root(state: _Run) -> Status:
    """Re-lock the whole workspace in a copy (so the root lock is replaced atomically)."""
    opts = state.opts
    upgrading = opts.upgrade or bool(opts.upgrade_packages)
    if not upgrading and state.cache.get("") == _root_key(state):
        return "fresh"
    state.on_event("root", "locking")
    seed = state.root_lock.read_bytes() if state.root_lock.exists() else None
    root_text = state.ws.pyproject.read_text(encoding="utf-8")
    with tempfile.TemporaryDirectory(prefix="ws-root-lock-") as tmp:
        copy = make_copy(state.ws, state.ws.members.values(), root_text, Path(tmp), seed)
        try:
            data = state.run_uv(
                copy, upgrade=opts.upgrade, upgrade_packages=list(opts.upgrade_packages)
            )
        except CommandFailed as e:
            raise LockError(
                f"uv could not lock the workspace ({state.root_lock}):\n{e.stderr.strip()}"
            ) from e
    status = _write(state.root_lock, data)
    state.cache[""] = _root_key(state)
    state.on_event("root", status)
    return status


def _lock_members(
    state: _Run, names: list[str], root_pins: list[lockfile.Pin]
) -> tuple[dict[str, bytes], list[str]]:
    """Lock each member in its own copy, in parallel; check each result before keeping it."""
    seed = state.root_lock.read_bytes()

    def one(name: str) -> tuple[str, bytes | None, str | None]:
        state.on_event(name, "locking")
        try:
            # The root lock was just resolved online, so uv's cache holds every index page
            # and wheel metadata a member's closure needs: try without the network first.
            data = _lock_member(state, name, seed, offline=True)
            if not _agreement(state, name, data, root_pins):
                return name, data, None
        except LockError:
            pass  # something was not cached: resolve online
        try:
            data = _lock_member(state, name, seed)
        except LockError as e:
            return name, None, str(e)
        problems = _agreement(state, name, data, root_pins)
        return name, (None if problems else data), ("\n".join(problems) or None)

    done: dict[str, bytes] = {}
    failures: list[str] = []
    with ThreadPoolExecutor(max_workers=max(1, state.opts.jobs)) as pool:
        for name, data, error in pool.map(one, names):
            if data is not None:
                done[name] = data
            if error:
                failures.append(error)
                state.on_event(name, "failed")
    return done, failures


def _lock_member(
    state: _Run, name: str, seed: bytes | None, *, locked: bool = False, offline: bool = False
) -> bytes:
    members = [state.ws.members[n] for n in sorted(state.closure(name))]
    root_text = isolated_root_pyproject(state.ws, state.closure(name))
    with tempfile.TemporaryDirectory(prefix=f"ws-lock-{name}-") as tmp:
        copy = make_copy(state.ws, members, root_text, Path(tmp), seed)
        try:
            return state.run_uv(copy, locked=locked, offline=offline)
        except CommandFailed as e:
            member = state.ws.members[name]
            raise LockError(
                f"{name} ({member.rel}): uv lock failed; its lock was left as it was:\n"
                f"{e.stderr.strip()}"
            ) from e


def _agreement(state: _Run, name: str, data: bytes, root_pins: list[lockfile.Pin]) -> list[str]:
    lock_path = state.lock_of(name)
    pins = lockfile.parse_lock(data.decode("utf-8"), lock_path)
    problems = [f"{lock_path}: {p}" for p in lockfile.disagreements(pins, root_pins)]
    problems += [
        f"{lock_path}: holds workspace member {m}, outside {name}'s closure"
        for m in lockfile.foreign_members(pins, state.ws.members, state.closure(name))
    ]
    return problems


def _write(path: Path, data: bytes) -> Status:
    if not path.exists():
        atomic_write_bytes(path, data)
        return "created"
    if path.read_bytes() == data:
        return "unchanged"
    atomic_write_bytes(path, data)
    return "updated"


def check_locks(
    ws: Workspace, graph: nx.DiGraph, names: Collection[str] | None, opts: LockOptions
) -> None:
    """Raise StaleFiles listing every lock that `ws sync-locks` would change; write nothing."""
    state = _Run(ws, graph, opts, cache=_load_cache(ws.root))
    problems = _check_root(state)
    if not state.root_lock.exists():
        raise StaleFiles(problems, "run `ws sync-locks` and commit the locks")
    root_pins = lockfile.read_lock(state.root_lock)
    targets = sorted(dependents(graph, names) if names else ws.members)
    with ThreadPoolExecutor(max_workers=max(1, opts.jobs)) as pool:
        for found in pool.map(lambda n: _check_member(state, n, root_pins), targets):
            problems += found
    if problems:
        raise StaleFiles(problems, "run `ws sync-locks` and commit the locks")


def _check_root(state: _Run) -> list[str]:
    if not state.root_lock.exists():
        return [f"{state.root_lock}: missing"]
    if state.cache.get("") == _root_key(state):
        return []
    try:
        run(lock_argv(state.opts.uv, locked=True), cwd=state.ws.root, env=state.opts.env)
    except CommandFailed as e:
        why = _first_line(e)
        return [f"{state.root_lock}: out of date with the workspace's pyproject.toml files ({why})"]
    return []


def _check_member(state: _Run, name: str, root_pins: list[lockfile.Pin]) -> list[str]:
    path = state.lock_of(name)
    if not path.exists():
        return [f"{path}: missing"]
    if state.cache.get(name) == _member_key(state, name, root_pins):
        return []
    data = path.read_bytes()
    try:
        _lock_member(state, name, data, locked=True)
    except LockError as e:
        why = _first_line(e)
        return [f"{path}: out of date with the pyproject.toml files of {name}'s closure ({why})"]
    return _agreement(state, name, data, root_pins)


def _first_line(error: Exception) -> str:
    lines = [line for line in str(error).splitlines() if "needs to be updated" in line]
    return (lines or str(error).splitlines()[-1:] or ["uv lock --locked failed"])[0].strip()


def _digest(parts: Sequence[bytes | str]) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(part.encode() if isinstance(part, str) else part)
        h.update(b"\0")
    return h.hexdigest()


def _uv_view(data: dict[str, Any]) -> str:
    """A pyproject as uv reads it: without ws's own [tool.ws] table (image pins, labels,
    commands, which uv never reads), so that `ws docker pin` or a member's image settings
    leave the lock cache valid."""
    tool = data.get("tool")
    if isinstance(tool, dict) and "ws" in tool:
        data = {**data, "tool": {k: v for k, v in tool.items() if k != "ws"}}
    return json.dumps(data, sort_keys=True, default=str)


def _root_key(state: _Run) -> str:
    ws = state.ws
    parts: list[bytes | str] = [version_of(state.opts.uv), _uv_view(ws.data)]
    parts += [(ws.root / f).read_bytes() for f in ROOT_UV_FILES if (ws.root / f).is_file()]
    parts += [_uv_view(m.data) for m in ws.members.values()]
    parts += [fingerprint(ws.root, s) for s in local_sources(ws, ws.members)]
    parts.append(state.root_lock.read_bytes() if state.root_lock.exists() else b"")
    return _digest(parts)


def _member_key(state: _Run, name: str, root_pins: list[lockfile.Pin]) -> str:
    """What a member lock depends on: its closure's pyprojects, their path sources, and the
    root pins it holds."""
    path = state.lock_of(name)
    if not path.exists():
        return ""
    lock = path.read_bytes()
    held = {p.name for p in lockfile.parse_lock(lock.decode("utf-8"), path)}
    members = sorted(state.closure(name))
    parts: list[bytes | str] = [
        version_of(state.opts.uv),
        isolated_root_pyproject(state.ws, members),
    ]
    parts += [_uv_view(state.ws.members[m].data) for m in members]
    parts += [fingerprint(state.ws.root, s) for s in local_sources(state.ws, members)]
    parts += lockfile.subset_key(root_pins, held)
    parts.append(lock)
    return _digest(parts)


def _load_cache(root: Path) -> dict[str, str]:
    try:
        data = json.loads((root / ".ws" / CACHE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def _save_cache(root: Path, cache: dict[str, str]) -> None:
    text = json.dumps(cache, indent=1, sort_keys=True)
    atomic_write_bytes(state_dir(root) / CACHE_FILE, text.encode("utf-8"))

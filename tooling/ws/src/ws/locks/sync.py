"""Per-member locks: the root lock brought up to date by uv, each member's part derived from it.

uv is the source of truth. `uv lock` at the root resolves the whole workspace, as a user or
Renovate runs it; a member lock is then the part of that root lock the member can install
(see ws.workspace.member_lock), so it agrees with the root by construction, needs no network,
no build backend and no copy of the workspace, and changes only when something the member
installs changes.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from ws.errors import CommandFailed, LockError, StaleFiles, WsError
from ws.fsio import atomic_write_bytes, refuse_links, remove_abandoned
from ws.locks.uv_inputs import lock_inputs, lock_key
from ws.mutex import lock_if_possible, workspace_lock
from ws.proc import Running, run, start
from ws.state import Records, bytes_part, digest, no_records, regular_bytes
from ws.uv import first_error, lock_argv
from ws.workspace.members import Workspace, read_toml_text

if TYPE_CHECKING:
    from ws.workspace import lockfile

Status = Literal["created", "updated", "unchanged", "fresh"]
Events = Callable[[str, str], None]
LOCK_NAME = "uv.lock"
# The lock of a root that is itself a project: `uv.lock` there is the workspace's.
ROOT_MEMBER_LOCK = "uv.member.lock"
# What `uv lock --locked` says of a lock that is out of date (and only of one).
STALE_MARK = "needs to be updated"
FIX = "run `ws sync-locks` and commit the locks"
# The records (ws.state) of what a run verified: the root lock against what uv reads, and
# every member lock against the root lock.
ROOT_RECORD = "locks/root"
MEMBERS_RECORD = "locks/members"


# Where the code that reads the lock and derives member locks lives (found without importing
# it: a no-op run derives nothing).
_DERIVATION = Path(__file__).resolve().parents[1] / "workspace"


@functools.cache
def _derivation_code() -> bytes:
    """The code that derives member locks: a new ws re-derives them."""
    return b"".join((_DERIVATION / name).read_bytes() for name in ("lockfile.py", "member_lock.py"))


@dataclass(frozen=True)
class LockOptions:
    uv: str
    env: Mapping[str, str]
    upgrade: bool = False
    upgrade_packages: tuple[str, ...] = ()
    wait: float = 300.0
    home: Path | None = None  # the user's home, where uv finds its user-level uv.toml


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
    records: Records | None = None,
) -> SyncReport:
    """Bring the root lock up to date with uv, then write every member lock that differs
    from its part of the root lock. What it verified is noted in records."""
    records = records if records is not None else no_records(ws.root)
    # A .ws git tracks holds no lock of ws's: the member locks are still written whole.
    with workspace_lock(ws.root, timeout=opts.wait, writable=records.writable):
        for folder in {ws.root, *(m.path for m in ws.members.values())}:
            remove_abandoned(folder)  # what a killed run left beside the locks
        status, root_lock = _sync_root(ws, opts, records, on_event)
        report = SyncReport(root=status)
        targets = _targets(ws, names)
        current = member_locks(ws)
        if records.vouches(MEMBERS_RECORD, _members_key(root_lock, current)):
            report.members = dict.fromkeys(targets, "unchanged")
            return report
        derived = derive_locks(ws, ws.lock.parse(root_lock), targets)
        for name, data in sorted(derived.items()):
            report.members[name] = _write(member_lock_path(ws, name), data, current[name], ws.root)
            current[name] = data
            on_event(name, report.members[name])
        if names is None:  # every member lock is now its part, as written
            records.note(MEMBERS_RECORD, _members_key(root_lock, current))
    return report


def member_locks(ws: Workspace) -> dict[str, bytes | None]:
    """Every member lock's bytes, read once a run: None where there is no regular file (none
    yet, or a link, which ws never reads through nor writes through)."""
    return {name: regular_bytes(member_lock_path(ws, name)) for name in sorted(ws.members)}


def _members_key(root_lock: bytes, current: Mapping[str, bytes | None]) -> str:
    """The root lock and every member lock as read: while they stay so, each member lock is
    still the root lock's part (the derivation is a pure function of the two, and of the
    code that derives)."""
    parts: list[bytes | str] = [_derivation_code(), root_lock]
    for name, data in sorted(current.items()):
        parts += [name, bytes_part(data)]
    return digest(parts)


def _targets(ws: Workspace, names: Collection[str] | None) -> list[str]:
    """Every member, or names and the members installing them (the graph is needed, and
    networkx imported, only then)."""
    if not names:
        return sorted(ws.members)
    from ws.workspace.graph import build_graph, dependents

    return sorted(dependents(build_graph(ws), names))


def derive_locks(ws: Workspace, lock: lockfile.Lock, names: Sequence[str]) -> dict[str, bytes]:
    """Each named member's lock, derived from the root lock. Every member is tried once; a
    failure raises one LockError per distinct cause, naming every member it hit."""
    from ws.workspace import member_lock  # only to derive (a no-op run does not)

    derived: dict[str, bytes] = {}
    causes: dict[tuple[str, str | None], list[str]] = {}  # (message, fix) -> members
    for name in names:
        try:
            derived[name] = member_lock.member_lock(lock, name)
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


def _sync_root(
    ws: Workspace, opts: LockOptions, records: Records, on_event: Events
) -> tuple[Status, bytes]:
    """`uv lock` at the root, as a user runs it, skipped when this machine recorded that
    nothing uv reads has moved since; the status and the root lock's bytes after it."""
    path = ws.lock.path
    before = ws.lock.read()
    inputs = _inputs(ws, opts)
    upgrading = opts.upgrade or bool(opts.upgrade_packages)
    if before is not None and not upgrading:
        if records.vouches(ROOT_RECORD, lock_key(inputs, before)):
            return "fresh", before
    on_event("root", "locking")
    refuse_links(path, root=ws.root)  # uv writes the lock in place, through any link
    argv = lock_argv(opts.uv, upgrade=opts.upgrade, upgrade_packages=list(opts.upgrade_packages))
    try:
        run(argv, cwd=ws.root, env=opts.env)
    except CommandFailed as e:
        raise LockError(
            f"uv could not lock the workspace ({path}):\n{e.stderr.strip()}",
            fix="fix what uv reports (a requirement, the index, the network, a setting), "
            "then run `ws sync-locks` again",
        ) from e
    except BaseException:
        _restore(path, before, ws.root)  # uv writes in place: an interrupted write is undone
        raise
    after = ws.lock.read()  # again: uv may have rewritten it
    if after is None:
        raise LockError(f"`uv lock` left no {path}", fix="run `uv lock` to see why")
    key = lock_key(inputs, after)
    if key and _root_key(_as_now(ws), opts, after) == key:  # nothing moved while uv ran
        records.note(ROOT_RECORD, key)
    status: Status = "created" if before is None else "unchanged" if after == before else "updated"
    on_event("root", status)
    return status, after


def _read_lock(path: Path) -> bytes | None:
    return path.read_bytes() if path.is_file() else None


def _restore(path: Path, before: bytes | None, root: Path) -> None:
    current = _read_lock(path)
    if current == before:
        return
    if before is None:
        path.unlink(missing_ok=True)
    else:
        atomic_write_bytes(path, before, root=root)


def _write(path: Path, data: bytes, current: bytes | None, root: Path) -> Status:
    """Write data over current (the file's bytes as read; None: no regular file there)."""
    if current == data:
        return "unchanged"
    created = current is None and not path.exists() and not path.is_symlink()
    atomic_write_bytes(path, data, root=root)  # refuses a link, with its fix
    return "created" if created else "updated"


def check_locks(
    ws: Workspace,
    names: Collection[str] | None,
    opts: LockOptions,
    *,
    dependents: bool = True,
    records: Records | None = None,
) -> Mapping[str, bytes | None]:
    """Raise StaleFiles listing every lock that `ws sync-locks` would change; else every
    member lock's bytes as judged (None: none there), for a caller to read no lock again.
    Writes no lock; what it verified is noted in records, so that a later check on this
    machine skips it.

    names: only the root lock and these members' locks, and (dependents) the locks of the
    members installing them; None: every lock. Holds the workspace lock where .ws allows,
    and keys each record on the very bytes it checked."""
    records = records if records is not None else no_records(ws.root)
    with lock_if_possible(ws.root, timeout=opts.wait, writable=records.writable):
        problems, current = _check_all(ws, names, opts, records, dependents=dependents)
    if problems:
        raise StaleFiles(problems, FIX)
    return current


def _check_all(
    ws: Workspace,
    names: Collection[str] | None,
    opts: LockOptions,
    records: Records,
    *,
    dependents: bool,
) -> tuple[list[str], Mapping[str, bytes | None]]:
    """The root lock's problems, then the member locks', and the member locks as read. uv
    checks the root lock while ws derives the member locks (both read the same bytes; each
    has a core of its own)."""
    current = member_locks(ws)
    root_lock = ws.lock.read()  # under the workspace lock: what uv is about to read
    if root_lock is None:
        return [f"{ws.lock.path}: missing"], current
    root_key = _root_key(ws, opts, root_lock)
    lock = None if records.vouches(ROOT_RECORD, root_key) else ws.lock.parse(root_lock)
    uv = None if lock is None else start(lock_argv(opts.uv, locked=True), cwd=ws.root, env=opts.env)
    try:
        found = _check_members(ws, names, records, root_lock, lock, current, dependents)
    except BaseException:
        if uv is not None:
            uv.stop()
        raise
    root = [] if uv is None else _root_verdict(ws, opts, records, uv, root_key)
    if not root and not found[0] and found[1]:
        records.note(MEMBERS_RECORD, found[1])
    return root + found[0], current


def _check_members(
    ws: Workspace,
    names: Collection[str] | None,
    records: Records,
    root_lock: bytes,
    lock: lockfile.Lock | None,
    current: Mapping[str, bytes | None],
    dependents: bool,
) -> tuple[list[str], str]:
    """The member locks (current: as read) that differ from their part of the root lock,
    and the key to record when none does and every member was checked ("" otherwise)."""
    targets = _targets(ws, names) if dependents or not names else sorted(names)
    key = _members_key(root_lock, current)  # of the very bytes compared below
    if records.vouches(MEMBERS_RECORD, key):
        return [], ""
    problems = _stale_members(ws, lock or ws.lock.parse(root_lock), targets, current)
    return problems, key if names is None else ""


def _stale_members(
    ws: Workspace,
    lock: lockfile.Lock,
    targets: Sequence[str],
    current: Mapping[str, bytes | None],
) -> list[str]:
    derived = derive_locks(ws, lock, targets)
    problems = []
    for name in targets:
        path = member_lock_path(ws, name)
        if current[name] is None and (path.exists() or path.is_symlink()):
            problems.append(f"{path}: not a regular file (ws writes member locks as files)")
        elif current[name] is None:
            problems.append(f"{path}: missing")
        elif current[name] != derived[name]:
            problems.append(f"{path}: out of date with the root lock ({name}'s part of it)")
    return problems


def _root_verdict(
    ws: Workspace, opts: LockOptions, records: Records, uv: Running, key: str
) -> list[str]:
    """What `uv lock --locked` said of the root lock. The record is made only when what uv
    read was the same before and after it ran: the pyprojects are read again for that (the
    run's own were read before uv started, and an editor may have saved one meanwhile)."""
    path = ws.lock.path
    try:
        uv.wait()
    except CommandFailed as e:
        return [f"{path}: out of date with the workspace's pyproject.toml files ({_why(e, path)})"]
    if key and _root_key(_as_now(ws), opts, ws.lock.read()) == key:
        records.note(ROOT_RECORD, key)
    return []


def _as_now(ws: Workspace) -> Workspace | None:
    """ws with its pyprojects as they are now (read again, and parsed again only where the
    text changed: not loaded again, a fifth of the time on 80 members); None when one no
    longer reads."""
    try:
        root = _now(ws.pyproject, ws.text, ws.data)
        members = {}
        for name, m in ws.members.items():  # a root project's pyproject is the root's
            text, data = root if m.path == ws.root else _now(m.pyproject, m.text, m.data)
            members[name] = dataclasses.replace(m, data=data, text=text)
    except (WsError, OSError):
        return None
    return dataclasses.replace(ws, data=root[1], text=root[0], members=members)


def _now(path: Path, text: str, data: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """path's text and data now: data as it was read when the text is the one read then."""
    now = path.read_bytes().decode("utf-8", errors="replace").removeprefix("\ufeff")
    return (text, data) if now == text else read_toml_text(path)


def _why(error: CommandFailed, path: Path) -> str:
    """uv's line saying the lock needs updating; any other failure (a network, a setting, a
    uv version uv refuses) is no verdict on the lock: a LockError with uv's first error."""
    stale = [line for line in error.stderr.splitlines() if STALE_MARK in line]
    if stale:
        return stale[0]
    raise LockError(
        f"`uv lock --locked` could not tell whether {path} is up to date:\n"
        f"{first_error(error.stderr)}",
        fix="fix what uv reports (the index, the network, a setting), then check again",
    ) from error


def _inputs(ws: Workspace | None, opts: LockOptions) -> tuple[bytes | str, ...] | None:
    """What `uv lock` reads besides the lock (ws.locks.uv_inputs), read once where a run
    keys several versions of the lock on it; None when ws cannot see all of it."""
    return None if ws is None else lock_inputs(ws, opts.uv, opts.env, home=opts.home)


def _root_key(ws: Workspace | None, opts: LockOptions, lock: bytes | None) -> str:
    """The key of the lock's bytes and of what uv reads with them, read now."""
    return lock_key(_inputs(ws, opts), lock)

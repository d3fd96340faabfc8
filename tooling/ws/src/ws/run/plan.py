"""What `ws run TASK` will do, decided before anything runs: for each member the task
applies to, its task, its member lock, what it installs and the digests of its inputs.

Everything here is read once per run: the root lock (each member's lock derived from it in
memory, as `ws sync-locks` would write it), git's view of the files, the task declarations.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import PurePosixPath

from ws.errors import ConfigError
from ws.locks.sync import derive_locks
from ws.run.inputs import ROOT_FILES, Tree, above, key_of, read_tree
from ws.run.tasks import Task, declared, task_names
from ws.workspace.lockfile import Entry, Lock
from ws.workspace.member_lock import path_sources, reach
from ws.workspace.members import Workspace


@dataclass(frozen=True)
class Job:
    """One member's part of the run."""

    member: str
    task: Task
    member_lock: bytes
    installs: frozenset[str]  # every distribution its member lock holds (normalised names)
    members: frozenset[str]  # the workspace members among them, itself included
    inputs: str  # the digest of its files, its siblings' and path sources', and the root's
    # The path sources it installs as built copies (not editable), and the digest of their
    # files: a change to them must reach its environment, which uv alone would not rebuild.
    built: tuple[str, ...] = ()
    built_files: str = ""


@dataclass(frozen=True)
class Plan:
    jobs: list[Job]
    lock: Lock | None  # the root lock, as read for the jobs (None when there is no job)


def plan(ws: Workspace, task_name: str, names: Sequence[str] | None) -> Plan:
    """The jobs for task_name over names (None: every member that has the task)."""
    tasks = declared(ws)
    if not any(task_name in t for t in tasks.values()):
        known = ", ".join(task_names(tasks)) or "(none declared)"
        raise ConfigError(
            ws.pyproject,
            f"no task named {task_name!r} in [tool.ws.tasks] (tasks: {known})",
            fix=f'declare it at the root: [tool.ws.tasks] {task_name} = "..."',
        )
    chosen = sorted(names) if names is not None else sorted(ws.members)
    chosen = [n for n in chosen if task_name in tasks[n]]
    if not chosen:
        return Plan([], None)
    lock = ws.lock.parsed(fix="run `ws sync-locks` (or `uv lock`)")  # never through a link
    derived = derive_locks(ws, lock, chosen)
    tree = read_tree(ws.root)
    root_part = _root_files(tree)
    prints = tree.by_member(m.rel.as_posix() for m in ws.members.values())
    sourced: dict[str, str] = {}  # a path source's digest, made once for all who install it
    jobs = []
    for name in chosen:
        target = lock.member(name)
        assert target is not None  # noqa: S101 -- derive_locks raised for a missing member
        installs = frozenset(lock.entries[i].name for i in reach(lock, target))
        members = frozenset(n for n in installs if n in ws.members)
        found = path_sources(lock, name)
        sources = [PurePosixPath(e.local_path or "").as_posix() for e in found]
        for path in sources:
            if path not in sourced:
                sourced[path] = tree.fingerprint(path)
        inputs = _inputs(
            ws, tree, prints, sourced, root_part, name, sorted(members), sources, derived[name]
        )
        built = sorted((e.name, p) for e, p in zip(found, sources, strict=True) if _built(e))
        job = Job(name, tasks[name][task_name], derived[name], installs, members, inputs)
        jobs.append(
            replace(job, built=tuple(n for n, _ in built), built_files=_files(sourced, built))
        )
    return Plan(jobs, lock)


def _built(entry: Entry) -> bool:
    """Whether uv installs entry as a built copy of a local folder or file (not editable)."""
    source = entry.data.get("source")
    return isinstance(source, dict) and ("directory" in source or "path" in source)


def _files(sourced: Mapping[str, str], built: Sequence[tuple[str, str]]) -> str:
    parts: list[str] = []
    for name, path in built:
        parts += [name, sourced[path]]
    return key_of(parts) if parts else ""


def _root_files(tree: Tree) -> str:
    parts: list[str] = []
    for name in ROOT_FILES:
        parts += [name, tree.files.get(name, "-")]
    return key_of(parts)


def _inputs(
    ws: Workspace,
    tree: Tree,
    prints: Mapping[str, str],
    sourced: Mapping[str, str],
    root_part: str,
    member: str,
    members: Sequence[str],
    sources: Sequence[str],
    member_lock: bytes,
) -> str:
    parts: list[bytes | str] = [root_part, member_lock]
    for name in members:
        parts += ["member", name, prints[ws.members[name].rel.as_posix()]]
    for rel in sorted(sources):
        parts += ["path", rel, sourced[rel]]
    parts += above(tree, ws.members[member].rel)  # none: the key is as it was without
    return key_of(parts)


def task_key(
    job: Job, argv: Sequence[str], env: Mapping[str, str], python: str, uv_version: str
) -> str:
    """The key job's result is stored under: its inputs, the command line, the values of the
    variables the task declares, and the Python and uv versions."""
    parts: list[str] = ["ws-run-1", job.inputs, job.task.name, python, uv_version]
    parts += ["argv", str(len(argv)), *argv]
    for name in job.task.env:
        parts += [name, "set" if name in env else "unset", env.get(name, "")]
    parts += ["outputs", *job.task.outputs]
    return key_of(parts)

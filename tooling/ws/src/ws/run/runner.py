"""Running the planned jobs: up to `jobs` members at once, each in its exact environment,
each result looked up before its task starts and stored after it passed.

Only a pass is stored (as Turborepo and Nx do): a failure, perhaps a flaky one, runs again
next time. A stopped run (Ctrl-C, a timeout) stores nothing for what it stopped.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from ws import proc
from ws.errors import WsError
from ws.fsio import atomic_write_bytes
from ws.run import bytecode, envs
from ws.run.plan import Job, task_key
from ws.run.store import MAX_BLOB
from ws.run.stored import Result, Stored, TamperedResult, pack, unpack
from ws.run.tasks import applies
from ws.state import Records, state_dir
from ws.workspace.members import Workspace

# Variables that would make a task see something other than its member's environment.
_DROPPED = ("VIRTUAL_ENV", "PYTHONHOME", "PYTHONPATH", "CONDA_PREFIX", "__PYVENV_LAUNCHER__")
MAX_OUTPUT_FILE = 64 << 20
_BYTECODE = "run/bytecode/"  # records: the environment's bytecode was shared and collected


@dataclass(frozen=True)
class Outcome:
    member: str
    status: str  # passed | failed | skipped | timeout | cancelled | error
    exit_code: int | None = None
    seconds: float = 0.0
    cached: bool = False
    output: bytes = b""
    reason: str | None = None
    key: str | None = None
    notes: tuple[str, ...] = ()  # what the user should know (a refused stored result)


class Stores:
    """Where results are looked up and kept: this machine's store, and any shared ones."""

    def __init__(
        self,
        local_get: Callable[[str], Stored | None],
        local_put: Callable[[str, Stored], None],
        remote_get: Sequence[Callable[[str], Stored | None]] = (),
        remote_put: Callable[[str, Stored], None] | None = None,
    ) -> None:
        self.local_get, self.local_put = local_get, local_put
        self.remote_get, self.remote_put = remote_get, remote_put


@dataclass(frozen=True)
class RunOptions:
    uv: str
    uv_version: str
    env: Mapping[str, str]  # the environment tasks start from (their variables, PATH)
    jobs: int = 1
    extra_args: tuple[str, ...] = ()
    use_cache: bool = True
    timeout: float | None = None
    records: Records | None = None
    cancel: threading.Event = field(default_factory=threading.Event)


Events = Callable[[str, str, object], None]  # (what, member, detail)


def run_jobs(
    ws: Workspace, jobs: Sequence[Job], opts: RunOptions, stores: Stores, on_event: Events
) -> list[Outcome]:
    """Every job's outcome, in the order of jobs. Ctrl-C stops every running task (and what
    it started) before KeyboardInterrupt goes on."""
    results: dict[str, Outcome] = {}
    # .ws made here, once: members making it at once would each replace its .gitignore, one
    # writer's temporary file removed by another's clean-up as abandoned (an "error" result)
    if opts.records is not None:
        opts.records.require_writable("ws run")
    state_dir(ws.root)
    with ThreadPoolExecutor(max_workers=max(1, opts.jobs), thread_name_prefix="ws-run") as pool:
        futures: dict[Future[Outcome], str] = {
            pool.submit(_guarded, ws, job, opts, stores, on_event): job.member for job in jobs
        }
        try:
            pending = set(futures)
            while pending:
                done, pending = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
                for future in done:
                    results[futures[future]] = future.result()
        except BaseException:
            opts.cancel.set()
            raise
    return [results[job.member] for job in jobs]


def _guarded(
    ws: Workspace, job: Job, opts: RunOptions, stores: Stores, on_event: Events
) -> Outcome:
    if opts.cancel.is_set():
        return Outcome(job.member, "cancelled")
    try:
        outcome = _one(ws, job, opts, stores, on_event)
    except WsError as e:
        outcome = Outcome(
            job.member, "error", reason=e.message if not e.fix else f"{e.message} ({e.fix})"
        )
    on_event("done", job.member, outcome)
    return outcome


def _one(ws: Workspace, job: Job, opts: RunOptions, stores: Stores, on_event: Events) -> Outcome:
    member = ws.members[job.member]
    why_not = applies(job.task, member)
    if why_not is not None:
        return Outcome(job.member, "skipped", reason=why_not)
    records = opts.records or _no_records(ws)
    exact, env_key, fresh_bytecode = _environment(ws, job, opts, records, on_event)
    environ = task_environment(opts.env, exact)
    program = find_program(job.task.argv[0], member.path, environ["PATH"])
    if program is None:
        return _no_program(ws, job, member.name)
    argv = (*job.task.argv, *opts.extra_args)
    key = task_key(job, argv, opts.env, exact.python_version, opts.uv_version)
    notes: list[str] = []
    if opts.use_cache:
        hit = _lookup(key, stores, notes, member.name)
        if hit is not None:
            _restore(member.path, hit.files)
            return _replayed(job.member, hit, key, notes)
    on_event("start", job.member, None)
    outcome = _execute(
        job, member.path, [program, *argv[1:]], environ, key, opts, stores, on_event, notes
    )
    if fresh_bytecode and outcome.status in ("passed", "failed"):
        bytecode.collect(envs.bytecode_store(ws), exact.path)  # for the next environments
        records.note(_BYTECODE + member.name, env_key)
    return outcome


def _replayed(member: str, hit: Result, key: str, notes: list[str]) -> Outcome:
    code = hit.exit_code
    return Outcome(
        member, _status(code), code, hit.seconds, True, hit.output, None, key, tuple(notes)
    )


def _environment(
    ws: Workspace, job: Job, opts: RunOptions, records: Records, on_event: Events
) -> tuple[envs.ExactEnv, str, bool]:
    """job's exact environment, its key, and whether its bytecode is still to be shared."""
    member = ws.members[job.member]
    on_event("env", job.member, None)
    python = opts.env.get("UV_PYTHON", "")
    env_key = envs.env_key(
        ws, member, job.member_lock, opts.uv_version, job.members, job.built_files, python
    )
    exact = envs.ensure_env(
        ws,
        member,
        uv_binary=opts.uv,
        env=opts.env,
        key=env_key,
        allowed=job.installs,
        records=records,
        rebuilt=job.built,
    )
    fresh = not records.vouches(_BYTECODE + member.name, env_key)
    if fresh:  # a new environment: take what its siblings compiled already
        bytecode.share(envs.bytecode_store(ws), exact.path)
    return exact, env_key, fresh


def _execute(
    job: Job,
    folder: Path,
    argv: list[str],
    environ: dict[str, str],
    key: str,
    opts: RunOptions,
    stores: Stores,
    on_event: Events,
    notes: list[str],
) -> Outcome:
    started = time.monotonic()
    done = proc.stream(
        argv,
        cwd=folder,
        env=environ,
        timeout=opts.timeout or job.task.timeout,
        cancel=opts.cancel,
        on_output=lambda data: on_event("output", job.member, data),
    )
    seconds = time.monotonic() - started
    if done.stopped is not None:
        limit = opts.timeout or job.task.timeout
        reason = (
            f"stopped after {limit:g} s (--timeout)" if done.stopped == "timeout" else "stopped"
        )
        return Outcome(job.member, done.stopped, None, seconds, False, done.output, reason, key)
    code = done.returncode if done.returncode is not None else -1
    if code == 0 and opts.use_cache:
        result = Result(0, done.output, seconds, collect_outputs(folder, job.task.outputs))
        _keep(key, pack(key, result), stores, notes, job.member)
    return Outcome(
        job.member, _status(code), code, seconds, False, done.output, key=key, notes=tuple(notes)
    )


def _status(code: int) -> str:
    return "passed" if code == 0 else "failed"


def _no_program(ws: Workspace, job: Job, member: str) -> Outcome:
    program = job.task.argv[0]
    reason = f"{program} is not installed in {member}'s environment"
    groups = envs.root_groups_naming(ws, program)
    if groups and ws.members[member].pyproject != ws.pyproject:
        # uv's shared .venv has the root's groups for every member; an exact one has not
        reason += f": only the workspace root declares it (dependency group {', '.join(groups)})"
    if job.task.own:  # the member asked for the task: its environment must have the tool
        fix = f"add it to a dependency group: uv add --package {member} --dev {program}"
        return Outcome(job.member, "error", reason=f"{reason}; {fix}")
    return Outcome(job.member, "skipped", reason=reason)


def _lookup(key: str, stores: Stores, notes: list[str], member: str) -> Result | None:
    """The stored result for key: this machine's, else a shared store's (then kept here)."""
    stored = stores.local_get(key)
    where = "this machine's result store"
    if stored is None:
        for get in stores.remote_get:
            try:
                stored = get(key)
            except WsError as e:  # the same for every member: shown once
                notes.append(e.message)
                continue
            if stored is not None:
                where = "the shared result store"
                break
    if stored is None:
        return None
    try:
        result = unpack(key, stored, where)
    except TamperedResult as e:
        notes.append(f"{member}: {e.message}; ws ran the task instead")
        return None
    if where != "this machine's result store":
        stores.local_put(key, stored)
    return result


def _keep(key: str, stored: Stored, stores: Stores, notes: list[str], member: str) -> None:
    largest = max(len(blob) for blob in stored.blobs.values())
    if largest > MAX_BLOB:  # said, else the next run's rerun of a pass would be a mystery
        notes.append(
            f"{member}: its output ({largest >> 20} MiB) is over the {MAX_BLOB >> 20} MiB "
            "ws stores: not stored, so it runs again next time"
        )
        return
    stores.local_put(key, stored)
    if stores.remote_put is not None:
        try:
            stores.remote_put(key, stored)
        except WsError as e:
            notes.append(f"the shared result store refused a result: {e.message}")


def task_environment(base: Mapping[str, str], exact: envs.ExactEnv) -> dict[str, str]:
    """The environment a task runs in: base without another environment's variables, the
    member's environment first on PATH, and no virtual environment after it."""
    environ = {k: v for k, v in base.items() if k not in _DROPPED}
    path = [str(exact.bin), *_outside_venvs(base.get("PATH", os.defpath))]
    environ["PATH"] = os.pathsep.join(path)
    environ["VIRTUAL_ENV"] = str(exact.path)
    return environ


def _outside_venvs(path: str) -> list[str]:
    """PATH's folders but those of a virtual environment (ws's own, an activated one): a tool
    must come from the member's environment or from the system, never from a sibling's."""
    return [p for p in path.split(os.pathsep) if p and not (Path(p).parent / "pyvenv.cfg").exists()]


def find_program(program: str, cwd: Path, path: str) -> str | None:
    """Where program is: in the member's environment (first on path), else a system tool
    on path; never a Python tool from outside the environment (a console script of another
    Python, a pyenv or asdf shim), which would run with that Python's packages."""
    if "/" in program:
        found = (cwd / program).resolve()
        return str(found) if os.access(found, os.X_OK) and found.is_file() else None
    found = proc.which(program, path)
    if found is None or Path(found).parent == Path(path.split(os.pathsep)[0]):
        return found
    return None if _python_tool(Path(found)) else found


def _python_tool(path: Path) -> bool:
    if path.parent.name == "shims":
        return True
    try:
        with path.open("rb") as handle:
            first = handle.readline(256)
    except OSError:
        return False
    return first.startswith(b"#!") and b"python" in first


def collect_outputs(folder: Path, patterns: Sequence[str]) -> dict[str, bytes]:
    """The declared output files a task left in its member's folder (regular files only)."""
    found: dict[str, bytes] = {}
    for pattern in patterns:
        for path in sorted(folder.glob(pattern)):
            if path.is_file() and not path.is_symlink() and path.stat().st_size <= MAX_OUTPUT_FILE:
                found[path.relative_to(folder).as_posix()] = path.read_bytes()
    return found


def _restore(folder: Path, files: Mapping[str, bytes]) -> None:
    """Write a stored result's output files back, only inside the member's folder."""
    for rel, data in files.items():
        pure = PurePosixPath(rel)
        if pure.is_absolute() or ".." in pure.parts or not pure.parts:
            raise WsError(f"a stored result names the output file {rel!r}, outside {folder}")
        target = folder.joinpath(*pure.parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(target, data, root=folder)


def _no_records(ws: Workspace) -> Records:
    from ws.state import no_records

    return no_records(ws.root)

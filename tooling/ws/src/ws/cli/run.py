"""`ws run TASK` and `ws clean`: parse, plan, run, show; the core is ws.run."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Annotated

import typer

from ws.cli.common import (
    SETTINGS,
    handle_errors,
    live_progress,
    load_workspace_only,
    lock_env,
    open_records,
    out,
    say,
    usage_error,
    warn,
    workspace_uv,
)

if TYPE_CHECKING:
    from ws.docker.pin.imageref import ImageRef
    from ws.run.plan import Plan
    from ws.run.remote import RemoteStore
    from ws.run.runner import Outcome, Stores
    from ws.state import Records
    from ws.workspace.members import Workspace

# What follows `--` on ws's command line: the task's own arguments (ws.cli.app.run sets it).
PASSTHROUGH: list[str] = []


@handle_errors
def run_task(
    task: Annotated[str, typer.Argument(help="The task, as [tool.ws.tasks] names it.")],
    members: Annotated[
        list[str] | None, typer.Argument(help="Only these members (default: all).")
    ] = None,
    affected: Annotated[
        bool, typer.Option("--affected", help="Only the members a change since --since affects.")
    ] = False,
    since: Annotated[
        str | None, typer.Option("--since", help="The git ref --affected compares with.")
    ] = None,
    jobs: Annotated[
        int | None,
        typer.Option("--jobs", "-j", show_default=False, help="Members at once (default: cores)."),
    ] = None,
    no_cache: Annotated[
        bool, typer.Option("--no-cache", help="Run every task; store nothing.")
    ] = False,
    timeout: Annotated[
        float | None,
        typer.Option("--timeout", show_default=False, help="Stop a task after this many seconds."),
    ] = None,
    cache_from: Annotated[
        list[str] | None,
        typer.Option("--cache-from", help="A registry repository to reuse results from."),
    ] = None,
    cache_to: Annotated[
        str | None,
        typer.Option("--cache-to", help="A registry repository to push results to."),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Stable JSON (see docs/json.md).")
    ] = False,
) -> None:
    """Run TASK in each member's exact environment; results reused while inputs are unchanged.
    Arguments after `--` go to the task."""
    from ws.run.plan import plan
    from ws.run.runner import RunOptions, run_jobs

    if affected and since is None:
        raise usage_error(
            "--affected needs --since REF", "ws run test --affected --since origin/main"
        )
    if jobs is not None and jobs < 1:
        raise usage_error("--jobs must be 1 or more", "ws run test -j 4")
    if timeout is not None and timeout <= 0:
        raise usage_error("--timeout must be a positive number of seconds", "--timeout 600")
    ws = load_workspace_only()
    names = _chosen(ws, members or [], since if affected else None)
    found = plan(ws, task, names)
    if not found.jobs:
        say(f"no member to run {task} in")
        return
    env = lock_env()
    uv_binary = workspace_uv(ws, env)
    records = open_records(ws)
    opts = RunOptions(
        uv=uv_binary,
        uv_version=_uv_version(uv_binary),
        env=env,
        jobs=jobs or os.cpu_count() or 1,
        extra_args=tuple(PASSTHROUGH),
        use_cache=not no_cache,
        timeout=timeout,
        records=records,
    )
    stores = _stores(ws, records, cache_from or [], cache_to)
    display = _display(task, len(found.jobs), as_json)
    try:
        outcomes = run_jobs(ws, found.jobs, opts, stores, display)
    finally:
        display.close()
        records.save()
    _explain(ws, found, outcomes)
    _finish(task, outcomes, as_json)


def _explain(ws: Workspace, found: Plan, outcomes: list[Outcome]) -> None:
    """For a member that failed on an import: what provides it and the `uv add` to run."""
    for o in outcomes:
        if o.status == "failed" and found.lock is not None and b"ModuleNotFoundError" in o.output:
            from ws.checks.imports import missing_module_hint  # only for such a failure

            hint = missing_module_hint(
                o.output.decode("utf-8", "replace"), ws, found.lock, o.member
            )
            if hint is not None:
                warn(hint)


def _finish(task: str, outcomes: list[Outcome], as_json: bool) -> None:
    from ws.cli.run_display import failed, run_json, summary_table
    from ws.errors import WsError

    if as_json:
        out(run_json(task, outcomes))
    else:
        say(summary_table(task, outcomes))
    if all(o.status == "skipped" for o in outcomes):
        # one line, however many members: each one's reason is above (and in --json)
        reasons = [o.reason or "" for o in outcomes]
        example = next((r for r in reasons if "is not installed" in r), reasons[0])
        raise WsError(
            f"no member could run {task}: {_members(len(outcomes))} skipped, e.g. {example}",
            fix="add the tool to each member's own dependency group "
            "(uv add --package MEMBER --dev TOOL): ws runs a member with what it declares",
        )
    if any(failed(o) for o in outcomes):
        raise typer.Exit(1)


def _chosen(ws: Workspace, members: list[str], since: str | None) -> list[str] | None:
    names = [ws.member(m).name for m in members] or None
    if since is None:
        return names
    from ws.workspace import changes
    from ws.workspace.graph import build_graph

    found = changes.affected(ws, build_graph(ws), since)
    for note in found.notes:
        warn(note)
    hit = set(found.affected)
    return sorted(hit if names is None else hit & set(names))


def _uv_version(binary: str) -> str:
    from ws.uv import version_of

    return version_of(binary)


def _stores(ws: Workspace, records: Records, cache_from: list[str], cache_to: str | None) -> Stores:
    """This machine's store, sealed with the key the records are (none where .ws is not
    trusted: a .ws a branch brings, or a link, holds no result this machine stored), and the
    shared ones."""
    from ws.run.runner import Stores
    from ws.run.store import LocalStore

    local = LocalStore(ws.root, records.key)
    froms, to = _remotes(ws, cache_from, cache_to)
    return Stores(
        local.get,
        local.put,
        remote_get=[store.get for store in froms],
        remote_put=to.put if to is not None else None,
    )


def _remotes(
    ws: Workspace, cache_from: list[str], cache_to: str | None
) -> tuple[list[RemoteStore], RemoteStore | None]:
    """The shared stores: the flags' where given, else [tool.ws.run]'s; one client each."""
    if not cache_from and not cache_to and "run" not in ws.data.get("tool", {}).get("ws", {}):
        return [], None  # no registry client imported for a run without one
    from ws.docker.builds.endpoint import default_config_dir
    from ws.registry.transport import proxy_settings
    from ws.run.remote import RemoteStore, remote_settings, store_reference

    environ = dict(os.environ)
    conf_from, conf_to = remote_settings(ws.data, ws.pyproject)
    froms = [store_reference(t, "--cache-from") for t in cache_from]
    froms = froms or [store_reference(t, "tool.ws.run.cache-from") for t in conf_from]
    to_text, where = (cache_to, "--cache-to") if cache_to else (conf_to, "tool.ws.run.cache-to")
    to = store_reference(to_text, where) if to_text else None
    config_dir, proxies = default_config_dir(environ), proxy_settings(environ)
    made: dict[ImageRef, RemoteStore] = {}
    for ref in [*froms, *([to] if to else [])]:
        made.setdefault(ref, RemoteStore(ref, config_dir=config_dir, proxies=proxies))
    return [made[r] for r in froms], (made[to] if to else None)


def _display(task: str, total: int, as_json: bool):
    from ws.cli.run_display import RunDisplay

    if os.environ.get("GITHUB_ACTIONS") == "true":
        mode = "github"
    elif live_progress() and not as_json:
        mode = "live"
    else:
        mode = "plain"
    stream = sys.stderr if as_json or SETTINGS.quiet else sys.stdout
    return RunDisplay(
        task,
        total,
        stream,
        mode=mode,
        show_all=SETTINGS.verbose > 0,
        quiet=SETTINGS.quiet > 0,
        colour=SETTINGS.color,
    )


@handle_errors
def clean(
    envs: Annotated[bool, typer.Option("--envs", help="Only the exact environments.")] = False,
    results: Annotated[bool, typer.Option("--results", help="Only the stored results.")] = False,
) -> None:
    """Remove what `ws run` keeps in .ws: the exact environments and the stored results."""
    from ws.run.envs import remove_envs
    from ws.run.store import LocalStore

    ws = load_workspace_only()
    open_records(ws).require_writable("ws clean")  # a .ws git tracks is the repository's
    both = not envs and not results
    removed = []
    if (envs or both) and remove_envs(ws):
        removed.append("exact environments")
    if (results or both) and LocalStore(ws.root, None).clear():
        removed.append("stored results")
    say(f"removed {' and '.join(removed)}" if removed else "nothing to remove")


def _members(count: int) -> str:
    return f"{count} member" if count == 1 else f"{count} members"

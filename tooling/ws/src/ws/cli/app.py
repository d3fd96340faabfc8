"""The ws command line: parse, call the core, print; the only place that prints or exits."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ws import __version__
from ws.cli.checks import imports as check_imports
from ws.cli.common import (
    SETTINGS,
    emit,
    handle_errors,
    live_progress,
    load,
    load_workspace_only,
    lock_env,
    open_records,
    out,
    run_app,
    say,
    usage_error,
    user_home,
    wants_color,
    warn,
    workspace_uv,
)
from ws.cli.docker import docker_app, docker_problems
from ws.cli.progress import LockProgress
from ws.cli.publish import publish
from ws.cli.run import PASSTHROUGH, clean, run_task

if TYPE_CHECKING:
    from ws.workspace.members import Workspace

app = typer.Typer(
    help="Manage a uv workspace: the workspace graph, per-member locks and Docker images.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


class ColorChoice(StrEnum):
    auto = "auto"
    always = "always"
    never = "never"


def _version_callback(value: bool) -> None:
    """ws's own version only: the uv a command runs depends on the workspace (and `uv
    --version` answers in milliseconds), so --version neither finds nor starts one."""
    if value:
        emit(f"ws {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    root: Annotated[
        Path | None,
        typer.Option(
            "--root",
            "--directory",
            help="The workspace root (default: found by walking up from here).",
        ),
    ] = None,
    quiet: Annotated[
        int,
        typer.Option(
            "--quiet", "-q", count=True, show_default=False, help="Less output; -qq: only errors."
        ),
    ] = 0,
    verbose: Annotated[
        int,
        typer.Option(
            "--verbose", "-v", count=True, show_default=False, help="Progress as plain lines too."
        ),
    ] = 0,
    color: Annotated[
        ColorChoice,
        typer.Option(
            "--color",
            show_default=False,
            help="Colour the output (default: auto, which honours NO_COLOR).",
        ),
    ] = ColorChoice.auto,
    offline: Annotated[
        bool, typer.Option("--offline", help="Pass --offline to uv: use only its cache.")
    ] = False,
    no_progress: Annotated[
        bool, typer.Option("--no-progress", help="No live progress lines.")
    ] = False,
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version_callback, is_eager=True, help="Show ws's version."
        ),
    ] = False,
) -> None:
    """Global options: accepted before or after the command, as uv's are."""
    SETTINGS.root = root
    SETTINGS.quiet = quiet
    SETTINGS.verbose = verbose
    SETTINGS.color = wants_color(color.value, dict(os.environ), sys.stderr)
    SETTINGS.offline = offline
    SETTINGS.progress = not no_progress and quiet == 0


@app.command("list")
@handle_errors
def list_members(
    as_json: Annotated[
        bool, typer.Option("--json", help="Stable JSON (see docs/json.md).")
    ] = False,
) -> None:
    """Every member: name, path, version and its workspace dependencies."""
    from ws.cli import report

    ws = load_workspace_only()
    out(report.list_json(ws) if as_json else report.list_table(ws))


class GraphFormat(StrEnum):
    tree = "tree"
    dot = "dot"
    mermaid = "mermaid"
    json = "json"


@app.command()
@handle_errors
def graph(
    member: Annotated[str | None, typer.Argument(help="Show only this member's closure.")] = None,
    fmt: Annotated[
        GraphFormat,
        typer.Option("--format", show_default=False, help="Output format (default: tree)."),
    ] = GraphFormat.tree,
) -> None:
    """The workspace graph, whole or one member's closure."""
    from ws.cli import report

    if member is None and fmt is GraphFormat.json:
        out(report.workspace_graph_json(load_workspace_only()))
        return
    from ws.workspace.graph import closure

    ws, g = load()
    tops = None
    if member is not None:
        name = ws.member(member).name
        g, tops = g.subgraph(closure(g, name)), [name]
    render = {
        GraphFormat.tree: lambda: report.graph_tree(g, tops),
        GraphFormat.dot: lambda: report.graph_dot(g),
        GraphFormat.mermaid: lambda: report.graph_mermaid(g),
        GraphFormat.json: lambda: report.graph_json(g),
    }[fmt]
    out(render())


@app.command()
@handle_errors
def affected(
    since: Annotated[
        str | None, typer.Option("--since", help="A git ref: branch, tag or commit (required).")
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Stable JSON (see docs/json.md).")
    ] = False,
    matrix: Annotated[
        bool,
        typer.Option(
            "--matrix", help='One line of JSON for a CI matrix: {"include": [{member, path}]}.'
        ),
    ] = False,
) -> None:
    """Members whose files changed since REF, and every member depending on them."""
    from ws.cli import report
    from ws.workspace import changes
    from ws.workspace.graph import build_order

    if since is None:  # checked here: typer would print its own "[required]" mark-up
        raise usage_error("--since REF is required", "ws affected --since origin/main")
    ws, g = load()
    found = changes.affected(ws, g, since)
    for note in found.notes:
        warn(note)
    ordered = build_order(g, found.affected)
    if as_json:
        out(report.affected_json(since, found.changed, ordered))
    elif matrix:
        out(report.affected_matrix(ws, ordered))
    elif ordered:
        out(report.affected_text(ordered))


def _lock_options(ws: Workspace, upgrade: bool, upgrade_package: list[str], wait: float):
    from ws.locks.sync import LockOptions

    env = lock_env()
    return LockOptions(
        uv=workspace_uv(ws, env),
        env=env,
        upgrade=upgrade,
        upgrade_packages=tuple(upgrade_package),
        wait=wait,
        home=user_home(env),
    )


@app.command("sync-locks")
@handle_errors
def sync_locks(
    members: Annotated[
        list[str] | None, typer.Argument(help="Only these (and their dependents).")
    ] = None,
    check: Annotated[
        bool, typer.Option("--check", help="Write nothing; exit 1 if a lock is stale.")
    ] = False,
    upgrade: Annotated[
        bool, typer.Option("--upgrade", help="Allow every package to move.")
    ] = False,
    upgrade_package: Annotated[
        list[str] | None,
        typer.Option("--upgrade-package", "-P", help="Allow PKG (or PKG==VERSION) to move."),
    ] = None,
    wait: Annotated[
        float,
        typer.Option(
            "--wait", show_default=False, help="Seconds to wait for another ws run (300)."
        ),
    ] = 300.0,
    as_json: Annotated[
        bool, typer.Option("--json", help="A JSON summary of what changed.")
    ] = False,
) -> None:
    """Bring the root uv.lock up to date with uv, then give every member its part of it."""
    from ws.cli import report
    from ws.locks import sync as locks

    ws = load_workspace_only()  # the graph (networkx) only for named members: locks build it
    names = [ws.member(m).name for m in members or []] or None
    opts = _lock_options(ws, upgrade, upgrade_package or [], wait)
    records = open_records(ws)
    if check:
        try:
            locks.check_locks(ws, names, opts, records=records)
        finally:
            records.save()  # what it verified, even when something else was stale
        say("all locks are up to date")
        return
    progress = LockProgress(
        sys.stderr, live=live_progress() and not as_json, plain=SETTINGS.verbose > 0
    )
    try:
        result = locks.sync_locks(ws, names, opts, progress, records)
    finally:
        progress.close()
        records.save()
    if as_json:
        out(report.sync_json(result))
    else:
        say(report.sync_text(result))


check_app = typer.Typer(
    rich_markup_mode=None, context_settings={"help_option_names": ["-h", "--help"]}
)
check_app.command("imports")(check_imports)


@check_app.callback(invoke_without_command=True)
@handle_errors
def check(ctx: typer.Context) -> None:
    """Every check at once: member locks, generated Docker files, image pins. Writes no file
    but ws's own state (.ws), where what it verified spares the next check the work.
    `ws check imports`: every member's imports against what it installs."""
    if ctx.invoked_subcommand is not None:
        return
    from ws.errors import StaleFiles
    from ws.locks import sync as locks

    ws = load_workspace_only()
    records = open_records(ws)
    opts = _lock_options(ws, False, [], 300.0)
    problems: list[tuple[str, str]] = []
    try:
        try:
            locks.check_locks(ws, None, opts, records=records)
        except StaleFiles as e:
            problems += [(line, "run `ws sync-locks` and commit the locks") for line in e.problems]
        found, docker = docker_problems(ws, records)
        problems += found
    finally:
        records.save()
    if problems:
        fixes = dict.fromkeys(fix for _, fix in problems)
        raise StaleFiles([line for line, _ in problems], "; ".join(fixes))
    if docker:
        say("locks, generated Docker files and image pins are up to date")
    else:
        say("locks are up to date (no [tool.ws.docker]: no Docker files or pins to check)")


app.add_typer(check_app, name="check")
app.add_typer(docker_app, name="docker")
app.command("publish")(publish)
app.command("run")(run_task)
app.command("clean")(clean)


def run(argv: Sequence[str]) -> int:
    """ws on argv, to its exit code (ws.entry, the console script, ends the process).

    What follows `--` after `run` is the task's: click would take it for MEMBER arguments."""
    argv = list(argv)
    if "run" in argv and "--" in argv[argv.index("run") :]:
        cut = argv.index("--", argv.index("run"))
        PASSTHROUGH[:] = argv[cut + 1 :]
        argv = argv[:cut]
    return run_app(app, argv)

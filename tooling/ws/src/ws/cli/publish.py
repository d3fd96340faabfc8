"""`ws publish`: parse, call ws.publish, print what went where."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated

import typer

from ws.cli.common import (
    SETTINGS,
    emit,
    handle_errors,
    load,
    lock_env,
    out,
    usage_error,
    workspace_uv,
)

if TYPE_CHECKING:
    import networkx as nx

    from ws.publish.plan import Plan
    from ws.publish.release import PublishOptions, PublishReport
    from ws.publish.target import Credentials, Target
    from ws.workspace.members import Workspace


@handle_errors
def publish(
    members: Annotated[
        list[str] | None, typer.Argument(help="Only these (and the siblings they require).")
    ] = None,
    affected: Annotated[
        bool, typer.Option("--affected", help="Only the members affected since --since REF.")
    ] = False,
    since: Annotated[
        str | None,
        typer.Option("--since", metavar="REF", help="The git ref --affected compares with."),
    ] = None,
    index: Annotated[
        str | None,
        typer.Option(
            "--index",
            metavar="NAME",
            help="A [[tool.uv.index]] name with a publish-url (default: uv's, PyPI).",
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Build and check everything; upload nothing.")
    ] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="Stable JSON (see docs/json.md).")
    ] = False,
) -> None:
    """Release members to an index: versions from the project or git tags, siblings pinned,
    a wheel and an sdist each, checked before upload and installed after."""
    from ws.publish.release import publish as run_publish

    if affected != (since is not None):
        raise usage_error(
            "--affected and --since REF go together", "ws publish --affected --since origin/main"
        )
    if affected and members:
        raise usage_error("name members or pass --affected, not both")
    ws, graph = load()
    plan = _plan(ws, graph, members or None, since)
    opts = _options(ws, index, dry_run)
    report = run_publish(ws, plan, opts, _step)  # progress on stderr: stdout holds the JSON
    out(report_json(report) if as_json else report_text(report))


def _plan(ws: Workspace, graph: nx.DiGraph, members: list[str] | None, since: str | None) -> Plan:
    from ws.publish.plan import plan_publish

    among = None
    if since is not None:
        from ws.workspace import changes

        among = changes.affected(ws, graph, since).affected
    return plan_publish(ws, members, among)


def _options(ws: Workspace, index: str | None, dry_run: bool) -> PublishOptions:
    """Where to, with which credentials (found before anything is built), and which uv."""
    from ws.publish.release import PublishOptions
    from ws.publish.target import find_credentials, find_target

    env = lock_env()  # this environment, with --offline
    target = find_target(ws.root, ws.data, index)
    credentials = find_credentials(target, env) if not dry_run else _dry_credentials(target, env)
    return PublishOptions(workspace_uv(ws, env), env, target, credentials, dry_run=dry_run)


def _dry_credentials(target: Target, env: dict[str, str]) -> Credentials:
    """A dry run uploads nothing: it needs only what reading the index needs."""
    from ws.errors import WsError
    from ws.publish.target import Credentials, find_credentials

    try:
        return find_credentials(target, env)
    except WsError:
        return Credentials(False, {}, None)


def _step(text: str) -> None:
    if SETTINGS.quiet == 0:
        emit(text, err=True)


def report_text(report: PublishReport) -> str:
    lines = []
    for member in report.members:
        actions: dict[str, list[str]] = {}
        for filename, _, action in member.files:
            actions.setdefault(action, []).append(filename)
        said = "; ".join(
            f"{_shown(action, report)} {', '.join(files)}" for action, files in actions.items()
        )
        lines.append(f"{member.name} {member.version}: {said}")
    if not report.members:
        lines.append("nothing to publish")
    if report.smoke == "passed":
        lines.append(
            f"smoke test passed: {len(report.members)} member(s) installed from "
            f"{report.target.name} and imported"
        )
    return "\n".join(lines)


def _shown(action: str, report: PublishReport) -> str:
    return f"already on {report.target.name}" if action == "skipped" else action


def report_json(report: PublishReport) -> str:
    from ws.publish.index import without_credentials

    payload = {
        "schema": 1,
        "index": {
            "name": report.target.name,
            "url": without_credentials(report.target.url),
            "publish_url": without_credentials(report.target.publish_url),
        },
        "dry_run": report.dry_run,
        "members": [
            {
                "name": m.name,
                "version": m.version,
                "path": m.path,
                "files": [
                    {"filename": f, "sha256": digest, "action": action}
                    for f, digest, action in m.files
                ],
            }
            for m in report.members
        ],
        "skipped": [{"name": n, "reason": why} for n, why in sorted(report.skipped.items())],
        "smoke": report.smoke,
    }
    return json.dumps(payload, indent=2)

"""`ws check imports`: parse, run the check, print the findings (text or --json)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ws.cli.common import (
    handle_errors,
    load_workspace_only,
    lock_env,
    open_records,
    out,
    say,
    warn,
    workspace_uv,
)

if TYPE_CHECKING:
    from ws.checks.imports import Finding, MemberImports, Unreadable
    from ws.workspace.lockfile import Lock
    from ws.workspace.members import Workspace

IMPORTS_FIX = "declare each with the `uv add` named, then run `ws sync-locks`"


@handle_errors
def imports(
    members: Annotated[
        list[str] | None, typer.Argument(help="Only these members (default: every member).")
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Stable JSON (see docs/json.md).")
    ] = False,
) -> None:
    """Every import in a member's own code resolves to a distribution it installs; each one
    that does not is named with the `uv add` that declares it. Runs offline."""
    ws = load_workspace_only()
    names = [ws.member(m).name for m in members or []] or sorted(ws.members)
    reports = _check(ws, ws.lock.parsed(), names)
    for note in dict.fromkeys(n for r in reports for n in r.notes):
        warn(note)
    for report in reports:
        for skipped in report.unreadable:
            warn(f"{unreadable_text(ws.root, skipped)} (skipped)")
    findings = [f for r in reports for f in r.findings]
    if as_json:
        out(imports_json(ws, reports))
        if findings:
            raise typer.Exit(1)
        return
    if findings:
        from ws.errors import StaleFiles

        raise StaleFiles([finding_text(ws.root, f) for f in findings], IMPORTS_FIX)
    files = sum(r.files for r in reports)
    say(f"every import of {len(reports)} member(s) resolves to what it installs ({files} files)")


def _check(ws: Workspace, lock: Lock, names: list[str]) -> list[MemberImports]:
    """check_imports with the exact environments `ws run` makes, and this machine's records
    of them (saved even when the check fails)."""
    from ws.checks.environments import exact_environment
    from ws.checks.imports import check_imports
    from ws.uv import version_of

    env = lock_env()
    binary = workspace_uv(ws, env)
    version = version_of(binary)
    records = open_records(ws)

    def environment(name: str) -> Path:
        return exact_environment(
            ws, lock, name, uv_binary=binary, uv_version=version, env=env, records=records
        )

    try:
        return check_imports(ws, lock, names, environment)
    finally:
        records.save()


def _rel(root: Path, path: Path) -> str:
    return path.relative_to(root).as_posix() if root in path.parents else str(path)


def unreadable_text(root: Path, u: Unreadable) -> str:
    where = f"{_rel(root, u.path)}:{u.line}" if u.line else _rel(root, u.path)
    return f"{where}: not read as Python: {u.why}"


def finding_text(root: Path, f: Finding) -> str:
    """`file:line: member imports module, why: `uv add ...``, one line."""
    if f.distribution is None:
        why = "which no distribution the workspace locks provides"
    elif f.in_groups:
        why = f"from {f.distribution}, which {f.member} installs only with its dependency groups"
    elif f.sibling:
        why = f"from its sibling {f.distribution}, which it does not depend on"
    else:
        by = f" (declared by {', '.join(f.declared_by)})" if f.declared_by else ""
        why = f"which {f.distribution}{by} provides and {f.member} does not install"
    return f"{_rel(root, f.path)}:{f.line}: {f.member} imports `{f.module}`, {why}: `{f.fix}`"


def imports_json(ws: Workspace, reports: list[MemberImports]) -> str:
    members: list[dict[str, Any]] = []
    for report in reports:
        member = ws.members[report.member]
        members.append(
            {
                "name": report.member,
                "path": member.rel.as_posix(),
                "files": report.files,
                "findings": [_finding_json(ws.root, f) for f in report.findings],
                "unreadable": [unreadable_text(ws.root, u) for u in report.unreadable],
            }
        )
    ok = not any(m["findings"] for m in members)
    notes = list(dict.fromkeys(n for r in reports for n in r.notes))
    return json.dumps({"schema": 1, "ok": ok, "members": members, "notes": notes}, indent=2)


def _finding_json(root: Path, f: Finding) -> dict[str, Any]:
    return {
        "file": _rel(root, f.path),
        "line": f.line,
        "module": f.module,
        "code": "package" if f.source else "other",
        "context": f.context.value,
        "distribution": f.distribution,
        "declared_by": list(f.declared_by),
        "in_groups": f.in_groups,
        "fix": f.fix,
    }

"""One `ws publish` run: plan, versions, the staged copy, builds, checks, what the index
holds, uploads (one member per `uv publish`, dependencies first), and the smoke test. Every
refusal comes before the first upload."""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ws import git
from ws.publish.build import build_all
from ws.publish.checks import check_dists, expected_pins
from ws.publish.plan import Plan
from ws.publish.smoke import smoke_test
from ws.publish.stage import refuse_dirty, stage
from ws.publish.target import Credentials, Target
from ws.publish.upload import FileAction, compare, upload
from ws.publish.versions import release_versions
from ws.uv import find_python
from ws.workspace.members import Workspace


@dataclass(frozen=True)
class PublishOptions:
    uv: str
    env: Mapping[str, str]
    target: Target
    credentials: Credentials
    dry_run: bool = False


@dataclass
class MemberResult:
    name: str
    version: str
    path: str
    files: list[tuple[str, str, str]] = field(default_factory=list)  # name, sha256, action


@dataclass
class PublishReport:
    target: Target
    dry_run: bool
    members: list[MemberResult]
    skipped: dict[str, str]
    smoke: str = "not run"  # "passed" once every member installed and imported

    def uploaded(self) -> list[str]:
        return [f for m in self.members for f, _, action in m.files if action == "uploaded"]


def publish(
    ws: Workspace, plan: Plan, opts: PublishOptions, step: Callable[[str], None]
) -> PublishReport:
    """Release plan's members to opts.target; step(text) hears each stage as it starts."""
    refuse_dirty(ws.root)
    versions = release_versions(ws, plan)
    report = PublishReport(opts.target, opts.dry_run, [], plan.skipped)
    with tempfile.TemporaryDirectory(prefix="ws-publish-") as temp:
        folder = Path(temp)
        step(f"building {len(plan.members)} member(s) from HEAD")
        copy = stage(ws, plan, versions, folder)
        env = {**opts.env, "SOURCE_DATE_EPOCH": str(git.commit_time(ws.root))}
        python = find_python(opts.uv, ws.root, opts.env)
        dists = build_all(opts.uv, copy, plan.members, versions, folder / "dist", env, python)
        operators = {n: plan.configs[n].pin for n in versions}
        check_dists(dists, expected_pins(versions, operators))
        step(f"asking {opts.target.name} what it holds")
        actions = compare(opts.target, dists, opts.credentials.read)
        for member in plan.members:
            result = MemberResult(member.name, versions[member.name], str(member.rel))
            report.members.append(result)
            _upload_member(opts, result, actions[member.name], report, step)
        if not opts.dry_run:
            step("smoke test: installing from the index in clean environments")
            smoke_test(opts.uv, opts.target, dists, folder / "smoke", opts.env, python)
            report.smoke = "passed"
    return report


def _upload_member(
    opts: PublishOptions,
    result: MemberResult,
    actions: list[FileAction],
    report: PublishReport,
    step: Callable[[str], None],
) -> None:
    missing = [a for a in actions if not a.present]
    action = "would upload" if opts.dry_run else "uploaded"
    if missing and not opts.dry_run:
        step(f"uploading {result.name} {result.version}")
        env = {**opts.env, **opts.credentials.upload_env}
        before = ", ".join(report.uploaded()) or "nothing"
        upload(
            opts.uv,
            opts.target,
            [a.path for a in missing],
            trusted=opts.credentials.trusted,
            env=env,
            before=before,
        )
    for a in actions:
        result.files.append((a.path.name, a.sha256, "skipped" if a.present else action))

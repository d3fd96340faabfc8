"""Which members a run publishes, and in what order: the publishable members asked for, with
every sibling their metadata requires, dependencies first."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ws.errors import ConfigError
from ws.publish.config import PublishConfig, publish_config, unpublishable_reason
from ws.workspace.graph import build_graph, build_order
from ws.workspace.members import Dependency, Member, Workspace


@dataclass(frozen=True)
class Plan:
    members: tuple[Member, ...]  # dependencies first
    configs: dict[str, PublishConfig]
    skipped: dict[str, str]  # members left out of a whole-workspace run, and why


def metadata_edges(member: Member) -> list[Dependency]:
    """member's edges to siblings that its wheel's metadata carries (dependencies and
    extras; dependency groups are not metadata)."""
    return [d for d in member.dependencies if d.kind != "group" and d.name != member.name]


def plan_publish(ws: Workspace, names: Iterable[str] | None, among: set[str] | None = None) -> Plan:
    """The members to publish: names (None: every publishable member, or those among a set
    such as the affected members), each with the siblings it requires; a ConfigError for a
    member that cannot be published as asked."""
    configs = {name: publish_config(m) for name, m in ws.members.items()}
    reasons = {n: unpublishable_reason(m, configs[n]) for n, m in ws.members.items()}
    if names is None:
        pool = [n for n in reasons if among is None or n in among]
        wanted = [n for n in pool if reasons[n] is None]
        skipped = {n: why for n in pool if (why := reasons[n]) is not None}
    else:
        wanted, skipped = [ws.member(n).name for n in names], {}
        for name in wanted:
            _refuse_unpublishable(ws.members[name], reasons[name])
    chosen = _with_requirements(ws, wanted, reasons)
    order = build_order(build_graph(ws), chosen)
    members = tuple(ws.members[n] for n in order)
    return Plan(members, {n: configs[n] for n in order}, skipped)


def _refuse_unpublishable(member: Member, why: str | None) -> None:
    if why is not None:
        raise ConfigError(
            member.pyproject,
            f"{member.name} is not publishable: {why}",
            fix="leave it out, or make it publishable",
        )


def _with_requirements(
    ws: Workspace, wanted: list[str], reasons: dict[str, str | None]
) -> set[str]:
    """wanted and every sibling their metadata requires, transitively; each must be
    publishable and have static dependencies (the pins are written into them)."""
    chosen: set[str] = set()
    todo = sorted(wanted, reverse=True)  # popped in name order: the first error is stable
    while todo:
        name = todo.pop()
        if name in chosen:
            continue
        chosen.add(name)
        member = ws.members[name]
        _refuse_dynamic(member)
        for dep in metadata_edges(member):
            why = reasons[dep.name]
            if why is not None:
                raise ConfigError(
                    member.pyproject,
                    f"{name} is publishable but requires {dep.name}, which is not: {why}",
                    fix=f"publish {dep.name} too, or move it to a dependency group of {name}",
                )
            todo.append(dep.name)
    return chosen


def _refuse_dynamic(member: Member) -> None:
    if member.dynamic_edges:
        raise ConfigError(
            member.pyproject,
            f"{member.name}: [project] dynamic lists its dependencies, so ws cannot pin its "
            "workspace siblings in them",
            fix="declare dependencies (and optional-dependencies) statically in [project]",
        )

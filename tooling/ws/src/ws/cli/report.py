"""The workspace and its graph as text: tables, trees, dot, mermaid and stable JSON."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import networkx as nx

    from ws.locks.sync import SyncReport
from ws.printable import printable
from ws.workspace.members import Dependency, Member, Workspace

SCHEMA_VERSION = 1


def dump_json(payload: dict[str, Any]) -> str:
    return json.dumps({"schema": SCHEMA_VERSION, **payload}, indent=2, sort_keys=False)


def _edge_json(dep: Dependency) -> dict[str, Any]:
    return {"name": dep.name, "kind": dep.kind, "group": dep.group, "extras": list(dep.extras)}


def member_json(member: Member) -> dict[str, Any]:
    return {
        "name": member.name,
        "path": member.rel.as_posix(),
        "version": member.version,
        "package": member.package,
        "dependencies": [_edge_json(d) for d in member.dependencies],
    }


def list_json(ws: Workspace) -> str:
    return dump_json(
        {"root": str(ws.root), "members": [member_json(m) for m in ws.members.values()]}
    )


def list_table(ws: Workspace) -> str:
    rows = [("NAME", "PATH", "VERSION", "WORKSPACE DEPENDENCIES")]
    for m in ws.members.values():
        name, path, version = (printable(v) for v in (m.name, m.rel.as_posix(), m.version_label))
        rows.append((name, path, version, printable(_deps_label(m.dependencies))))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(row[:3], widths, strict=True)) + "  " + row[3]
        for row in rows
    ).rstrip()


def _deps_label(deps: Iterable[Dependency]) -> str:
    """Each edge once, with the extras it asks for (`core[cli]`): two requirements of one
    member with other extras are two edges."""
    labels = [_dep_label(d) for d in deps]
    return ", ".join(dict.fromkeys(labels)) or "-"


def _dep_label(d: Dependency) -> str:
    name = f"{d.name}[{','.join(d.extras)}]" if d.extras else d.name
    return name if d.kind == "runtime" else f"{name} ({d.kind}: {d.group})"


def _edge_kinds(graph: nx.DiGraph, u: str, v: str) -> list[Dependency]:
    return graph.edges[u, v]["kinds"]


def graph_json(graph: nx.DiGraph) -> str:
    """The graph (whole, or a closure's subgraph) as stable JSON."""
    return _graph_json([graph.nodes[n]["member"] for n in graph])


def workspace_graph_json(ws: Workspace) -> str:
    """The same as graph_json of the whole graph, from the members themselves: the JSON a CI
    job asks for needs no networkx (a fifth of a second to import)."""
    return _graph_json(list(ws.members.values()))


def _graph_json(members: list[Member]) -> str:
    names = {m.name for m in members}
    ordered = sorted(members, key=lambda m: m.name)
    nodes = [{k: v for k, v in member_json(m).items() if k != "dependencies"} for m in ordered]
    edges = [
        {"from": m.name, "to": to, "kind": d.kind, "group": d.group, "extras": list(d.extras)}
        for m in ordered
        for to in sorted({d.name for d in m.dependencies} & names)
        for d in m.dependencies
        if d.name == to
    ]
    return dump_json({"nodes": nodes, "edges": edges})


def graph_dot(graph: nx.DiGraph) -> str:
    lines = ["digraph workspace {", "  rankdir=LR;", "  node [shape=box];"]
    lines += [f'  "{printable(n)}";' for n in sorted(graph)]
    for u, v in sorted(graph.edges):
        for d in _edge_kinds(graph, u, v):
            style = "" if d.kind == "runtime" else f' [style=dashed, label="{d.kind}:{d.group}"]'
            lines.append(f'  "{printable(u)}" -> "{printable(v)}"{printable(style)};')
    return "\n".join([*lines, "}"])


def graph_mermaid(graph: nx.DiGraph) -> str:
    ids = {name: f"n{i}" for i, name in enumerate(sorted(graph))}
    lines = ["graph LR"] + [f'  {ids[n]}["{printable(n)}"]' for n in sorted(graph)]
    for u, v in sorted(graph.edges):
        for d in _edge_kinds(graph, u, v):
            arrow = "-->" if d.kind == "runtime" else printable(f"-. {d.kind}:{d.group} .->")
            lines.append(f"  {ids[u]} {arrow} {ids[v]}")
    return "\n".join(lines)


def graph_tree(graph: nx.DiGraph, tops: Iterable[str] | None = None) -> str:
    """Each top member with its dependencies below it; repeats marked (*). Without tops:
    every member nothing depends on, then each member of a cycle not shown yet."""
    lines: list[str] = []
    shown: set[str] = set()
    for top in tops if tops is not None else _tops(graph):
        if tops is None and top in shown:
            continue
        seen = {top}
        lines.append(_node_label(graph, top))
        _tree_children(graph, top, seen, lines)
        shown |= seen
    return "\n".join(lines)


def _tops(graph: nx.DiGraph) -> list[str]:
    free = [n for n in graph if not set(graph.predecessors(n)) - {n}]
    return sorted(free) + sorted(set(graph) - set(free))


def _node_label(graph: nx.DiGraph, name: str) -> str:
    return printable(f"{name} {graph.nodes[name]['member'].version_label}")


def _edge_note(graph: nx.DiGraph, node: str, child: str) -> str:
    kinds = _edge_kinds(graph, node, child)
    asked = sorted({x for d in kinds for x in d.extras})
    note = f" [extras: {', '.join(asked)}]" if asked else ""
    return printable(
        note + "".join(f" [{d.kind}: {d.group}]" for d in kinds if d.kind != "runtime")
    )


def _tree_children(graph: nx.DiGraph, top: str, seen: set[str], out: list[str]) -> None:
    """The lines below top, depth first; a stack, not recursion: chains may be long."""
    stack: list[tuple[str, str, list[str], int]] = [(top, "", sorted(graph.successors(top)), 0)]
    while stack:
        node, prefix, children, i = stack.pop()
        if i == len(children):
            continue
        stack.append((node, prefix, children, i + 1))
        child, last = children[i], i == len(children) - 1
        repeat = " (*)" if child in seen and any(graph.successors(child)) else ""
        branch = "└── " if last else "├── "
        out.append(
            f"{prefix}{branch}{_node_label(graph, child)}{_edge_note(graph, node, child)}{repeat}"
        )
        if not repeat:
            seen.add(child)
            below = prefix + ("    " if last else "│   ")
            stack.append((child, below, sorted(graph.successors(child)), 0))


def affected_text(affected: list[str]) -> str:
    return "\n".join(printable(name) for name in affected)


def affected_json(since: str, changed: Iterable[str], affected: list[str]) -> str:
    return dump_json({"since": since, "changed": sorted(changed), "affected": affected})


def affected_matrix(ws: Workspace, affected: list[str]) -> str:
    """GitHub Actions' `strategy.matrix` as one line (`fromJSON` of a step output); an empty
    `include` runs no job."""
    rows = [{"member": n, "path": ws.members[n].rel.as_posix()} for n in affected]
    return json.dumps({"include": rows}, separators=(",", ":"))


def sync_json(result: SyncReport) -> str:
    return dump_json({"root": result.root, "members": result.members, "changed": result.changed})


def sync_text(result: SyncReport) -> str:
    if not result.changed and result.root in ("fresh", "unchanged"):
        return f"{len(result.members)} member locks up to date"
    lines = [f"root uv.lock: {result.root}"]
    lines += [
        printable(f"{name}: {status}")
        for name, status in result.members.items()
        if status != "fresh"
    ]
    return "\n".join(lines)

"""The workspace graph: member -> the members it depends on, and what follows from it."""

from __future__ import annotations

from collections.abc import Iterable

import networkx as nx

from ws.errors import CycleError
from ws.workspace import Workspace


def build_graph(ws: Workspace) -> nx.DiGraph:
    """One node a member, one edge a workspace dependency; edges carry their kinds."""
    graph = nx.DiGraph()
    for member in ws.members.values():
        graph.add_node(member.name, member=member)
    for member in ws.members.values():
        for dep in member.dependencies:
            if graph.has_edge(member.name, dep.name):
                graph.edges[member.name, dep.name]["kinds"].append(dep)
            else:
                graph.add_edge(member.name, dep.name, kinds=[dep])
    check_acyclic(graph)
    return graph


def check_acyclic(graph: nx.DiGraph) -> None:
    try:
        cycle = nx.find_cycle(graph)
    except nx.NetworkXNoCycle:
        return
    raise CycleError([edge[0] for edge in cycle])


def runtime_view(graph: nx.DiGraph) -> nx.DiGraph:
    """The graph with only runtime edges (what an installed member pulls in)."""

    def runtime(u: str, v: str) -> bool:
        return any(d.kind == "runtime" for d in graph.edges[u, v]["kinds"])

    return nx.subgraph_view(graph, filter_edge=runtime)


def closure(graph: nx.DiGraph, name: str, *, runtime_only: bool = False) -> set[str]:
    """name and every member it reaches."""
    view = runtime_view(graph) if runtime_only else graph
    return {name, *nx.descendants(view, name)}


def closure_of(graph: nx.DiGraph, names: Iterable[str], *, runtime_only: bool = False) -> set[str]:
    result: set[str] = set()
    for name in names:
        result |= closure(graph, name, runtime_only=runtime_only)
    return result


def dependents(graph: nx.DiGraph, names: Iterable[str]) -> set[str]:
    """names and every member that reaches one of them, transitively."""
    result = set(names)
    for name in list(result):
        result |= nx.ancestors(graph, name)
    return result


def build_order(graph: nx.DiGraph, names: Iterable[str] | None = None) -> list[str]:
    """Members (all, or names) ordered dependencies first; ties broken by name."""
    sub = graph if names is None else graph.subgraph(names)
    return list(nx.lexicographical_topological_sort(sub.reverse(copy=False)))


def levels(graph: nx.DiGraph, names: Iterable[str]) -> list[list[str]]:
    """names grouped into waves: each wave depends only on earlier ones (parallel builds)."""
    sub = graph.subgraph(names).reverse(copy=True)
    return [sorted(generation) for generation in nx.topological_generations(sub)]

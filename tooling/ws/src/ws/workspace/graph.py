"""The workspace graph: member -> the members it depends on, and what follows from it.

Cycles are allowed, as uv allows them: a plugin depends on the core while the core offers
the plugin as an extra. A closure follows only the edges that install: a member's own
dependencies, extras and groups, and of every member it reaches the dependencies and the
extras asked of it. Build order treats the members of one cycle as one unit.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from ws.workspace.members import Dependency, Workspace

if TYPE_CHECKING:
    import networkx as nx


def build_graph(ws: Workspace) -> nx.DiGraph:
    """One node a member, one edge a workspace dependency; edges carry their kinds."""
    import networkx as nx  # a build of one image needs no graph

    graph = nx.DiGraph()
    for member in ws.members.values():
        graph.add_node(member.name, member=member)
    for member in ws.members.values():
        for dep in member.dependencies:
            if graph.has_edge(member.name, dep.name):
                graph.edges[member.name, dep.name]["kinds"].append(dep)
            else:
                graph.add_edge(member.name, dep.name, kinds=[dep])
    return graph


def _edges(graph: nx.DiGraph, name: str) -> list[Dependency]:
    return [dep for _, _, kinds in graph.out_edges(name, data="kinds") for dep in kinds]


def closure(graph: nx.DiGraph, name: str) -> set[str]:
    """name and every member installing name can install (its own extras and groups
    included; of the members it reaches, only the extras asked of them)."""
    return _closure(lambda node: _edges(graph, node), name)


def workspace_closure(ws: Workspace, name: str) -> set[str]:
    """closure() read from the members' own edges, for paths that build no graph."""
    members = ws.members
    return _closure(lambda node: members[node].dependencies if node in members else (), name)


def _closure(edges: Callable[[str], Iterable[Dependency]], name: str) -> set[str]:
    asked: dict[str, set[str | None]] = {name: {None}}
    todo: list[tuple[str, str | None]] = [(name, None)]
    while todo:
        node, extra = todo.pop()
        for dep in edges(node):
            if not _installs(dep, node == name, extra):
                continue
            for wanted in (None, *dep.extras):
                if wanted not in asked.setdefault(dep.name, set()):
                    asked[dep.name].add(wanted)
                    todo.append((dep.name, wanted))
    return set(asked)


def _installs(dep: Dependency, own: bool, extra: str | None) -> bool:
    """Whether an edge installs when its member is installed (own: the member asked for,
    with every extra and group; else with no extra, or with the one extra asked)."""
    if own:
        return True
    if extra is None:
        return dep.kind == "runtime"
    return dep.kind == "extra" and dep.group == extra


def closure_of(graph: nx.DiGraph, names: Iterable[str]) -> set[str]:
    result: set[str] = set()
    for name in names:
        result |= closure(graph, name)
    return result


def dependents(graph: nx.DiGraph, names: Iterable[str]) -> set[str]:
    """names and every member whose closure holds one of them."""
    wanted = set(names)
    return wanted | {m for m in graph.nodes if closure(graph, m) & wanted}


def _units(graph: nx.DiGraph, names: Iterable[str] | None) -> nx.DiGraph:
    """The condensation of the (sub)graph: one node per cycle, edges reversed so that a
    member comes after what it depends on."""
    import networkx as nx

    sub = graph if names is None else graph.subgraph(names)
    return nx.condensation(sub.reverse(copy=False))


def build_order(graph: nx.DiGraph, names: Iterable[str] | None = None) -> list[str]:
    """Members (all, or names) ordered dependencies first; ties broken by name."""
    import networkx as nx

    units = _units(graph, names)
    members = nx.get_node_attributes(units, "members")
    key = {unit: min(members[unit]) for unit in units}
    order = nx.lexicographical_topological_sort(units, key=key.__getitem__)
    return [name for unit in order for name in sorted(members[unit])]


def levels(graph: nx.DiGraph, names: Iterable[str]) -> list[list[str]]:
    """names grouped into waves: each wave depends only on earlier ones (parallel builds);
    the members of one cycle share a wave."""
    import networkx as nx

    units = _units(graph, names)
    members = nx.get_node_attributes(units, "members")
    return [
        sorted(name for unit in generation for name in members[unit])
        for generation in nx.topological_generations(units)
    ]

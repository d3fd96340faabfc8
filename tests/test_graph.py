"""The workspace graph: closures, dependents, build order and cycles."""

from __future__ import annotations

from pathlib import Path

import pytest
from ws.errors import CycleError
from ws.graph import build_graph, build_order, closure, dependents, levels
from ws.workspace import load_workspace

from tests.support.files import make_workspace


@pytest.fixture
def graph(tmp_path: Path):
    make_workspace(
        tmp_path,
        {
            "core": {},
            "report": {"dependencies": ["core"]},
            "service": {"dependencies": ["report"], "dependency-groups": {"dev": ["tools"]}},
            "tools": {"optional-dependencies": {"x": ["core"]}},
            "alone": {},
        },
    )
    return build_graph(load_workspace(tmp_path))


def test_closure_all_edges_and_runtime_only(graph) -> None:
    assert closure(graph, "service") == {"service", "report", "core", "tools"}
    assert closure(graph, "service", runtime_only=True) == {"service", "report", "core"}
    assert closure(graph, "alone") == {"alone"}


def test_dependents(graph) -> None:
    assert dependents(graph, ["core"]) == {"core", "report", "service", "tools"}
    assert dependents(graph, ["service"]) == {"service"}


def test_build_order_puts_dependencies_first(graph) -> None:
    order = build_order(graph)
    assert order.index("core") < order.index("report") < order.index("service")
    assert order.index("tools") < order.index("service")
    assert build_order(graph, ["service", "core"]) == ["core", "service"]


def test_levels_group_independent_members(graph) -> None:
    assert levels(graph, ["core", "report", "alone", "service"]) == [
        ["alone", "core"],
        ["report"],
        ["service"],
    ]


def test_cycle_is_reported_as_a_chain(tmp_path: Path) -> None:
    make_workspace(
        tmp_path, {"a": {"dependencies": ["b"]}, "b": {"dependency-groups": {"g": ["a"]}}}
    )
    with pytest.raises(CycleError) as err:
        build_graph(load_workspace(tmp_path))
    assert "a -> b -> a" in str(err.value) or "b -> a -> b" in str(err.value)

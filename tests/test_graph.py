"""The workspace graph: closures, dependents, build order and cycles."""

from __future__ import annotations

from pathlib import Path

import pytest
from ws.workspace.graph import build_graph, build_order, closure, dependents, levels
from ws.workspace.members import load_workspace

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


def test_closure_takes_own_groups_and_extras_not_those_of_dependencies(graph) -> None:
    assert closure(graph, "service") == {"service", "report", "core", "tools"}
    # tools' extra x is its own: installing tools alone brings core
    assert closure(graph, "tools") == {"tools", "core"}
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


@pytest.fixture
def plugins(tmp_path: Path):
    """The plugin shape: each plugin needs the core, the core offers each plugin as an extra,
    and an app asks for one of those extras."""
    make_workspace(
        tmp_path,
        {
            "core": {"optional-dependencies": {"a": ["plugin-a"], "b": ["plugin-b"]}},
            "plugin-a": {"dependencies": ["core", "liba"]},
            "plugin-b": {"dependencies": ["core"]},
            "app": {"dependencies": ["core[a]"]},
            "selfish": {
                "dependency-groups": {"dev": ["selfish[cli]"]},
                "optional-dependencies": {"cli": ["plugin-b"]},
            },
        },
    )
    return build_graph(load_workspace(tmp_path))


def test_cycles_through_extras_are_read(plugins) -> None:
    assert set(plugins.successors("core")) == {"plugin-a", "plugin-b"}
    assert plugins.has_edge("selfish", "selfish")


def test_a_closure_follows_only_the_extras_asked(plugins) -> None:
    assert closure(plugins, "plugin-b") == {"plugin-b", "core"}
    assert closure(plugins, "app") == {"app", "core", "plugin-a"}
    assert closure(plugins, "core") == {"core", "plugin-a", "plugin-b"}
    assert closure(plugins, "selfish") == {"selfish", "plugin-b", "core"}
    assert dependents(plugins, ["plugin-a"]) == {"plugin-a", "core", "app"}


def test_a_cycle_is_one_unit_of_the_build_order(plugins) -> None:
    order = build_order(plugins)
    assert order.index("core") < order.index("app")
    assert levels(plugins, ["app", "core", "plugin-a", "plugin-b"]) == [
        ["core", "plugin-a", "plugin-b"],
        ["app"],
    ]

"""ws docker build without an engine: which members to build, in which waves, the revision
they are labelled with, and how the build log is read."""

from __future__ import annotations

from pathlib import Path

import networkx as nx
import pytest
from ws.docker.build import build_waves, git_revision, select_members
from ws.docker.stream import BuildLog, StepFailed
from ws.errors import ConfigError, WsError
from ws.graph import build_graph
from ws.workspace import Dependency, load_workspace

from tests.support.files import make_workspace
from tests.support.images import commit_workspace, image_members, root_docker_config

# ---------------------------------------------------------------- choosing what to build


def test_members_are_chosen_by_name_all_or_affected(tmp_path: Path) -> None:
    root = make_workspace(tmp_path / "ws", image_members(), root_extra=root_docker_config(None))
    repo = commit_workspace(root)
    ws = load_workspace(root)
    graph = build_graph(ws)
    repo.write({"packages/lib/src/lib/__init__.py": "__version__ = '0.2.1'\n"})

    assert select_members(ws, graph, ["SVC"]) == ["svc"]
    assert select_members(ws, graph, every=True) == ["other", "svc"]
    assert select_members(ws, graph, since="HEAD") == ["svc"]  # lib changed; svc depends on it
    with pytest.raises(ConfigError, match="declares no image"):
        select_members(ws, graph, ["lib"])
    with pytest.raises(WsError, match="say which images"):
        select_members(ws, graph)


def test_waves_follow_dependencies_through_members_without_images() -> None:
    graph = nx.DiGraph()
    for member, dep in [("app", "lib"), ("lib", "base"), ("tool", "base")]:
        graph.add_edge(member, dep, kinds=[Dependency(dep, "runtime")])

    assert build_waves(graph, ["app", "base", "tool"]) == [["base"], ["tool"], ["app"]]


def test_the_origin_url_loses_its_credentials(tmp_path: Path) -> None:
    repo = commit_workspace(make_workspace(tmp_path / "ws", {"a": {}}))
    repo.git("remote", "add", "origin", "https://bot:s3cret@git.example.invalid/team/ws.git")

    revision = git_revision(repo.path)

    assert revision.source == "https://git.example.invalid/team/ws.git"
    assert len(revision.short) == 12 and revision.sha.startswith(revision.short)


def test_the_build_log_reads_split_chunks_and_colours() -> None:
    seen: list[str] = []
    log = BuildLog("svc", lambda _m, line: seen.append(line))
    for chunk in ["Step 1/2 : RUN x\n ---> Runn", "ing in 0123456789ab\n\x1b[91moops\n", "\x1b[0m"]:
        log.feed({"stream": chunk})

    with pytest.raises(StepFailed) as caught:
        log.feed({"errorDetail": {"message": "The command returned a non-zero code: 1"}})

    assert caught.value.output == ["oops"]
    assert "  | oops" in str(caught.value) and "step 1/2 (RUN x)" in str(caught.value)

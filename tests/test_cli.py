"""The command line: output formats, exit codes, and one clear message for bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner
from ws import __version__
from ws.cli.app import app

from tests.support.files import build_file_tree, make_workspace
from tests.support.gitrepo import init_repo

MEMBERS = {
    "core": {"version": "1.2.0"},
    "report": {"dependencies": ["core"]},
    "service": {"dependencies": ["report", "core"], "dependency-groups": {"dev": ["cli"]}},
    "cli": {},
}


def ws(*args: str, root: Path | None = None):
    argv = (["--root", str(root)] if root else []) + list(args)
    return CliRunner().invoke(app, argv)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return make_workspace(tmp_path / "ws", MEMBERS)


def test_list_table(root: Path) -> None:
    result = ws("list", root=root)
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert lines[0].split() == ["NAME", "PATH", "VERSION", "WORKSPACE", "DEPENDENCIES"]
    assert lines[1].split() == ["cli", "packages/cli", "0.1.0", "-"]
    assert lines[-1].split()[:3] == ["service", "packages/service", "0.1.0"]
    assert "cli (group: dev)" in lines[-1]


def test_list_shows_the_extras_each_edge_asks_for(tmp_path: Path) -> None:
    """Two requirements of one member with other extras are two edges, told apart (the
    table showed `core, core`)."""
    members = {
        "core": {"optional-dependencies": {"a": [], "b": []}},
        "app": {"dependencies": ["core[a]", "core[b]; python_version >= '3.11'"]},
    }
    result = ws("list", root=make_workspace(tmp_path / "ws", members))
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[1].split()[3:] == ["core[a],", "core[b]"]


def test_list_json_is_stable(root: Path) -> None:
    result = ws("list", "--json", root=root)
    data = json.loads(result.output)
    assert data["schema"] == 1
    assert [m["name"] for m in data["members"]] == ["cli", "core", "report", "service"]
    assert data["members"][1] == {
        "name": "core",
        "path": "packages/core",
        "version": "1.2.0",
        "package": True,
        "dependencies": [],
    }
    edge = {"name": "cli", "kind": "group", "group": "dev", "extras": []}
    assert edge in data["members"][3]["dependencies"]


def test_graph_tree_for_one_member(root: Path) -> None:
    result = ws("graph", "service", root=root)
    assert result.output.splitlines() == [
        "service 0.1.0",
        "├── cli 0.1.0 [group: dev]",
        "├── core 1.2.0",
        "└── report 0.1.0",
        "    └── core 1.2.0",
    ]


def test_graph_json_dot_and_mermaid(root: Path) -> None:
    data = json.loads(ws("graph", "--format", "json", root=root).output)
    assert [n["name"] for n in data["nodes"]] == ["cli", "core", "report", "service"]
    edge = {"from": "report", "to": "core", "kind": "runtime", "group": None, "extras": []}
    assert edge in data["edges"]
    assert len(data["edges"]) == 4
    dot = ws("graph", "--format", "dot", root=root).output
    assert dot.startswith("digraph workspace {") and '"report" -> "core";' in dot
    assert '"service" -> "cli" [style=dashed, label="group:dev"];' in dot
    mermaid = ws("graph", "--format", "mermaid", root=root).output.splitlines()
    assert mermaid[0] == "graph LR" and "  n2 --> n1" in mermaid


def test_affected_json(root: Path) -> None:
    repo = init_repo(root)
    repo.commit_all("initial")
    (root / "packages/core/x.py").write_text("")
    data = json.loads(ws("affected", "--since", "HEAD", "--json", root=root).output)
    assert data == {
        "schema": 1,
        "since": "HEAD",
        "changed": ["core"],
        "affected": ["core", "report", "service"],
    }


def test_affected_matrix_feeds_a_ci_matrix(root: Path) -> None:
    repo = init_repo(root)
    repo.commit_all("initial")
    (root / "packages/report/x.py").write_text("")
    line = ws("affected", "--since", "HEAD", "--matrix", root=root).output
    assert line == (
        '{"include":[{"member":"report","path":"packages/report"},'
        '{"member":"service","path":"packages/service"}]}\n'
    )
    repo.commit_all("more")
    assert ws("affected", "--since", "HEAD", "--matrix", root=root).output == '{"include":[]}\n'


BAD_INPUTS = {
    "invalid toml": ({"packages/core/pyproject.toml": "[project\n"}, "invalid TOML"),
    "no pyproject": ({"packages/empty/notes.txt": "x"}, "has no pyproject.toml"),
    "duplicate": (
        {"packages/copy/pyproject.toml": '[project]\nname = "core"\nversion = "1"\n'},
        "two workspace members are named 'core'",
    ),
    "ghost source": (
        {
            "packages/cli/pyproject.toml": '[project]\nname = "cli"\nversion = "1"\n'
            'dependencies = ["ghost"]\n[tool.uv.sources]\nghost = { workspace = true }\n'
        },
        "no workspace member is named 'ghost'",
    ),
}


def test_a_cycle_is_read_as_uv_reads_it(root: Path) -> None:
    """uv accepts cycles (a core offering a plugin as an extra): so does every command."""
    build_file_tree(
        root,
        {
            "packages/core/pyproject.toml": '[project]\nname = "core"\nversion = "1"\n'
            '[project.optional-dependencies]\nplugin = ["cli"]\n'
            "[tool.uv.sources]\ncli = { workspace = true }\n",
            "packages/cli/pyproject.toml": '[project]\nname = "cli"\nversion = "1"\n'
            'dependencies = ["core"]\n[tool.uv.sources]\ncore = { workspace = true }\n',
        },
    )
    result = ws("graph", root=root)
    assert result.exit_code == 0, result.output
    assert "└── core 1\n│       └── cli 1 [extra: plugin] (*)" in result.output


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_gets_one_message_and_exit_1(root: Path, case: str) -> None:
    files, expected = BAD_INPUTS[case]
    build_file_tree(root, files)
    result = ws("list", root=root)
    assert result.exit_code == 1
    assert expected in result.output
    assert result.output.startswith("error: ")
    assert "Traceback" not in result.output


def test_unknown_git_ref(root: Path) -> None:
    init_repo(root).commit_all("initial")
    result = ws("affected", "--since", "nope", root=root)
    assert result.exit_code == 1 and "git ref 'nope' does not exist" in result.output


def test_unknown_member(root: Path) -> None:
    result = ws("graph", "ghost", root=root)
    assert result.exit_code == 1 and "no workspace member named 'ghost'" in result.output


def test_glob_matching_nothing_warns_and_goes_on(root: Path) -> None:
    pyproject = root / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('"packages/*"', '"packages/*", "libs/*"'))
    result = ws("list", root=root)
    assert result.exit_code == 0
    assert "warning:" in result.output and "'libs/*' matches nothing" in result.output


def test_the_real_command_finds_the_root_and_fails_cleanly(root: Path, tmp_path: Path) -> None:
    """As a user runs it: a process, from a member folder, and from outside any workspace."""
    command = [sys.executable, "-m", "ws"]
    inside = subprocess.run(
        [*command, "list", "--json"], cwd=root / "packages/core", capture_output=True, text=True
    )
    assert inside.returncode == 0 and json.loads(inside.stdout)["root"] == str(root.resolve())
    outside = subprocess.run([*command, "list"], cwd=tmp_path, capture_output=True, text=True)
    assert outside.returncode == 1
    assert outside.stderr.startswith("error: no uv workspace found")
    assert "Traceback" not in outside.stderr
    usage = subprocess.run([*command, "graph", "--format", "png"], capture_output=True, text=True)
    assert usage.returncode == 2


def test_graph_json_without_networkx_equals_the_graphs(tmp_path: Path) -> None:
    """`ws graph --format json` renders from the members (no networkx to import); it must say
    exactly what the networkx graph says, cycles, extras and self-references included."""
    from ws.cli import report
    from ws.workspace.graph import build_graph
    from ws.workspace.members import load_workspace

    members = {
        "core": {"optional-dependencies": {"a": ["plugin"]}, "dependency-groups": {"dev": ["app"]}},
        "plugin": {"dependencies": ["core"]},
        "app": {"dependencies": ["core[a]", "plugin"], "dependency-groups": {"dev": ["app[x]"]},
                "optional-dependencies": {"x": ["plugin"]}},
    }  # fmt: skip
    root = make_workspace(tmp_path / "ws", members)
    ws_ = load_workspace(root)
    assert report.workspace_graph_json(ws_) == report.graph_json(build_graph(ws_))
    assert (
        ws("graph", "--format", "json", root=root).output
        == report.graph_json(build_graph(ws_)) + "\n"
    )


def test_quiet_silences_the_docker_commands(tmp_path: Path) -> None:
    """-q hides status lines (what was written, that all is current), -qq everything but
    errors, in `ws docker` as in every other command."""
    docker = '[tool.ws.docker]\ncommand = ["api"]'
    pins = (
        '\n[tool.ws.docker]\npython-image = "localhost:5000/python:3.11-slim@sha256:'
        + "a" * 64
        + '"\nuv-image = "localhost:5000/astral-sh/uv:0.13.9@sha256:'
        + "b" * 64
        + '"\n'
    )
    root = make_workspace(tmp_path / "ws", {"api": {"extra": docker}}, root_extra=pins)
    assert "wrote" in ws("docker", "generate", root=root).output
    assert ws("sync-locks", root=root).exit_code == 0
    init_repo(root).commit_all("initial")
    for quiet in ("-q", "-qq"):
        (root / "packages/api/Dockerfile.dockerignore").unlink()
        for args in (["docker", "generate"], ["docker", "build", "--affected", "--since", "HEAD"]):
            result = ws(quiet, *args, root=root)
            assert result.exit_code == 0 and result.output == "", (args, result.output)


def test_version_starts_no_uv(tmp_path: Path) -> None:
    """`ws --version` is ws's own: it neither finds nor runs a uv (a tenth of its time)."""
    marker = tmp_path / "ran"
    shim = build_file_tree(tmp_path / "bin", {"uv": f"#!/bin/sh\ntouch {marker}\necho uv 9\n"})
    (shim / "uv").chmod(0o755)
    env = {**os.environ, "WS_UV": str(shim / "uv")}
    done = subprocess.run(
        [sys.executable, "-m", "ws", "--version"], capture_output=True, text=True, env=env
    )
    assert done.returncode == 0 and done.stdout == f"ws {__version__}\n"
    assert not marker.exists()

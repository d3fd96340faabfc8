"""Every line ws prints passes one door that shows control characters escaped: member names,
folder and file names, uv's and the engine's output cannot move the cursor, retitle the
terminal or start a line that looks like ws's own `error:`.

The escape used is OSC (ESC ] ... BEL), which click's own stripping of colour codes (CSI, on a
pipe) leaves alone: what these tests see is what a terminal would get."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from ws.cli.progress import LiveBuilds, LockProgress

from tests.support.files import build_file_tree, toml_str
from tests.support.gitrepo import init_repo

OSC = "\x1b]0;pwned\x07"
FORGED = "\nerror: forged"
ROOT_PYPROJECT = """\
[project]
name = "root"
version = "0"
requires-python = ">=3.11"
[tool.uv.workspace]
members = ["packages/*"]
"""


def member(name: str, deps: str = "") -> str:
    sources = "[tool.uv.sources]\ncore = { workspace = true }\n" if deps else ""
    return (
        f'[project]\nname = {toml_str(name)}\nversion = "1"\nrequires-python = ">=3.11"\n'
        f"dependencies = [{deps}]\n{sources}"
    )


def run(root: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "ws", "--root", str(root), *args],
        cwd=root,
        capture_output=True,
        text=True,
        env={**os.environ, "NO_COLOR": "1", **(env or {})},
        timeout=120,
        check=False,
    )


def assert_neutralised(done: subprocess.CompletedProcess) -> None:
    shown = done.stdout + done.stderr
    assert "\x1b" not in shown and "\x07" not in shown, shown
    assert "Traceback" not in shown
    for line in shown.splitlines()[1:]:
        assert not line.startswith("error: forged"), shown


@pytest.fixture
def named_root(tmp_path: Path) -> Path:
    """A member whose name carries an escape sequence (ws reads it; uv would refuse it)."""
    return build_file_tree(
        tmp_path / "ws",
        {
            "pyproject.toml": ROOT_PYPROJECT,
            "packages/core/pyproject.toml": member("core"),
            "packages/app/pyproject.toml": member(f"app{OSC}", '"core"'),
        },
    )


def test_affected_escapes_member_names(named_root: Path) -> None:
    repo = init_repo(named_root)
    repo.commit_all("initial")
    (named_root / "packages/core/x.py").write_text("")
    for args in ([], ["--json"], ["--matrix"]):
        done = run(named_root, "affected", "--since", "HEAD", *args)
        assert_neutralised(done)
    done = run(named_root, "affected", "--since", "HEAD")
    assert "\\x1b]0;pwned\\x07" in done.stdout + done.stderr  # shown, or refused, escaped


@pytest.mark.parametrize("fmt", ["dot", "mermaid", "tree", "json"])
def test_graph_escapes_member_names(named_root: Path, fmt: str) -> None:
    done = run(named_root, "graph", "--format", fmt)
    assert_neutralised(done)


def test_an_error_naming_a_folder_cannot_forge_a_line(tmp_path: Path) -> None:
    root = build_file_tree(
        tmp_path / "ws",
        {"pyproject.toml": ROOT_PYPROJECT, "packages/core/pyproject.toml": member("core")},
    )
    (root / f"packages/empty{OSC}{FORGED}").mkdir()
    done = run(root, "list")
    assert done.returncode == 1
    assert_neutralised(done)
    assert done.stderr.startswith("error: ") and "\\x1b]0;pwned\\x07\\nerror: forged" in done.stderr


def test_colour_is_added_after_escaping(tmp_path: Path) -> None:
    root = build_file_tree(tmp_path / "ws", {"pyproject.toml": ROOT_PYPROJECT})
    (root / f"packages/empty{OSC}").mkdir(parents=True)
    done = run(root, "--color", "always", "list")
    assert done.stderr.startswith("\x1b[1;31merror:\x1b[0m ")
    assert "\x07" not in done.stderr and "\\x1b]0;pwned\\x07" in done.stderr


def test_check_lines_escape_folder_names(tmp_path: Path, uv_bin: str, uv_env) -> None:
    folder = f"packages/core{OSC}{FORGED}"
    root = build_file_tree(
        tmp_path / "ws",
        {
            "pyproject.toml": ROOT_PYPROJECT,
            f"{folder}/pyproject.toml": member("core"),
            "packages/app/pyproject.toml": member("app", '"core"'),
        },
    )
    env = {**uv_env, "WS_UV": uv_bin}
    assert run(root, "sync-locks", env=env).returncode == 0
    (root / folder / "uv.lock").unlink()
    done = run(root, "check", env=env)
    assert done.returncode == 1, done.stderr
    assert_neutralised(done)
    assert "\\x1b]0;pwned\\x07\\nerror: forged" in done.stderr


def test_uv_output_in_an_error_is_escaped_and_indented(tmp_path: Path) -> None:
    """uv's (or any command's) stderr under ws's error: escapes shown, no line at the margin."""
    shim = tmp_path / "bin/uv"
    build_file_tree(
        shim.parent,
        {"uv": f"#!/bin/sh\nprintf 'boom{OSC}\\nerror: forged\\n' >&2; exit 2\n"},
    )
    shim.chmod(0o755)
    root = build_file_tree(
        tmp_path / "ws",
        {"pyproject.toml": ROOT_PYPROJECT, "packages/core/pyproject.toml": member("core")},
    )
    done = run(root, "sync-locks", env={"WS_UV": str(shim)})
    assert done.returncode == 1
    assert_neutralised(done)
    assert all(line.startswith(("error:", "hint:", " ")) for line in done.stderr.splitlines())


def test_the_verbose_uv_line_escapes_the_path_it_names(tmp_path: Path, uv_bin: str, uv_env) -> None:
    """`-v` says which uv ws runs, and where: a folder name of WS_UV's goes through the door."""
    shim = tmp_path / f"bin{OSC}{FORGED}" / "uv"
    shim.parent.mkdir()
    shim.symlink_to(uv_bin)
    root = build_file_tree(
        tmp_path / "ws",
        {"pyproject.toml": ROOT_PYPROJECT, "packages/core/pyproject.toml": member("core")},
    )
    done = run(root, "-v", "sync-locks", env={**uv_env, "WS_UV": str(shim)})
    assert done.returncode == 0, done.stderr
    assert_neutralised(done)
    assert "\\x1b]0;pwned\\x07" in done.stderr


def test_engine_output_is_escaped_on_every_kind_of_progress() -> None:
    for live in (False, True):
        stream = io.StringIO()
        display = LiveBuilds(1, stream, live=live)
        display(f"api{OSC}", f"RUN echo{OSC}{FORGED}")
        display.close()
        written = stream.getvalue().replace("\x1b[J", "").replace("\x1b[2F", "")
        assert "\x07" not in written and "\x1b]" not in written
        assert "\nerror: forged" not in written
    plain = io.StringIO()
    LockProgress(plain, live=False, plain=True)(f"app{OSC}", f"created{FORGED}")
    assert plain.getvalue() == "  app\\x1b]0;pwned\\x07: created\\nerror: forged\n"


def test_json_output_is_already_safe(tmp_path: Path) -> None:
    folder = f"packages/core{OSC}{FORGED}"
    root = build_file_tree(
        tmp_path / "ws",
        {"pyproject.toml": ROOT_PYPROJECT, f"{folder}/pyproject.toml": member("core")},
    )
    for args in (["list", "--json"], ["graph", "--format", "json"]):
        done = run(root, *args)
        assert done.returncode == 0 and "\\u001b]0;pwned\\u0007\\nerror: forged" in done.stdout
        assert_neutralised(done)


def test_affected_on_a_file_name_with_escapes(named_root: Path) -> None:
    repo = init_repo(named_root)
    repo.commit_all("initial")
    (named_root / f"packages/core/x{OSC}.py").write_text("")
    done = run(named_root, "affected", "--since", "HEAD", "--json")
    assert_neutralised(done)

"""The command line as uv users expect it: a table of invocations, their exit codes and output,
each run as a real `python -m ws` process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.files import build_file_tree, make_workspace

MEMBERS = {"core": {}, "app": {"dependencies": ["core"]}}


def run(cwd: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "ws", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=120,
        check=False,
    )


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return make_workspace(tmp_path / "ws", MEMBERS)


# (argv, exit code, text on stdout, text on stderr); "{root}" is the workspace
TABLE = [
    (["list", "--root", "{root}"], 0, "packages/app", ""),
    (["list", "--directory", "{root}"], 0, "packages/core", ""),
    (["--root", "{root}", "list"], 0, "packages/core", ""),
    (["graph", "--root={root}", "--format", "json"], 0, '"edges"', ""),
    (["list", "-h"], 0, "Usage: ws list", ""),
    (["-h"], 0, "Usage: ws", ""),
    (["list", "--bogus", "--root", "{root}"], 2, "", "error: No such option"),
    (["list", "--bogus"], 2, "", "hint: `ws list --help`"),
    (["graph", "--format", "svg", "--root", "{root}"], 2, "", "error: Invalid value"),
    (["nonsense"], 2, "", "error: No such command"),
    ([], 2, "", "Usage: ws"),  # help, on stderr: nothing was asked for
    (["docker", "build", "--root", "{root}"], 2, "", "error: say which images to build"),
    (["docker", "build", "--affected", "--root", "{root}"], 2, "", "hint: --affected --since"),
    (["docker", "build", "core", "--all", "--root", "{root}"], 2, "", "say which images to build"),
    (["docker", "build", "--affected", "--since", "HEAD", "--all"], 2, "", "one of the three"),
    (["sync-locks", "--check", "true", "--root", "{root}"], 1, "", "no workspace member named"),
    (["list", "--root", "/nonexistent-ws-root"], 1, "", "error: "),
    (["list", "-q", "--root", "{root}"], 0, "packages/app", ""),
    (["list", "-qq", "--root", "{root}"], 0, "", ""),
    (["--color", "never", "list", "--bogus"], 2, "", "error: No such option"),
    (["--color", "always", "list", "--bogus"], 2, "", "\x1b[1;31merror:\x1b[0m"),
]


@pytest.mark.parametrize(("argv", "code", "stdout", "stderr"), TABLE, ids=lambda v: repr(v)[:40])
def test_invocation(root: Path, argv: list[str], code: int, stdout: str, stderr: str) -> None:
    done = run(root.parent, *(a.replace("{root}", str(root)) for a in argv))
    assert done.returncode == code, done.stdout + done.stderr
    assert stdout in done.stdout
    assert stderr in done.stderr
    assert "Traceback" not in done.stderr
    assert "╭" not in done.stderr, "no boxed panels: one `error:` line"
    if "-qq" in argv:
        assert done.stdout == "" and done.stderr == ""


def test_no_color_is_honoured(root: Path) -> None:
    done = run(root, "list", "--bogus", env={"NO_COLOR": "1", "FORCE_COLOR": ""})
    assert done.stderr.startswith("error: ")


def test_help_shows_no_value_after_a_flag(root: Path) -> None:
    done = run(root, "sync-locks", "--help")
    assert "--check " in done.stdout and "<bool>" not in done.stdout


def test_a_newline_in_a_version_cannot_forge_an_error_line(root: Path) -> None:
    build_file_tree(
        root,
        {"packages/core/pyproject.toml": '[project]\nname = "core"\nversion = "1\\nerror: x"\n'},
    )
    done = run(root, "list")
    assert done.returncode == 0
    assert "\nerror: x" not in done.stdout and "1\\nerror: x" in done.stdout


def test_a_byte_order_mark_is_read_as_uv_reads_it(root: Path) -> None:
    path = root / "packages/core/pyproject.toml"
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    done = run(root, "list")
    assert done.returncode == 0, done.stderr


def test_deep_nesting_is_one_clear_error(root: Path) -> None:
    path = root / "packages/core/pyproject.toml"
    path.write_text(path.read_text() + "x = " + "[" * 5000 + "]" * 5000 + "\n")
    done = run(root, "list")
    assert done.returncode == 1
    assert "packages/core/pyproject.toml" in done.stderr and "Traceback" not in done.stderr


def test_a_member_folder_link_loop_is_one_clear_error(root: Path) -> None:
    (root / "packages/loop").symlink_to(root / "packages/loop")
    done = run(root, "list")
    assert done.returncode == 1, done.stdout
    assert "error: " in done.stderr and "Traceback" not in done.stderr


def test_a_thousand_member_chain_prints_its_tree(tmp_path: Path) -> None:
    members = {f"m{i:04d}": {"dependencies": [f"m{i + 1:04d}"]} for i in range(999)}
    members["m0999"] = {}
    root = make_workspace(tmp_path / "chain", members)
    done = run(root, "graph")
    assert done.returncode == 0, done.stderr[-2000:]
    assert len(done.stdout.splitlines()) == 1000


@pytest.mark.parametrize(
    "command",
    ["", "list", "graph", "affected", "sync-locks", "check", "check imports", "docker",
     "docker generate", "docker pin", "docker build"],
)  # fmt: skip
def test_help_is_plain_text(root: Path, command: str) -> None:
    """No markup escapes (a `\\[`), no boxes, no `<bool>` after a flag."""
    done = run(root, *command.split(), "--help")
    assert done.returncode == 0, done.stderr
    assert "\\[" not in done.stdout and "╭" not in done.stdout and "<bool>" not in done.stdout


def test_the_core_neither_imports_the_command_line_nor_prints() -> None:
    """The command line is a thin layer over the core: no module outside ws.cli (and the
    entry point) imports it, prints, ends the process or reads the environment."""
    import ast

    import ws

    package = Path(ws.__file__).parent
    found = []
    for path in sorted(package.rglob("*.py")):
        rel = path.relative_to(package).as_posix()
        if rel.startswith("cli/") or rel == "entry.py" or "/protocol/" in rel:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            what = _command_line_work(node)
            if what:
                found.append(f"{rel}:{getattr(node, 'lineno', 0)}: {what}")
    assert found == []


def _command_line_work(node: object) -> str | None:
    """What node does that only the command line may do, if anything."""
    import ast

    cli = ("ws.cli", "typer")
    if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(cli):
        return f"imports {node.module}"
    if isinstance(node, ast.Import) and any(a.name.startswith(cli) for a in node.names):
        return "imports the command line"
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        return f"calls {node.func.id}" if node.func.id in ("print", "exit", "quit") else None
    owner = getattr(getattr(node, "value", None), "id", "")
    if isinstance(node, ast.Attribute) and owner in ("os", "sys"):
        if node.attr in ("environ", "getenv", "exit"):  # the command line passes them in
            return f"uses {owner}.{node.attr}"
    return None

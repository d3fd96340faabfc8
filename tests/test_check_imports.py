"""`ws check imports` with the real uv: exact environments made from the root lock offline,
a member whose source and tests import what only a sibling declares, the fix it names."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from ws.checks.imports import check_imports, missing_module_hint
from ws.checks.sources import Context
from ws.run.envs import sync_argv
from ws.workspace.members import load_workspace

from tests.support.files import make_workspace
from tests.support.pyindex import LocalIndex

ROOT = Path(__file__).parents[1]

B_INIT = """\
from __future__ import annotations

import os
from typing import TYPE_CHECKING

import alpha
from . import helpers
import b.helpers
from thing import sub

if TYPE_CHECKING:
    import devtool

try:
    import gamma
except ImportError:
    gamma = None
"""

B_TEST = """\
import thing
import devtool
import b
from helpers_for_tests import HELP
import nsp.two
import nowhere_module
"""

MEMBERS = {
    "a": {
        "dependencies": ["py-thing", "ns-one"],
        "files": {"src/a/__init__.py": "import thing\nimport nsp.one\n"},
    },
    "b": {
        "dependencies": ["alpha"],
        "dependency-groups": {"dev": ["devtool"]},
        "files": {
            "src/b/__init__.py": B_INIT,
            "src/b/helpers.py": "import devtool\n",
            "tests/test_b.py": B_TEST,
            "tests/helpers_for_tests.py": "HELP = 1\n",
        },
    },
    "c": {
        "dependencies": ["ns-two", "delta"],
        "files": {
            "src/c/__init__.py": "import nsp.two\nimport delta\nimport gamma\n",
            "tests/test_c.py": "import c\n",
        },
    },
}


def publish_odd_names(index: LocalIndex) -> None:
    """A distribution whose module is not its name, and two sharing a namespace package."""
    index.add("py-thing", "1.0", files={"thing/__init__.py": "", "thing/sub.py": ""})
    index.add("ns-one", "1.0", files={"nsp/one/__init__.py": ""})
    index.add("ns-two", "1.0", files={"nsp/two/__init__.py": ""})


def uv(root: Path, uv_bin: str, env: dict[str, str], *args: str) -> None:
    done = subprocess.run([uv_bin, *args], cwd=root, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def make_env(root: Path, uv_bin: str, env: dict[str, str], member: str) -> Path:
    """An exact environment as `ws run` makes it (ws.run.envs.sync_argv): the member's part
    of the root lock and its own groups, in .ws/envs/<member>."""
    folder = root / ".ws" / "envs" / member
    argv = sync_argv(uv_bin, load_workspace(root).members[member])
    uv(root, argv[0], {**env, "UV_PROJECT_ENVIRONMENT": str(folder)}, *argv[1:])
    return folder


@pytest.fixture
def index(pyindex_factory) -> LocalIndex:
    index = pyindex_factory()
    publish_odd_names(index)
    return index


@pytest.fixture
def workspace(tmp_path: Path, index: LocalIndex, uv_bin: str, uv_env: dict[str, str]) -> Path:
    root = make_workspace(tmp_path / "ws", MEMBERS, index_url=index.url)
    uv(root, uv_bin, uv_env, "lock")
    for member in MEMBERS:
        make_env(root, uv_bin, uv_env, member)
    return root


def ws_offline(root: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    """`ws --root root args` as a process, with uv offline."""
    return subprocess.run(
        [sys.executable, "-m", "ws", "--root", str(root), *args],
        env={**env, "UV_OFFLINE": "1"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def envs_of(root: Path, asked: list[str]) -> Callable[[str], Path]:
    def environment(member: str) -> Path:
        asked.append(member)
        return root / ".ws" / "envs" / member

    return environment


def test_an_import_only_a_sibling_declares_is_reported_with_its_fix(workspace: Path) -> None:
    ws = load_workspace(workspace)
    lock = ws.lock.parsed()
    asked: list[str] = []
    reports = {
        r.member: r for r in check_imports(ws, lock, ["a", "b", "c"], envs_of(workspace, asked))
    }
    assert reports["a"].findings == () and reports["c"].findings == ()
    assert reports["c"].files == 2
    got = [
        (f.path.relative_to(workspace / "packages/b").as_posix(), f.line, f.module,
         f.distribution, f.declared_by, f.in_groups, f.fix)
        for f in reports["b"].findings
    ]  # fmt: skip
    assert got == [
        ("src/b/__init__.py", 9, "thing", "py-thing", ("a",), False,
         "uv add --package b py-thing"),
        ("src/b/helpers.py", 1, "devtool", "devtool", ("b",), True,
         "uv add --package b devtool"),
        ("tests/test_b.py", 1, "thing", "py-thing", ("a",), False,
         "uv add --package b --dev py-thing"),
        ("tests/test_b.py", 5, "nsp.two", "ns-two", ("c",), False,
         "uv add --package b --dev ns-two"),
        ("tests/test_b.py", 6, "nowhere_module", None, (), False,
         "uv add --package b --dev <the distribution that provides it>"),
    ]  # fmt: skip
    assert all(f.context is Context.runtime for f in reports["b"].findings)
    assert sorted(asked) == ["a", "b", "c"], "each environment read once"


def test_a_named_member_reads_its_siblings_environments_only_to_name_a_fix(
    workspace: Path,
) -> None:
    ws = load_workspace(workspace)
    lock = ws.lock.parsed()
    asked: list[str] = []
    (c_report,) = check_imports(ws, lock, ["c"], envs_of(workspace, asked))
    assert c_report.findings == () and asked == ["c"]
    (b_report,) = check_imports(ws, lock, ["b"], envs_of(workspace, asked))
    assert asked == ["c", "b", "a", "c"]  # nowhere_module: every sibling is asked
    assert b_report.findings[0].distribution == "py-thing"


def test_the_runner_hint_names_the_distribution_and_the_fix(workspace: Path) -> None:
    ws = load_workspace(workspace)
    lock = ws.lock.parsed()
    envs = [workspace / ".ws/envs" / m for m in MEMBERS]
    failed = "E   ModuleNotFoundError: No module named 'thing'\n"
    hint = missing_module_hint(failed, ws, lock, "b", envs)
    assert hint == (
        "b imports `thing`, which py-thing (declared by a) provides and b does not install: "
        "`uv add --package b py-thing` (with --dev if only its tests need it)"
    )
    sibling = "ModuleNotFoundError: No module named 'a.x'"
    assert missing_module_hint(sibling, ws, lock, "c", envs) == (
        "c imports `a.x` from its sibling a, which it does not depend on: "
        "`uv add --package c a` (with --dev if only its tests need it)"
    )
    assert missing_module_hint("1 passed", ws, lock, "b", envs) is None
    assert missing_module_hint(failed, ws, lock, "b") == hint, "every env made already"
    assert missing_module_hint(failed, ws, lock, "b", []) == (
        "b imports `thing`, which nothing the workspace locks provides: "
        "`uv add --package b <the distribution that provides it>`"
    ), "py-thing's module is not its name: only its metadata says it"
    for installed in ("b.nothing", "alpha.gone", "devtool"):
        output = f"ModuleNotFoundError: No module named '{installed}'"
        assert missing_module_hint(output, ws, lock, "b", envs) is None, installed


def test_the_command_runs_offline_and_exits_1_naming_each_fix(
    workspace: Path, index: LocalIndex, uv_bin: str, uv_env: dict[str, str]
) -> None:
    """The environments are made again by the command itself, offline: from uv's cache."""
    shutil.rmtree(workspace / ".ws" / "envs")
    index.close()
    done = ws_offline(workspace, {**uv_env, "WS_UV": uv_bin}, "check", "imports")
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    lines = done.stderr.splitlines()
    assert lines[0] == "error: 5 problem(s):"
    assert lines[1] == (
        "  packages/b/src/b/__init__.py:9: b imports `thing`, which py-thing (declared by a) "
        "provides and b does not install: `uv add --package b py-thing`"
    )
    assert lines[2] == (
        "  packages/b/src/b/helpers.py:1: b imports `devtool`, from devtool, which b installs "
        "only with its dependency groups: `uv add --package b devtool`"
    )
    assert "tests/test_b.py:6: b imports `nowhere_module`, which no distribution" in lines[5]
    assert lines[-1] == "hint: declare each with the `uv add` named, then run `ws sync-locks`"
    assert sorted(p.name for p in (workspace / ".ws" / "envs").iterdir()) == ["a", "b", "c"]


def test_a_clean_workspace_passes_and_json_names_each_finding(
    workspace: Path, uv_bin: str, uv_env: dict[str, str]
) -> None:
    env = {**uv_env, "WS_UV": uv_bin}
    done = ws_offline(workspace, env, "check", "imports", "a", "c")
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout == "every import of 2 member(s) resolves to what it installs (3 files)\n"
    done = ws_offline(workspace, env, "check", "imports", "b", "--json")
    assert done.returncode == 1, done.stderr
    report = json.loads(done.stdout)
    assert list(report) == ["schema", "ok", "members", "notes"] and report["ok"] is False
    assert report["notes"] == []
    (member,) = report["members"]
    assert (member["name"], member["path"], member["files"]) == ("b", "packages/b", 4)
    assert member["findings"][0] == {
        "file": "packages/b/src/b/__init__.py",
        "line": 9,
        "module": "thing",
        "code": "package",
        "context": "runtime",
        "distribution": "py-thing",
        "declared_by": ["a"],
        "in_groups": False,
        "fix": "uv add --package b py-thing",
    }
    assert [f["code"] for f in member["findings"]] == [
        "package",
        "package",
        "other",
        "other",
        "other",
    ]


def test_an_unknown_member_is_one_clear_error(workspace: Path, uv_env: dict[str, str]) -> None:
    done = ws_offline(workspace, uv_env, "check", "imports", "nobody")
    assert done.returncode == 1
    assert "no workspace member named 'nobody'" in done.stderr and "Traceback" not in done.stderr


def test_the_repository_own_workspace_passes() -> None:
    """Offline: `make bootstrap` fills uv's cache with every member's packages and extras."""
    done = ws_offline(ROOT, dict(os.environ), "check", "imports")
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_file_that_is_not_python_is_named_and_skipped(
    workspace: Path, uv_bin: str, uv_env: dict[str, str]
) -> None:
    (workspace / "packages/c/scripts").mkdir()
    (workspace / "packages/c/scripts/broken.py").write_text("import os\nimport (\n")
    env = {**uv_env, "WS_UV": uv_bin}
    done = ws_offline(workspace, env, "check", "imports", "c")
    assert done.returncode == 0, done.stderr
    assert done.stderr.startswith(
        "warning: packages/c/scripts/broken.py:2: not read as Python: invalid syntax (skipped)"
    ), done.stderr
    done = ws_offline(workspace, env, "check", "imports", "c", "--json")
    (member,) = json.loads(done.stdout)["members"]
    assert member["unreadable"] == [
        "packages/c/scripts/broken.py:2: not read as Python: invalid syntax"
    ]


def test_offline_without_the_packages_in_uv_cache(
    workspace: Path, tmp_path: Path, uv_bin: str, uv_env: dict[str, str]
) -> None:
    """A member's own environment that cannot be made is one clear error; a sibling's,
    read only to name a fix, is a warning and the fix goes unnamed."""
    env = {**uv_env, "WS_UV": uv_bin, "UV_CACHE_DIR": str(tmp_path / "empty-cache")}
    shutil.rmtree(workspace / ".ws/envs/a")
    done = ws_offline(workspace, env, "check", "imports", "b")
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    assert done.stderr.startswith(
        "warning: a's environment was not read (so no fix names what it provides): "
        "uv could not make a's environment"
    ), done.stderr
    assert "b imports `thing`, which no distribution the workspace locks provides" in done.stderr
    shutil.rmtree(workspace / ".ws/envs/b")
    done = ws_offline(workspace, env, "check", "imports", "b")
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    assert done.stderr.startswith("error: uv could not make b's environment in "), done.stderr
    assert "hint: " in done.stderr

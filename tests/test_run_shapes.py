"""`ws run` on the shapes real uv workspaces have (found by running it on public ones: pytest
only in the root's dev group, a root project with its own tests, conftest.py files above the
members, `package = false` members, path sources outside the members, versions from git,
coloured test output), each as a minimal workspace with the real uv, git and pytest."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from tests.support.files import PATH_SOURCE_TREE, build_file_tree, make_workspace
from tests.support.gitrepo import GitRepo
from tests.support.pyindex import DEFAULT_CATALOGUE, LocalIndex
from tests.test_run import TASKS, ran, results, serve, task_env, ws

PYTEST = {"dev": ["pytest"]}


def _logged(name: str, body: str = "    pass\n", head: str = "") -> str:
    """A test file logging its run to $RUN_LOG (as tests/test_run.py's do), then body."""
    return (
        f"import os\n{head}\n"
        "with open(os.environ['RUN_LOG'], 'a') as log:\n"
        f"    log.write('{name}\\n')\n\n"
        f"def test_it():\n{body}"
    )


@pytest.fixture(scope="module")
def index() -> Iterator[LocalIndex]:
    yield from serve(DEFAULT_CATALOGUE)


@pytest.fixture
def env(uv_env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    return task_env(uv_env, tmp_path)


def _workspace(
    root: Path,
    members: Mapping[str, Mapping[str, Any]],
    index: LocalIndex,
    uv_bin: str,
    env: dict[str, str],
    *,
    root_extra: str = TASKS,
    files: Mapping[str, str] | None = None,
) -> GitRepo:
    make_workspace(root, members, index_url=index.url, root_extra=root_extra)
    # as every real repository has it: the bytecode pytest writes is not committed
    build_file_tree(root, {".gitignore": "__pycache__/\n", **(files or {})})
    repo = GitRepo(root)
    repo.git("init", "-q")
    repo.commit_all("workspace")  # before uv lock: a version from git needs a commit
    subprocess.run([uv_bin, "lock", "-q"], cwd=root, env=env, check=True)
    repo.commit_all("lock")
    return repo


def _shared_run(repo: GitRepo, member: str, uv_bin: str, env: dict[str, str]) -> int:
    """uv's way: every member in the one .venv, the member's tests run there."""
    subprocess.run([uv_bin, "sync", "--all-packages", "-q"], cwd=repo.path, env=env, check=True)
    argv = [uv_bin, "run", "--package", member, "pytest", "-q", "-p", "no:cacheprovider"]
    done = subprocess.run(
        argv, cwd=repo.path / "packages" / member, env=env, capture_output=True, check=False
    )
    return done.returncode


# DataDesigner, livekit-agents, pydantic-ai, the MCP Python SDK: pytest and its plugins are
# in the root's dev group only, and no member declares them.
ROOT_TOOLS = (
    TASKS
    + """
[project]
name = "the-root"
version = "0"
requires-python = ">=3.11"

[tool.uv]
package = false

[dependency-groups]
dev = ["pytest"]
"""
)


def test_pytest_only_in_the_root_dev_group_says_so(
    tmp_path: Path, index: LocalIndex, uv_bin: str, env: dict[str, str]
) -> None:
    members = {name: {"files": {"tests/test_it.py": _logged(name)}} for name in ("lib-a", "lib-b")}
    repo = _workspace(tmp_path / "repo", members, index, uv_bin, env, root_extra=ROOT_TOOLS)
    done = ws(repo.path, env, "run", "test", "--json")
    assert done.returncode == 1
    got = results(done)
    assert {m: r["status"] for m, r in got.items()} == {
        "lib-a": "skipped",
        "lib-b": "skipped",
        "the-root": "skipped",
    }
    reason = got["lib-a"]["reason"]
    assert "pytest is not installed in lib-a's environment" in reason
    assert "only the workspace root declares it (dependency group dev)" in reason
    error = done.stderr[done.stderr.index("error:") :]
    assert error.count("is not installed") == 1, error  # one line, not one per member
    assert "3 members skipped" in error and "Traceback" not in done.stderr
    # uv's shared environment has the root's pytest for every member
    assert _shared_run(repo, "lib-a", uv_bin, env) == 0


def test_a_root_project_runs_its_own_tests_at_the_root(
    tmp_path: Path, index: LocalIndex, uv_bin: str, env: dict[str, str]
) -> None:
    root_extra = (
        TASKS
        + """
[project]
name = "the-root"
version = "0"
requires-python = ">=3.11"
dependencies = ["lib-a"]

[tool.uv]
package = false

[tool.uv.sources]
lib-a = { workspace = true }

[dependency-groups]
dev = ["pytest"]

[tool.pytest.ini_options]
testpaths = ["tests"]
"""
    )
    members = {
        "lib-a": {"dependency-groups": PYTEST, "files": {"tests/test_a.py": _logged("lib-a")}},
        "lib-b": {"dependency-groups": PYTEST, "files": {"tests/test_b.py": _logged("lib-b")}},
    }
    files = {"tests/test_root.py": _logged("the-root", "    import lib_a\n")}
    repo = _workspace(
        tmp_path / "repo", members, index, uv_bin, env, root_extra=root_extra, files=files
    )
    done = ws(repo.path, env, "run", "test", "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    assert ran(env) == ["lib-a", "lib-b", "the-root"]
    # lib-b's files are not the root's, though they lie in its folder
    repo.commit_files({"packages/lib-b/tests/test_more.py": "def test_more():\n    pass\n"})
    ws(repo.path, env, "run", "test")
    assert ran(env) == ["lib-b"]
    repo.commit_files({"packages/lib-a/src/lib_a/more.py": "X = 1\n"})
    ws(repo.path, env, "run", "test")
    assert ran(env) == ["lib-a", "the-root"]


def test_a_conftest_between_the_root_and_the_member_is_an_input(
    tmp_path: Path, index: LocalIndex, uv_bin: str, env: dict[str, str]
) -> None:
    """postmodern-mono's libs/ and apps/: pytest reads a conftest.py (or an ini file) in any
    folder above the member's, up to its rootdir."""
    members = {
        "lib-a": {"dependency-groups": PYTEST, "files": {"tests/test_a.py": _logged("lib-a")}},
    }
    root_extra = TASKS + "\n[tool.pytest.ini_options]\naddopts = []\n"
    files = {"packages/conftest.py": "GREETING = 'hello'\n"}
    repo = _workspace(
        tmp_path / "repo", members, index, uv_bin, env, root_extra=root_extra, files=files
    )
    ws(repo.path, env, "run", "test")
    assert ran(env) == ["lib-a"]
    repo.commit_files(
        {
            "packages/conftest.py": "def pytest_collection_modifyitems(items):\n"
            "    raise SystemExit('the conftest changed')\n"
        }
    )
    done = ws(repo.path, env, "run", "test")
    assert done.returncode == 1, done.stdout
    assert "the conftest changed" in done.stdout


def test_a_root_conftest_importing_what_only_the_root_declares(
    tmp_path: Path, index: LocalIndex, uv_bin: str, env: dict[str, str]
) -> None:
    """A root conftest.py that pytest loads for every member: what it imports must be in each
    member's environment, as it would be in the member's image."""
    root_extra = ROOT_TOOLS.replace('dev = ["pytest"]', 'dev = ["pytest", "gamma"]')
    root_extra += "\n[tool.pytest.ini_options]\naddopts = []\n"
    members = {
        "lib-a": {"dependency-groups": PYTEST, "files": {"tests/test_a.py": _logged("lib-a")}},
    }
    files = {"conftest.py": "import gamma\n"}
    repo = _workspace(
        tmp_path / "repo", members, index, uv_bin, env, root_extra=root_extra, files=files
    )
    done = ws(repo.path, env, "run", "test", "lib-a")
    assert done.returncode == 1
    assert "No module named 'gamma'" in done.stdout
    assert _shared_run(repo, "lib-a", uv_bin, env) == 0


def test_a_member_that_is_not_a_package(
    tmp_path: Path, index: LocalIndex, uv_bin: str, env: dict[str, str]
) -> None:
    members = {
        "app": {
            "package": False,
            "dependencies": ["alpha"],
            "dependency-groups": PYTEST,
            "files": {
                "app_main.py": "import alpha\nVALUE = 1\n",
                "tests/test_app.py": _logged(
                    "app", "    assert app_main.VALUE == 1\n", "import app_main\n"
                ),
                "tests/conftest.py": "import sys, pathlib\n"
                "sys.path.insert(0, str(pathlib.Path(__file__).parents[1]))\n",
            },
        },
    }
    repo = _workspace(tmp_path / "repo", members, index, uv_bin, env)
    done = ws(repo.path, env, "run", "test", "--json")
    assert results(done)["app"]["status"] == "passed", done.stdout + done.stderr
    assert ran(env) == ["app"]


def test_a_path_source_change_reaches_the_environment(
    tmp_path: Path, index: LocalIndex, uv_bin: str, env: dict[str, str]
) -> None:
    """A project outside the members, installed from a `path` source (not editable): a change
    to its code reruns the member's task, against the changed code."""
    root_extra = TASKS + '\n[tool.uv.sources]\nliba = { path = "libs/liba" }\n'
    body = "    import liba\n    assert liba.NAME == 'liba'\n"
    members = {
        "app": {
            "dependencies": ["liba"],
            "dependency-groups": PYTEST,
            "files": {"tests/test_app.py": _logged("app", body)},
        },
    }
    repo = _workspace(
        tmp_path / "repo",
        members,
        index,
        uv_bin,
        env,
        root_extra=root_extra,
        files=PATH_SOURCE_TREE,
    )
    assert ws(repo.path, env, "run", "test").returncode == 0
    assert ran(env) == ["app"]
    repo.commit_files({"libs/liba/src/liba/__init__.py": "NAME = 'changed'\n"})
    done = ws(repo.path, env, "run", "test")
    assert ran(env) == ["app"]
    assert done.returncode == 1, done.stdout  # the test saw the changed code


def test_a_member_versioned_from_git(
    tmp_path: Path, index: LocalIndex, uv_bin: str, env: dict[str, str]
) -> None:
    """hatch-vcs (as setuptools-scm and uv-dynamic-versioning): the version is git's; a commit
    elsewhere leaves the member's result as it was."""
    members = {
        "lib-v": {
            "package": False,
            "dependency-groups": PYTEST,
            "files": {"tests/test_v.py": _logged("lib-v")},
            "extra": '[build-system]\nrequires = ["hatchling", "hatch-vcs"]\n'
            'build-backend = "hatchling.build"\n\n[tool.hatch.version]\nsource = "vcs"\n'
            '[tool.hatch.version.raw-options]\nroot = "../.."\n'
            '[tool.hatch.build.targets.wheel]\npackages = ["lib_v"]\n',
        },
    }
    files = {"packages/lib-v/lib_v/__init__.py": ""}
    repo = _workspace(tmp_path / "repo", members, index, uv_bin, env, files=files)
    pyproject = repo.path / "packages" / "lib-v" / "pyproject.toml"
    text = pyproject.read_text().replace('version = "0.1.0"\n', 'dynamic = ["version"]\n')
    pyproject.write_text(text.replace("[tool.uv]\npackage = false\n", ""))
    subprocess.run([uv_bin, "lock", "-q"], cwd=repo.path, env=env, check=True)
    repo.commit_all("versioned from git")
    repo.git("tag", "v1.0")
    done = ws(repo.path, env, "run", "test", "--json")
    assert results(done)["lib-v"]["status"] == "passed", done.stdout + done.stderr
    assert ran(env) == ["lib-v"]
    repo.commit_files({"README.md": "a commit elsewhere\n"})
    ws(repo.path, env, "run", "test")
    assert ran(env) == []


def test_a_task_colouring_its_output_is_shown_without_escapes(
    tmp_path: Path, index: LocalIndex, uv_bin: str, env: dict[str, str]
) -> None:
    """pytest --color=yes in addopts (the MCP SDK), FORCE_COLOR in CI: colour codes, and the
    carriage returns of progress lines, are not shown as `\\x1b[31m` and `\\r`."""
    # chr(): the test's source, which pytest shows with its failure, holds no escape
    body = "    esc, crlf = chr(27), chr(13) + chr(10)\n"
    body += "    print(esc + '[31mred' + esc + '[0m says' + crlf + 'no')\n    assert False\n"
    members = {
        "lib-a": {"dependency-groups": PYTEST, "files": {"tests/test_a.py": _logged("lib-a", body)}}
    }
    repo = _workspace(tmp_path / "repo", members, index, uv_bin, env)
    done = ws(repo.path, env, "run", "test")
    assert done.returncode == 1
    assert "red says" in done.stdout
    assert "\\x1b" not in done.stdout and "\\r" not in done.stdout
    assert "\x1b" not in done.stdout  # not a terminal: no colour
    hostile = "    print(chr(27) + ']0;title' + chr(7) + chr(27) + '[2J')\n    assert False\n"
    repo.write({"packages/lib-a/tests/test_a.py": _logged("lib-a", hostile)})
    done = ws(repo.path, env, "--color", "always", "run", "test")
    assert "\\x1b]0;title" in done.stdout  # shown, escaped
    assert "\x1b]" not in done.stdout and "\x1b[2J" not in done.stdout  # only colours pass


def test_a_path_source_that_is_a_file_is_an_input() -> None:
    """`{ path = "wheels/liba-1.0-py3-none-any.whl" }`: the wheel's blob keys the result, as
    a folder's files do."""
    from ws.run.inputs import Tree

    wheel = "wheels/liba-1.0-py3-none-any.whl"
    before = Tree({wheel: "100644 " + "1" * 40, "wheels/other.whl": "100644 " + "3" * 40})
    after = Tree({wheel: "100644 " + "2" * 40, "wheels/other.whl": "100644 " + "3" * 40})
    assert before.fingerprint(wheel) != after.fingerprint(wheel)
    assert before.fingerprint("wheels") != after.fingerprint("wheels")


def test_a_pass_too_large_to_store_says_so(
    tmp_path: Path, index: LocalIndex, uv_bin: str, env: dict[str, str]
) -> None:
    """A task printing more than ws stores (64 MiB) passes, is not stored, and the run says
    why the next one runs it again."""
    spam = "import sys; [sys.stdout.write('x' * 1023 + chr(10)) for _ in range(65 * 1024)]"
    root_extra = TASKS + f"spam = {{ cmd = ['python', '-c', {spam!r}] }}\n"
    members = {"lib-a": {"dependency-groups": PYTEST}}
    repo = _workspace(tmp_path / "repo", members, index, uv_bin, env, root_extra=root_extra)
    for _ in range(2):
        done = ws(repo.path, env, "run", "spam", "--json")
        assert results(done)["lib-a"]["status"] == "passed"
        assert results(done)["lib-a"]["cached"] is False
        assert "lib-a: its output (65 MiB) is over the 64 MiB ws stores" in done.stderr

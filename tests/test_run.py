"""`ws run`: each member's task in its exact environment, results reused while the inputs
are unchanged. The real uv, git and pytest, on a loopback index."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.backend_wheels import real_wheels
from tests.support.files import make_workspace
from tests.support.gitrepo import GitRepo, git_env
from tests.support.pyindex import DEFAULT_CATALOGUE, LocalIndex, Package

TASKS = """
[tool.ws.tasks]
test = { cmd = "pytest -q -p no:cacheprovider", if-exists = ["tests"] }
"""


def _test(name: str, body: str) -> str:
    """A test file that logs its run to $RUN_LOG (one line per task process), then body."""
    return (
        "import os\n\n"
        "with open(os.environ['RUN_LOG'], 'a') as log:\n"
        f"    log.write('{name}\\n')\n\n"
        f"def test_it():\n{body}"
    )


MEMBERS = {
    # a library most members install
    "lib-a": {
        "dependencies": ["alpha"],
        "dependency-groups": {"dev": ["pytest"]},
        "files": {"tests/test_a.py": _test("lib-a", "    import alpha, lib_a\n")},
    },
    # declares gamma; app-b's tests import it without declaring it
    "lib-c": {
        "dependencies": ["gamma"],
        "dependency-groups": {"dev": ["pytest"]},
        "files": {"tests/test_c.py": _test("lib-c", "    import gamma, lib_c\n")},
    },
    "app-b": {
        "dependencies": ["lib-a"],
        "dependency-groups": {"dev": ["pytest"]},
        "files": {"tests/test_b.py": _test("app-b", "    import lib_a, gamma\n")},
    },
    # the only member installing zeta (bumped in the lock by a test)
    "app-z": {
        "dependencies": ["zeta", "lib-a"],
        "dependency-groups": {"dev": ["pytest"]},
        "files": {"tests/test_z.py": _test("app-z", "    import zeta, lib_a\n")},
    },
    # no tests folder: the task does not apply
    "tool-d": {"dependencies": []},
}


def serve(catalogue: tuple[Package, ...]) -> Iterator[LocalIndex]:
    """An index of catalogue and the real wheels tasks need (pytest, build backends)."""
    with LocalIndex(catalogue) as served:
        for wheel in real_wheels():
            served.add_file(wheel)
        yield served


def task_env(uv_env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    """What ws run runs with in these tests: git's fixed identity, a log the tasks write,
    ws's machine key under tmp_path, and no CI or colour setting of the outer run."""
    merged = {**git_env(uv_env), "RUN_LOG": str(tmp_path / "run.log")}
    merged["XDG_CACHE_HOME"] = str(tmp_path / "cache")  # ws's machine key lives there
    for name in ("GITHUB_ACTIONS", "CI", "NO_COLOR", "FORCE_COLOR"):
        merged.pop(name, None)
    return merged


@pytest.fixture(scope="module")
def index() -> Iterator[LocalIndex]:
    yield from serve((*DEFAULT_CATALOGUE, Package("zeta", "1.0")))


@pytest.fixture
def env(uv_env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    return task_env(uv_env, tmp_path)


@pytest.fixture
def repo(tmp_path: Path, index: LocalIndex, uv_bin: str, env: dict[str, str]) -> GitRepo:
    root = make_workspace(tmp_path / "repo", MEMBERS, index_url=index.url, root_extra=TASKS)
    # no .gitignore: the bytecode pytest writes is untracked, and still no input
    subprocess.run([uv_bin, "lock", "-q"], cwd=root, env=env, check=True)
    repo = GitRepo(root)
    repo.git("init", "-q")
    repo.commit_all("workspace")
    return repo


def ws(root: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "ws", "--root", str(root), *args]
    return subprocess.run(argv, env=env, capture_output=True, text=True, check=False)


def ran(env: dict[str, str]) -> list[str]:
    """The task processes started since the last call (their tests logged themselves)."""
    log = Path(env["RUN_LOG"])
    if not log.exists():
        return []
    names = log.read_text().split()
    log.unlink()
    return sorted(names)


def results(done: subprocess.CompletedProcess[str]) -> dict[str, dict]:
    assert done.stdout, done.stderr
    return {r["member"]: r for r in json.loads(done.stdout)["results"]}


def test_each_member_runs_in_its_own_environment(
    repo: GitRepo, env: dict[str, str], uv_bin: str
) -> None:
    done = ws(repo.path, env, "run", "test", "--json")
    assert done.returncode == 1, done.stderr
    got = results(done)
    assert {m: r["status"] for m, r in got.items()} == {
        "app-b": "failed",
        "app-z": "passed",
        "lib-a": "passed",
        "lib-c": "passed",
        "tool-d": "skipped",
    }
    assert got["tool-d"]["reason"] == "no tests in packages/tool-d"
    assert "No module named 'gamma'" in done.stderr  # the failure's output is shown
    # ... and what provides the import, with the fix
    assert "uv add --package app-b gamma" in done.stderr, done.stderr
    # In one shared environment (uv's way), app-b's undeclared import passes: the point.
    subprocess.run([uv_bin, "sync", "--all-packages", "-q"], cwd=repo.path, env=env, check=True)
    shared = subprocess.run(
        [uv_bin, "run", "--package", "app-b", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=repo.path / "packages" / "app-b",
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert shared.returncode == 0, shared.stdout + shared.stderr


def test_environments_hold_exactly_the_member_lock(repo: GitRepo, env: dict[str, str]) -> None:
    ws(repo.path, env, "run", "test")
    site = list((repo.path / ".ws" / "envs" / "lib-a").glob("lib/python*/site-packages"))[0]
    dists = sorted(p.name.split("-")[0].lower() for p in site.glob("*.dist-info"))
    assert dists == ["alpha", "iniconfig", "lib_a", "packaging", "pluggy", "pygments", "pytest"]


def test_no_change_starts_no_task(repo: GitRepo, env: dict[str, str]) -> None:
    ws(repo.path, env, "run", "test")
    assert ran(env) == ["app-b", "app-z", "lib-a", "lib-c"]
    again = ws(repo.path, env, "run", "test", "--json")
    assert ran(env) == ["app-b"]  # a failure is never stored: it runs again
    cached = {m for m, r in results(again).items() if r["cached"]}
    assert cached == {"app-z", "lib-a", "lib-c"}


def test_a_library_change_reruns_it_and_what_installs_it(
    repo: GitRepo, env: dict[str, str]
) -> None:
    ws(repo.path, env, "run", "test")
    ran(env)
    init = repo.path / "packages" / "lib-a" / "src" / "lib_a" / "__init__.py"
    init.write_text(init.read_text() + "CHANGED = True\n")  # not committed: read from disk
    ws(repo.path, env, "run", "test")
    assert ran(env) == ["app-b", "app-z", "lib-a"]
    repo.commit_all("lib-a changed")  # the same content, now from git's index
    ws(repo.path, env, "run", "test")
    assert ran(env) == ["app-b"]


def test_a_root_lock_bump_reruns_only_the_member_installing_it(
    repo: GitRepo, env: dict[str, str], index: LocalIndex, uv_bin: str
) -> None:
    ws(repo.path, env, "run", "test")
    ran(env)
    if not index.releases("zeta")[1:]:
        index.add("zeta", "1.1")
    argv = [uv_bin, "lock", "-q", "--upgrade-package", "zeta"]
    subprocess.run(argv, cwd=repo.path, env=env, check=True)
    assert 'name = "zeta"\nversion = "1.1"' in (repo.path / "uv.lock").read_text()
    ws(repo.path, env, "run", "test")
    assert ran(env) == ["app-b", "app-z"]


def test_affected_since_runs_only_what_the_change_affects(
    repo: GitRepo, env: dict[str, str]
) -> None:
    base = repo.head()
    repo.commit_files({"packages/lib-c/src/lib_c/extra.py": "X = 1\n"})
    done = ws(repo.path, env, "run", "test", "--affected", "--since", base, "--json")
    assert set(results(done)) == {"lib-c"}
    assert ran(env) == ["lib-c"]


def test_named_members_and_arguments_after_the_separator(
    repo: GitRepo, env: dict[str, str]
) -> None:
    done = ws(repo.path, env, "run", "test", "lib-a", "--json", "--", "-k", "nothing_matches")
    # pytest's own exit code 5: no test selected; ws reports the member failed with it
    assert results(done)["lib-a"]["exit_code"] == 5
    assert set(results(done)) == {"lib-a"}


def test_no_cache_runs_everything_and_clean_empties_the_store(
    repo: GitRepo, env: dict[str, str]
) -> None:
    ws(repo.path, env, "run", "test")
    ran(env)
    ws(repo.path, env, "run", "test", "--no-cache")
    assert ran(env) == ["app-b", "app-z", "lib-a", "lib-c"]
    assert ws(repo.path, env, "clean", "--results").returncode == 0
    ws(repo.path, env, "run", "test")
    assert ran(env) == ["app-b", "app-z", "lib-a", "lib-c"]


def test_a_tampered_local_entry_is_not_used(repo: GitRepo, env: dict[str, str]) -> None:
    ws(repo.path, env, "run", "test", "lib-a")
    ran(env)
    (entry,) = (repo.path / ".ws" / "results" / "entries").iterdir()
    entry.write_bytes(entry.read_bytes().replace(b'"seconds"', b'"seconds" '))
    ws(repo.path, env, "run", "test", "lib-a")
    assert ran(env) == ["lib-a"]


def test_a_committed_ws_folder_vouches_for_no_result(repo: GitRepo, env: dict[str, str]) -> None:
    """A .ws that git tracks is the repository's: no result of it is replayed, and ws run,
    which keeps environments and results there, says how to take it out of git."""
    ws(repo.path, env, "run", "test", "lib-a")
    ran(env)
    repo.git("add", "-f", ".ws/results")
    refused = ws(repo.path, env, "run", "test", "lib-a")
    assert refused.returncode == 1
    assert "is tracked by git" in refused.stderr and "git rm -r --cached .ws" in refused.stderr
    assert ran(env) == []


def test_a_tool_missing_from_the_environment(repo: GitRepo, env: dict[str, str]) -> None:
    (repo.path / "packages" / "tool-d" / "tests").mkdir()
    done = ws(repo.path, env, "run", "test", "tool-d", "--json")
    assert results(done)["tool-d"]["status"] == "skipped"
    assert results(done)["tool-d"]["reason"] == "pytest is not installed in tool-d's environment"


def test_bad_input_is_one_clear_error(repo: GitRepo, env: dict[str, str]) -> None:
    unknown_task = ws(repo.path, env, "run", "deploy")
    assert unknown_task.returncode == 1
    assert "no task named 'deploy'" in unknown_task.stderr and "hint:" in unknown_task.stderr
    unknown_member = ws(repo.path, env, "run", "test", "nope")
    assert unknown_member.returncode == 1
    assert "no workspace member named 'nope'" in unknown_member.stderr
    no_since = ws(repo.path, env, "run", "test", "--affected")
    assert no_since.returncode == 2
    pyproject = repo.path / "pyproject.toml"
    pyproject.write_text(pyproject.read_text() + 'lint = { cmd = "" }\n')
    empty = ws(repo.path, env, "run", "lint")
    assert empty.returncode == 1 and "tool.ws.tasks.lint.cmd is empty" in empty.stderr
    for done in (unknown_task, unknown_member, no_since, empty):
        assert "Traceback" not in done.stderr


def test_a_task_past_its_timeout_is_stopped(repo: GitRepo, env: dict[str, str]) -> None:
    test = repo.path / "packages" / "lib-a" / "tests" / "test_a.py"
    test.write_text("import time\n\ndef test_slow():\n    time.sleep(60)\n")
    started = time.monotonic()
    done = ws(repo.path, env, "run", "test", "lib-a", "--timeout", "3", "--json")
    assert time.monotonic() - started < 30
    assert done.returncode == 1
    assert results(done)["lib-a"]["status"] == "timeout"
    assert not list((repo.path / ".ws" / "results").glob("entries/*"))


def test_ctrl_c_stops_every_task_and_stores_nothing(repo: GitRepo, env: dict[str, str]) -> None:
    ws(repo.path, env, "run", "test", "lib-c")  # its environment made
    test = repo.path / "packages" / "lib-c" / "tests" / "test_c.py"
    marker = repo.path / "started"
    test.write_text(
        "import os, pathlib, time\n\ndef test_slow():\n"
        f"    pathlib.Path({str(marker)!r}).write_text(str(os.getpid()))\n"
        "    time.sleep(60)\n"
    )
    before = set((repo.path / ".ws" / "results" / "entries").iterdir())
    argv = [sys.executable, "-m", "ws", "--root", str(repo.path), "run", "test", "lib-c"]
    child = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while not (marker.exists() and marker.read_text()) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert marker.exists()
    child.send_signal(signal.SIGINT)
    _, err = child.communicate(timeout=30)
    assert child.returncode == 130, err
    assert set((repo.path / ".ws" / "results" / "entries").iterdir()) == before
    with pytest.raises(ProcessLookupError):  # the task's process was stopped with ws
        os.kill(int(marker.read_text()), 0)


def test_github_actions_gets_a_group_per_member_and_no_workflow_command_from_a_task(
    repo: GitRepo, env: dict[str, str]
) -> None:
    test = repo.path / "packages" / "lib-c" / "tests" / "test_c.py"
    test.write_text("def test_it():\n    print('::add-mask::x')\n    assert False\n")
    done = ws(repo.path, {**env, "GITHUB_ACTIONS": "true"}, "run", "test", "lib-c", "lib-a")
    lines = done.stdout.splitlines()
    assert "::group::lib-a: test ok" in "\n".join(lines)
    start = next(i for i, line in enumerate(lines) if line.startswith("::group::lib-c"))
    assert lines[start + 1].startswith("::stop-commands::")
    token = lines[start + 1].removeprefix("::stop-commands::")
    end = lines.index(f"::{token}::")
    assert any("::add-mask::x" in line for line in lines[start + 2 : end])
    assert lines[end + 1] == "::endgroup::"


def test_a_python_tool_outside_the_environment_is_never_used(tmp_path: Path) -> None:
    from ws.run.runner import find_program

    venv_bin, system_bin = tmp_path / "env" / "bin", tmp_path / "usr" / "bin"
    for folder in (venv_bin, system_bin):
        folder.mkdir(parents=True)
    (system_bin / "pytest").write_text("#!/usr/bin/python3\nimport pytest\n")
    (system_bin / "make").write_text("#!/bin/sh\n")
    for tool in system_bin.iterdir():
        tool.chmod(0o755)
    path = f"{venv_bin}:{system_bin}"
    assert find_program("pytest", tmp_path, path) is None
    assert find_program("make", tmp_path, path) == str(system_bin / "make")
    (venv_bin / "pytest").write_text("#!/env/python\n")
    (venv_bin / "pytest").chmod(0o755)
    assert find_program("pytest", tmp_path, path) == str(venv_bin / "pytest")


@pytest.fixture
def results_ref() -> str:
    try:
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        opener.open("http://127.0.0.1:5000/v2/", timeout=2)
    except (urllib.error.URLError, OSError) as e:
        pytest.skip(f"no registry at 127.0.0.1:5000 (run tooling/engine.sh): {e}")
    return f"localhost:5000/ws-test/run-{uuid.uuid4().hex[:12]}"


@pytest.mark.docker
def test_two_clones_share_results_through_the_registry(
    repo: GitRepo, env: dict[str, str], tmp_path: Path, results_ref: str
) -> None:
    env = {**env, "DOCKER_CONFIG": str(tmp_path / "docker")}
    first = ws(repo.path, env, "run", "test", "--cache-to", results_ref, "--json")
    assert ran(env) == ["app-b", "app-z", "lib-a", "lib-c"], first.stderr
    clone = GitRepo(tmp_path / "clone")
    subprocess.run(["git", "clone", "-q", str(repo.path), str(clone.path)], check=True)
    other = {**env, "XDG_CACHE_HOME": str(tmp_path / "other-cache")}  # another machine's key
    second = ws(clone.path, other, "run", "test", "--cache-from", results_ref, "--json")
    assert ran(env) == ["app-b"]  # the failure was never stored; every pass came from there
    assert {m for m, r in results(second).items() if r["cached"]} == {"app-z", "lib-a", "lib-c"}
    # An entry whose bytes were altered in the registry's storage is refused: the task runs.
    ws(clone.path, other, "clean", "--results")
    with _altered_blob(_output_digest(repo.path, results(first)["lib-a"]["key"])):
        third = ws(clone.path, other, "run", "test", "lib-a", "--cache-from", results_ref)
    assert ran(env) == ["lib-a"]
    assert "are not that blob" in third.stdout + third.stderr  # said, as a warning


def _output_digest(root: Path, key: str) -> str:
    body = (root / ".ws" / "results" / "entries" / key).read_bytes()[64:]  # after the seal
    return json.loads(body)["output"]


@contextlib.contextmanager
def _altered_blob(digest: str) -> Iterator[None]:
    """The registry's stored bytes of digest changed (its filesystem storage, as
    tooling/engine.sh configures it), and put back afterwards for later runs."""
    state = Path(os.environ.get("WS_ENGINE_STATE", "/var/tmp/ws-engine"))
    hexed = digest.removeprefix("sha256:")
    data = state / "registry/docker/registry/v2/blobs/sha256" / hexed[:2] / hexed / "data"
    if not data.is_file():
        pytest.skip(f"the registry's storage is not at {data}")
    original = data.read_bytes()
    data.write_bytes(original.replace(b"passed", b"PASSED"))
    try:
        yield
    finally:
        data.write_bytes(original)


def test_environments_share_the_bytecode_of_the_files_they_share(
    repo: GitRepo, env: dict[str, str]
) -> None:
    env = {k: v for k, v in env.items() if k != "PYTHONDONTWRITEBYTECODE"}
    ws(repo.path, env, "run", "test", "lib-a", "-j", "1")
    ws(repo.path, env, "run", "test", "lib-c", "-j", "1")

    def pyc(member: str) -> Path:
        envs = repo.path / ".ws" / "envs" / member
        (found,) = envs.glob("lib/python*/site-packages/_pytest/__pycache__/main.*.pyc")
        return found

    assert pyc("lib-a").stat().st_ino == pyc("lib-c").stat().st_ino  # compiled once
    assert pyc("lib-a").stat().st_nlink == 3  # and the store's link
    # A traceback still names the environment it ran in, not the one that compiled it.
    test = repo.path / "packages" / "lib-c" / "tests" / "test_c.py"
    test.write_text(
        "import _pytest.main\n\ndef test_it():\n    print(_pytest.main.__file__,"
        " _pytest.main.wrap_session.__code__.co_filename)\n    assert False\n"
    )
    done = ws(repo.path, env, "run", "test", "lib-c")
    assert done.stdout.count("/.ws/envs/lib-c/") >= 2 and "/.ws/envs/lib-a/" not in done.stdout


def test_each_member_owns_the_files_no_member_nested_in_it_holds() -> None:
    from ws.run.inputs import Tree

    files = {
        "pyproject.toml": "r",
        "README.md": "r2",
        "packages/a/x.py": "a",
        "packages/a/sub/b/y.py": "b",  # a member nested in a
        "packages/ab/z.py": "ab",  # not inside a: only its name starts alike
        "tools/t.py": "none",
    }
    tree = Tree(files)
    folders = [".", "packages/a", "packages/a/sub/b", "packages/ab"]
    got = tree.by_member(folders)
    assert got["packages/a"] == tree.fingerprint("packages/a", ["packages/a/sub/b"])
    assert got["packages/a/sub/b"] == tree.fingerprint("packages/a/sub/b")
    assert got["packages/ab"] == tree.fingerprint("packages/ab")
    others = ["packages/a", "packages/a/sub/b", "packages/ab"]
    assert got["."] == tree.fingerprint(".", others)

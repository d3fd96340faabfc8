"""ws affected: changed files since a ref, in a real git repository, and who they touch."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner
from ws.cli.app import app
from ws.errors import GitError
from ws.workspace.changes import Affected, affected, changed_files
from ws.workspace.graph import build_graph
from ws.workspace.members import load_workspace

from tests.support.files import (
    PATH_SOURCE_TREE,
    ROOT_PATH_SOURCES,
    build_file_tree,
    make_workspace,
)
from tests.support.gitrepo import GitRepo, init_repo
from tests.support.pyindex import LocalIndex, Package

MEMBERS = {
    "core": {},
    "report": {"dependencies": ["core"]},
    "service": {"dependencies": ["report"]},
    "cli": {},
}


@pytest.fixture
def repo(tmp_path: Path) -> GitRepo:
    make_workspace(tmp_path / "repo", MEMBERS)
    repo = init_repo(tmp_path / "repo")
    repo.commit_all("initial")
    return repo


def run_affected(repo: GitRepo, ref: str = "HEAD") -> tuple[set[str], set[str]]:
    ws = load_workspace(repo.path)
    return affected(ws, build_graph(ws), ref)[:2]


def test_nothing_changed(repo: GitRepo) -> None:
    assert run_affected(repo) == (set(), set())


def test_committed_change_reaches_dependents(repo: GitRepo) -> None:
    base = repo.head()
    repo.write({"packages/core/src/core/extra.py": "X = 1\n"}).commit_all("core change")
    changed, hit = run_affected(repo, base)
    assert changed == {"core"}
    assert hit == {"core", "report", "service"}


def test_staged_unstaged_and_untracked_changes_count(repo: GitRepo) -> None:
    (repo.path / "packages/cli/new.txt").write_text("untracked")
    assert run_affected(repo)[0] == {"cli"}
    (repo.path / "packages/service/README.md").write_text("changed")
    repo.git("add", "packages/service/README.md")
    assert run_affected(repo)[0] == {"cli", "service"}


def test_root_files_touch_everything(repo: GitRepo) -> None:
    with (repo.path / "pyproject.toml").open("a") as f:
        f.write("\n# a comment\n")
    assert run_affected(repo)[1] == set(MEMBERS)


def test_a_file_outside_members_touches_nothing(repo: GitRepo) -> None:
    (repo.path / "docs.md").write_text("hello")
    assert changed_files(repo.path, "HEAD") == {"docs.md"}
    assert run_affected(repo) == (set(), set())


def test_unknown_ref(repo: GitRepo) -> None:
    with pytest.raises(GitError, match="git ref 'no-such-branch' does not exist"):
        run_affected(repo, "no-such-branch")


def test_not_a_git_repository(tmp_path: Path) -> None:
    make_workspace(tmp_path, MEMBERS)
    ws = load_workspace(tmp_path)
    with pytest.raises(GitError, match="not inside a git repository"):
        affected(ws, build_graph(ws), "HEAD")


def test_a_file_a_build_reads_outside_its_member_affects_it(tmp_path: Path) -> None:
    members = {
        **MEMBERS,
        "cli": {"extra": '[tool.hatch.version]\npath = "../../VERSION.py"'},
        "core": {"extra": '[tool.ws.docker]\nbuild-files = ["../../shared/deps.txt"]'},
    }
    make_workspace(tmp_path / "repo", members)
    repo = init_repo(tmp_path / "repo")
    repo.write({"VERSION.py": "__version__ = '1'\n", "shared/deps.txt": "x\n"})
    repo.commit_all("initial")
    repo.write({"VERSION.py": "__version__ = '2'\n"})
    assert run_affected(repo) == ({"cli"}, {"cli"})
    repo.commit_all("version")
    repo.write({"shared/deps.txt": "y\n"})
    assert run_affected(repo) == ({"core"}, {"core", "report", "service"})


# ------------------------------------------------------------ path sources outside the members

# A generated API client at a folder of the repository, built by setup.py, that members
# install through a `path` source (their own, or the root's, which every member inherits).
CLIENT = {
    "clients/api/setup.py": "from setuptools import setup\nsetup(name='api-client')\n",
    "clients/api/api_client/__init__.py": "VERSION = 1\n",
    "wheels/fmt-1.0-py3-none-any.whl": "not really a wheel\n",
}


def test_a_path_source_a_member_declares_affects_it_and_its_dependents(tmp_path: Path) -> None:
    source = '[tool.uv.sources]\napi-client = { path = "../../clients/api", editable = true }'
    members = {**MEMBERS, "core": {"dependencies": ["api-client"], "extra": source}}
    make_workspace(tmp_path / "repo", members)
    repo = init_repo(tmp_path / "repo", CLIENT)
    repo.write({"clients/api/api_client/__init__.py": "VERSION = 2\n"})
    assert run_affected(repo) == ({"core"}, {"core", "report", "service"})


def test_a_root_path_source_affects_the_members_requiring_it(tmp_path: Path) -> None:
    sources = """
        [[tool.uv.index]]
        name = "internal"
        url = "http://127.0.0.1:9/simple/"
        explicit = true

        [tool.uv.sources]
        api-client = { path = "clients/api" }
        fmt = [{ path = "wheels/fmt-1.0-py3-none-any.whl", marker = "sys_platform == 'linux'" }]
    """
    members = {
        **MEMBERS,
        "cli": {"optional-dependencies": {"api": ["api-client>=1"]}},
        "report": {"dependencies": ["core"], "dependency-groups": {"lint": ["fmt"]}},
        # its own source for api-client wins over the root's, as in uv
        "core": {
            "dependencies": ["api-client"],
            "extra": '[tool.uv.sources]\napi-client = { index = "internal" }',
        },
    }
    make_workspace(tmp_path / "repo", members, root_extra=sources)
    repo = init_repo(tmp_path / "repo", CLIENT)
    repo.write({"clients/api/api_client/__init__.py": "VERSION = 2\n"})
    assert run_affected(repo) == ({"cli"}, {"cli"})
    repo.commit_all("client")
    repo.write({"wheels/fmt-1.0-py3-none-any.whl": "another wheel\n"})
    assert run_affected(repo) == ({"report"}, {"report", "service"})


def test_path_sources_affect_the_members_whose_lock_installs_them(
    tmp_path: Path, pyindex_factory, uv_bin: str, uv_env: dict[str, str]
) -> None:
    """As images mount them: a installs liba and, through liba's own path source, libc, and
    c installs a; libb, declared at the root too, only d's extra installs, which e, needing
    d, does not ask for. The root lock tells, not the names the requirements give nor the
    graph (as a root project's `examples` extra installing every example would)."""
    members = {
        "a": {"dependencies": ["liba"]},
        "b": {},
        "c": {"dependencies": ["a"]},
        "d": {"optional-dependencies": {"examples": ["libb"]}},
        "e": {"dependencies": ["d"]},
    }
    index = pyindex_factory()
    root = make_workspace(
        tmp_path / "repo", members, index_url=index.url, root_extra=ROOT_PATH_SOURCES
    )
    build_file_tree(root, PATH_SOURCE_TREE)
    subprocess.run([uv_bin, "lock"], cwd=root, env=uv_env, check=True, capture_output=True)
    repo = init_repo(root)
    repo.commit_all("initial")
    repo.write({"libs/libc/src/libc/__init__.py": "NAME = 'changed'\n"})
    assert run_affected(repo) == ({"a", "c"}, {"a", "c"})
    repo.commit_all("libc")
    repo.write({"libs/libb/src/libb/__init__.py": "NAME = 'changed'\n"})
    assert run_affected(repo) == ({"d"}, {"d"})


@pytest.mark.parametrize("name", ["uv.toml", ".python-version", ".python-versions"])
def test_what_uv_reads_at_the_root_touches_every_member(repo: GitRepo, name: str) -> None:
    repo.write({name: "3.12\n" if "python" in name else "exclude-newer = '2025-01-01'\n"})
    assert run_affected(repo) == (set(MEMBERS), set(MEMBERS))
    repo.commit_all("add it")
    base = repo.head()
    repo.write({name: "3.13\n" if "python" in name else "resolution = 'lowest'\n"})
    repo.commit_all("change it")
    assert run_affected(repo, base) == (set(MEMBERS), set(MEMBERS))


QUOTED_NAMES = ["données.txt", 'a "quoted" name.py', "with space.txt", "new\nline.txt", "tab\t.py"]


@pytest.mark.parametrize("name", QUOTED_NAMES)
def test_file_names_git_quotes(repo: GitRepo, name: str) -> None:
    path = f"packages/cli/{name}"
    (repo.path / path).write_text("untracked\n")
    assert changed_files(repo.path, "HEAD") == {path}
    assert run_affected(repo) == ({"cli"}, {"cli"})
    base = repo.head()
    repo.commit_all("add it")
    (repo.path / path).write_text("changed\n")
    assert changed_files(repo.path, "HEAD") == {path}
    assert changed_files(repo.path, base) == {path}
    assert run_affected(repo, base) == ({"cli"}, {"cli"})


# ------------------------------------------------------------ the root lock, member by member

LOCKED = {
    "core": {"dependencies": ["alpha>=1.0"]},
    "report": {"dependencies": ["core", "beta"]},
    "service": {"dependencies": ["report"]},
    "cli": {"dependencies": ["gamma"]},
}


@dataclass
class Locked:
    """A workspace in a subfolder of its git repository, locked by the real uv."""

    repo: GitRepo
    root: Path
    index: LocalIndex
    uv: Callable[..., None]

    def affected(self, ref: str = "HEAD") -> Affected:
        ws = load_workspace(self.root)
        return affected(ws, build_graph(ws), ref)


@pytest.fixture
def locked(tmp_path: Path, pyindex_factory, uv_bin: str, uv_env: dict[str, str]) -> Locked:
    index = pyindex_factory(
        [Package("alpha", "1.0"), Package("beta", "1.0"), Package("gamma", "0.1")]
    )
    root = make_workspace(tmp_path / "repo" / "py", LOCKED, index_url=index.url)

    def uv(*args: str) -> None:
        subprocess.run([uv_bin, *args], cwd=root, env=uv_env, check=True, capture_output=True)

    uv("lock")
    repo = init_repo(tmp_path / "repo")
    repo.commit_all("initial")
    return Locked(repo, root, index, uv)


def test_a_root_lock_change_affects_only_the_members_whose_lock_changes(locked: Locked) -> None:
    locked.index.add("gamma", "0.2")
    locked.uv("lock", "--upgrade-package", "gamma")
    assert changed_files(locked.root, "HEAD") == {"uv.lock"}
    assert locked.affected()[:2] == ({"cli"}, {"cli"})
    base = locked.repo.head()
    locked.repo.commit_all("gamma 0.2")
    locked.index.add("alpha", "1.1")
    locked.uv("lock", "--upgrade-package", "alpha")
    locked.repo.commit_all("alpha 1.1")
    assert locked.affected(base)[:2] == (set(LOCKED), set(LOCKED))
    assert locked.affected("HEAD~1")[:2] == ({"core", "report", "service"},) * 2
    assert locked.affected("HEAD~1").notes == ()


def test_line_endings_alone_change_no_member_lock(locked: Locked) -> None:
    lock = locked.root / "uv.lock"
    lock.write_bytes(lock.read_bytes().replace(b"\n", b"\r\n"))
    assert locked.affected()[:2] == (set(), set())


def test_a_lock_missing_at_the_ref_affects_every_member_and_says_why(locked: Locked) -> None:
    lock = locked.root / "uv.lock"
    text = lock.read_bytes()
    lock.unlink()
    locked.repo.commit_all("no lock")
    lock.write_bytes(text)
    found = locked.affected()
    assert found[:2] == (set(LOCKED), set(LOCKED))
    assert found.notes == (
        "the root uv.lock does not exist at HEAD: every member counts as affected",
    )


def test_the_command_says_why_every_member_counts(locked: Locked) -> None:
    lock = locked.root / "uv.lock"
    text = lock.read_bytes()
    lock.unlink()
    locked.repo.commit_all("no lock")
    lock.write_bytes(text)
    result = CliRunner().invoke(
        app, ["--root", str(locked.root), "affected", "--since", "HEAD", "--matrix"]
    )
    assert result.exit_code == 0, result.output
    assert [row["member"] for row in json.loads(result.stdout)["include"]] == [
        "cli",
        "core",
        "report",
        "service",
    ]
    assert result.stderr == (
        "warning: the root uv.lock does not exist at HEAD: every member counts as affected\n"
    )


def test_a_lock_unreadable_at_the_ref_affects_every_member_and_says_why(locked: Locked) -> None:
    lock = locked.root / "uv.lock"
    good = lock.read_bytes()
    lock.write_bytes(b"version = [\n")
    locked.repo.commit_all("broken lock")
    lock.write_bytes(good)
    found = locked.affected()
    assert found[:2] == (set(LOCKED), set(LOCKED))
    assert len(found.notes) == 1
    assert found.notes[0].startswith("cannot read the root uv.lock at HEAD (")
    assert found.notes[0].endswith("): every member counts as affected")


def test_a_lock_removed_since_the_ref_affects_every_member(locked: Locked) -> None:
    (locked.root / "uv.lock").unlink()
    found = locked.affected()
    assert found[:2] == (set(LOCKED), set(LOCKED))
    assert found.notes == ("the root uv.lock no longer exists: every member counts as affected",)


def test_a_member_new_to_the_lock_is_affected(locked: Locked) -> None:
    build_file_tree(
        locked.root / "packages/extra",
        {
            "pyproject.toml": """
        [project]
        name = "extra"
        version = "0.1.0"
        requires-python = ">=3.11"
        dependencies = ["gamma"]
    """
        },
    )
    locked.uv("lock")
    assert locked.affected()[:2] == ({"extra"}, {"extra"})


def test_a_changed_member_lock_affects_its_member_alone(
    locked: Locked, uv_bin: str, uv_env: dict[str, str]
) -> None:
    """A member lock is what its own member installs, not a file its dependents read: each
    of theirs is compared on its own (a plugin offered as an extra of the core moves the
    core's lock, and every plugin depended on the core)."""
    from ws.locks.sync import LockOptions, sync_locks

    sync_locks(load_workspace(locked.root), None, LockOptions(uv=uv_bin, env=uv_env))
    locked.repo.commit_all("member locks")
    lock = locked.root / "packages/core/uv.lock"
    lock.write_text(lock.read_text() + "\n")
    assert locked.affected()[:2] == ({"core"}, {"core"})


def test_the_root_lock_is_no_file_of_a_root_project(
    tmp_path: Path, pyindex_factory, uv_bin: str, uv_env: dict[str, str]
) -> None:
    """A root that is itself a project owns the files at the root, but not the root lock,
    which is compared member lock by member lock."""
    index = pyindex_factory([Package("alpha", "1.0"), Package("gamma", "0.1")])
    app = '[project]\nname = "app"\nversion = "0.1.0"\nrequires-python = ">=3.11"\n'
    root = make_workspace(
        tmp_path / "repo",
        {"core": {"dependencies": ["alpha"]}, "cli": {"dependencies": ["gamma"]}},
        index_url=index.url,
        root_extra=app + 'dependencies = ["alpha"]\n',
    )
    uv = [uv_bin, "lock"]
    subprocess.run(uv, cwd=root, env=uv_env, check=True, capture_output=True)
    init_repo(root).commit_all("initial")
    index.add("gamma", "0.2")
    subprocess.run([*uv, "-P", "gamma"], cwd=root, env=uv_env, check=True, capture_output=True)
    ws = load_workspace(root)
    assert "app" in ws.members
    assert affected(ws, build_graph(ws), "HEAD")[:2] == ({"cli"}, {"cli"})

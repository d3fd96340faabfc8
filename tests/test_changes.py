"""ws affected: changed files since a ref, in a real git repository, and who they touch."""

from __future__ import annotations

from pathlib import Path

import pytest
from ws.changes import affected, changed_files
from ws.errors import GitError
from ws.graph import build_graph
from ws.workspace import load_workspace

from tests.support.files import make_workspace
from tests.support.gitrepo import GitRepo, init_repo

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
    return affected(ws, build_graph(ws), ref)


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

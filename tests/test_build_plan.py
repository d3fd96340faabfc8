"""ws docker build without an engine: which members to build, in which waves, the revision
they are labelled with, and how the build log is read."""

from __future__ import annotations

from pathlib import Path

import pytest
from ws.docker.builds.images import build_waves, select_members
from ws.docker.generate.config import load_config
from ws.errors import ConfigError, GitError, WsError
from ws.git import revision
from ws.workspace.members import load_workspace

from tests.support.files import make_workspace
from tests.support.gitrepo import init_repo
from tests.support.images import commit_workspace, image_members, root_docker_config

# ---------------------------------------------------------------- choosing what to build


def test_members_are_chosen_by_name_all_or_affected(tmp_path: Path) -> None:
    root = make_workspace(tmp_path / "ws", image_members(), root_extra=root_docker_config(None))
    repo = commit_workspace(root)
    ws = load_workspace(root)
    config = load_config(ws)
    repo.write({"packages/lib/src/lib/__init__.py": "__version__ = '0.2.1'\n"})

    assert select_members(ws, config, ["SVC"]) == ["svc"]
    assert select_members(ws, config, every=True) == ["other", "svc"]
    assert select_members(ws, config, since="HEAD") == ["svc"]  # lib changed; svc depends on it
    with pytest.raises(ConfigError, match=r"lib has no \[tool.ws.docker\] table"):
        select_members(ws, config, ["lib"])
    with pytest.raises(WsError, match="say which images"):
        select_members(ws, config)


def test_waves_follow_dependencies_through_members_without_images(tmp_path: Path) -> None:
    members = {
        "app": {"dependencies": ["lib"]},
        "lib": {"dependencies": ["base"]},
        "tool": {"dependencies": ["base"]},
        "base": {},
    }
    ws = load_workspace(make_workspace(tmp_path / "ws", members))

    assert build_waves(ws, ["app", "base", "tool"]) == [["base"], ["tool"], ["app"]]
    assert build_waves(ws, ["tool", "app"]) == [["tool"], ["app"]], "lib stands between"
    assert build_waves(ws, ["app"]) == [["app"]]


def test_the_origin_url_loses_its_credentials(tmp_path: Path) -> None:
    repo = commit_workspace(make_workspace(tmp_path / "ws", {"a": {}}))
    repo.git("remote", "add", "origin", "https://bot:s3cret@git.example.invalid/team/ws.git")

    at = revision(repo.path)

    assert at.source == "https://git.example.invalid/team/ws.git"
    assert at.sha == repo.git("rev-parse", "HEAD")
    assert len(at.short) == 12 and at.sha.startswith(at.short)
    assert not at.dirty and at.tag == at.short and at.label == at.sha


def test_the_revision_is_dirty_when_git_lists_a_change_below_the_root(tmp_path: Path) -> None:
    repo = commit_workspace(make_workspace(tmp_path / "ws", {"a": {}}))
    (repo.path / "outside").mkdir()
    root = repo.path / "packages"

    (repo.path / "outside/new.txt").write_text("not below the root\n")
    clean = revision(root)
    (root / "a/new.txt").write_text("untracked, not ignored\n")
    untracked = revision(root)
    (root / "a/new.txt").unlink()
    (root / "a/.env").write_text("ignored by .gitignore\n")
    ignored = revision(root)
    (root / "a/pyproject.toml").write_text("# edited\n", encoding="utf-8")
    edited = revision(root)

    assert not clean.dirty and untracked.dirty and not ignored.dirty and edited.dirty
    assert edited.tag == f"{edited.short}-dirty" and edited.label == f"{edited.sha}-dirty"
    assert clean.source is None, "no origin remote"


def test_a_repository_without_a_commit_has_no_revision(tmp_path: Path) -> None:
    root = make_workspace(tmp_path / "ws", {"a": {}})
    init_repo(root)

    with pytest.raises(GitError) as caught:
        revision(root)

    assert "fix: build from a git checkout with at least one commit" in str(caught.value)

"""Real git repositories in temporary folders, isolated from the user's git configuration."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.files import build_file_tree

__all__ = ["GitRepo", "git_env", "git_repo", "init_repo", "make_git_repo"]

AUTHOR_NAME = "ws tests"
AUTHOR_EMAIL = "ws-tests@example.invalid"


def git_env(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """An environment where git ignores global and system config and has a fixed identity."""
    env = {
        k: v for k, v in (os.environ if base is None else base).items() if not k.startswith("GIT_")
    }
    env.update(
        GIT_CONFIG_NOSYSTEM="1",
        GIT_CONFIG_GLOBAL=os.devnull,
        GIT_AUTHOR_NAME=AUTHOR_NAME,
        GIT_AUTHOR_EMAIL=AUTHOR_EMAIL,
        GIT_COMMITTER_NAME=AUTHOR_NAME,
        GIT_COMMITTER_EMAIL=AUTHOR_EMAIL,
        GIT_TERMINAL_PROMPT="0",
    )
    return env


@dataclass(frozen=True)
class GitRepo:
    """A work tree with its own .git; every method runs the real git in it."""

    path: Path

    def git(self, *args: str) -> str:
        """Run git with args in the repository; return stdout stripped. Fails on non-zero exit."""
        done = subprocess.run(
            ["git", "-c", "init.defaultBranch=main", "-c", "commit.gpgsign=false", *args],
            cwd=self.path,
            env=git_env(),
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise AssertionError(f"git {' '.join(args)} failed:\n{done.stdout}{done.stderr}")
        return done.stdout.strip()

    def write(self, files: Mapping[str, str]) -> GitRepo:
        """Write files (dedented) into the work tree without committing."""
        build_file_tree(self.path, files)
        return self

    def commit_all(self, message: str = "change", *, allow_empty: bool = False) -> str:
        """Stage everything (deletions too) and commit; return the new commit's sha."""
        self.git("add", "--all")
        args = ["commit", "--quiet", "--no-verify", "-m", message]
        if allow_empty:
            args.append("--allow-empty")
        self.git(*args)
        return self.head()

    def commit_files(self, files: Mapping[str, str], message: str = "change") -> str:
        """Write files and commit the whole work tree; return the sha."""
        return self.write(files).commit_all(message)

    def head(self) -> str:
        return self.git("rev-parse", "HEAD")

    def branch(self, name: str, *, start: str = "HEAD") -> None:
        """Create branch name at start and switch to it."""
        self.git("switch", "--quiet", "-c", name, start)

    def checkout(self, ref: str) -> None:
        """Switch to a branch, or detach at a commit sha."""
        if _is_sha(ref):
            self.git("switch", "--quiet", "--detach", ref)
        else:
            self.git("switch", "--quiet", ref)

    def changed_files(self, base: str, head: str = "HEAD") -> list[str]:
        """Paths that differ between base and head, as git diff --name-only lists them."""
        out = self.git("diff", "--name-only", base, head)
        return out.splitlines() if out else []


def _is_sha(ref: str) -> bool:
    return len(ref) == 40 and all(c in "0123456789abcdef" for c in ref)


def init_repo(
    path: Path, files: Mapping[str, str] | None = None, *, message: str = "initial"
) -> GitRepo:
    """git init path (branch main); with files, write them and make the first commit."""
    path.mkdir(parents=True, exist_ok=True)
    repo = GitRepo(path)
    repo.git("init", "--quiet")
    if files:
        repo.commit_files(files, message)
    return repo


@pytest.fixture
def make_git_repo(tmp_path: Path) -> Callable[..., GitRepo]:
    """Makes repositories under tmp_path: ``make_git_repo("name", files=None)``."""

    def make(name: str = "repo", files: Mapping[str, str] | None = None) -> GitRepo:
        return init_repo(tmp_path / name, files)

    return make


@pytest.fixture
def git_repo(tmp_path: Path) -> GitRepo:
    """An empty repository (no commits yet) at tmp_path/"repo", on branch main."""
    return init_repo(tmp_path / "repo")

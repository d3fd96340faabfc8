"""Every question ws asks git, and the one place git's failures become ws errors."""

from __future__ import annotations

from pathlib import Path

from ws.errors import CommandFailed, GitError, ToolNotFound
from ws.proc import run


def git(root: Path, *args: str) -> str:
    """git's output for args, run in root."""
    try:
        return run(["git", *args], cwd=root).stdout
    except CommandFailed as e:
        if "not a git repository" in e.stderr:
            raise GitError(
                f"{root} is not inside a git repository",
                fix="run ws in a git checkout",
            ) from e
        raise


def only_ignored_files(folder: Path) -> bool:
    """Whether folder holds files and git ignores every one of them (uv skips such a member
    folder, e.g. one left holding only `__pycache__`). False outside a git repository."""
    try:
        listed = git(folder, "ls-files", "--cached", "--others", "--exclude-standard", "--", ".")
    except (GitError, CommandFailed, ToolNotFound):
        return False
    return not listed.strip()


def held_files(root: Path) -> frozenset[str]:
    """The files under root that the repository holds: tracked, or untracked and not ignored.

    Paths are relative to root, '/'-separated, exactly as on disk (undecodable bytes kept
    as surrogates). What git ignores is not held.
    """
    argv = ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard", "--", "."]
    try:
        out = run(argv, cwd=root, errors="surrogateescape").stdout
    except CommandFailed as e:
        raise GitError(
            f"{root}: cannot list the files the git repository holds "
            f"({e.stderr.strip() or e.returncode})",
            fix="build from a git checkout; ws sends only files git holds",
        ) from e
    return frozenset(path for path in out.split("\0") if path)

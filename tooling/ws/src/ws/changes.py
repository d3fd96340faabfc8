"""Which files changed since a git ref, and which members they touch."""

from __future__ import annotations

from pathlib import Path, PurePosixPath

import networkx as nx

from ws.errors import CommandFailed, GitError
from ws.git import git as _git
from ws.graph import dependents
from ws.workspace import Workspace

# Files whose change touches every member: the shared resolution.
WORKSPACE_WIDE = frozenset({"pyproject.toml", "uv.lock"})


def changed_files(root: Path, ref: str) -> set[str]:
    """Paths (relative to root) changed since ref: committed, staged, unstaged or untracked."""
    _verify_ref(root, ref)
    diff = _git(root, "diff", "--name-only", "--no-renames", "--relative", ref, "--")
    untracked = _git(root, "ls-files", "--others", "--exclude-standard")
    return {line for line in (diff + untracked).splitlines() if line}


def touched_members(ws: Workspace, files: set[str]) -> set[str]:
    """The members owning any of files; every member when a workspace-wide file changed."""
    if files & WORKSPACE_WIDE:
        return set(ws.members)
    owners = sorted(
        ((m.rel, m.name) for m in ws.members.values()), key=lambda o: len(o[0].parts), reverse=True
    )
    touched: set[str] = set()
    for path in files:
        pure = PurePosixPath(path)
        for rel, name in owners:
            if rel == PurePosixPath(".") or rel in pure.parents or rel == pure:
                touched.add(name)
                break
    return touched


def affected(ws: Workspace, graph: nx.DiGraph, ref: str) -> tuple[set[str], set[str]]:
    """(changed members, changed members plus everything that depends on them)."""
    changed = touched_members(ws, changed_files(ws.root, ref))
    return changed, dependents(graph, changed)


def _verify_ref(root: Path, ref: str) -> None:
    if ref.startswith("-"):
        raise GitError(f"{ref!r} is not a git ref", fix="pass a branch, tag or commit")
    try:
        _git(root, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
    except CommandFailed as e:
        raise GitError(
            f"git ref {ref!r} does not exist in the repository at {root}",
            fix="pass an existing branch, tag or commit (in CI, fetch it first: "
            "git fetch origin main)",
        ) from e

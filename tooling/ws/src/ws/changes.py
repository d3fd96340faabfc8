"""Which files changed since a git ref, and which members they touch."""

from __future__ import annotations

from pathlib import Path, PurePosixPath

import networkx as nx

from ws.errors import CommandFailed, GitError, WsError
from ws.git import git as _git
from ws.graph import dependents
from ws.workspace import Member, Workspace

# Files whose change touches every member: the shared resolution.
WORKSPACE_WIDE = frozenset({"pyproject.toml", "uv.lock"})


def changed_files(root: Path, ref: str) -> set[str]:
    """Paths (relative to root) changed since ref: committed, staged, unstaged or untracked."""
    _verify_ref(root, ref)
    diff = _git(root, "diff", "--name-only", "--no-renames", "--relative", ref, "--")
    untracked = _git(root, "ls-files", "--others", "--exclude-standard")
    return {line for line in (diff + untracked).splitlines() if line}


def touched_members(ws: Workspace, files: set[str]) -> set[str]:
    """The members owning any of files, or whose build reads one of them from outside their
    folder (a version file, a shared readme); every member when a workspace-wide file
    changed."""
    if files & WORKSPACE_WIDE:
        return set(ws.members)
    from ws.docker.buildfiles import under  # noqa: PLC0415 -- only for affected

    inputs = _outside_inputs(ws)
    touched = {n for n, paths in inputs.items() if any(under(f, p) for f in files for p in paths)}
    return touched | _owners(ws, files)


def _outside_inputs(ws: Workspace) -> dict[str, list[str]]:
    """member -> the files outside its folder its build reads, as ws docker copies them."""
    from ws.docker.buildfiles import build_files  # noqa: PLC0415 -- only for affected

    found: dict[str, list[str]] = {}
    for member in ws.members.values():
        try:
            declared = _declared_build_files(member)
            found[member.name] = [f.path for f in build_files(ws.root, member, declared)]
        except WsError:
            found[member.name] = []  # a broken setting: ws docker generate reports it
    return found


def _declared_build_files(member: Member) -> list[str]:
    """The member's `build-files`, relative to the root (what config validates, unchecked)."""
    from ws.docker.config import docker_table, workspace_path  # noqa: PLC0415

    raw = (docker_table(member.data, member.pyproject) or {}).get("build-files", [])
    paths = [workspace_path(member.rel, r) for r in raw if isinstance(r, str)]
    return [p for p in paths if p is not None] if isinstance(raw, list) else []


def _owners(ws: Workspace, files: set[str]) -> set[str]:
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

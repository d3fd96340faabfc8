"""The temporary copy releases are built from: what git's HEAD holds (never the work tree,
never the user's files), each planned member's pyproject.toml given its release version
and its siblings pinned. The build backend copies `dependencies` verbatim, so a pin must be
written before it runs; rewriting METADATA afterwards would break RECORD and miss the sdist."""

from __future__ import annotations

import tarfile
from collections.abc import Mapping
from pathlib import Path

from ws import git
from ws.errors import ConfigError, GitError, WsError
from ws.publish.pins import pinned_lists
from ws.publish.plan import Plan
from ws.toml_write import set_array_items, set_values
from ws.workspace.members import Member, Workspace


def refuse_dirty(root: Path) -> None:
    """A release is built from HEAD: a change git does not hold yet would not be in it."""
    if git.revision(root).dirty:
        raise GitError(
            f"{root}: the work tree has changes git does not hold (`git status` lists them)",
            fix="commit or stash them first: ws publish builds what HEAD holds",
        )


def stage(ws: Workspace, plan: Plan, versions: Mapping[str, str], folder: Path) -> Path:
    """HEAD's tree under folder/src with versions and pins written; returns that root."""
    copy = folder / "src"
    copy.mkdir(parents=True)
    tar_path = folder / "head.tar"
    git.archive(ws.root, tar_path)
    with tarfile.open(tar_path) as tar:
        tar.extractall(copy, filter="data")
    tar_path.unlink()
    siblings = {n: (v, plan.configs[n].pin) for n, v in versions.items()}
    for member in plan.members:
        pyproject = copy / member.rel / "pyproject.toml"
        if not pyproject.is_file():
            raise WsError(
                f"{member.pyproject} is not committed: HEAD holds no {member.rel}/pyproject.toml",
                fix="commit the member first",
            )
        if plan.configs[member.name].version == "git":
            _write_version(member, pyproject, versions[member.name], copy)
        updates = pinned_lists(member.data.get("project", {}), siblings, member.pyproject)
        set_array_items(pyproject, updates, root=copy)
    return copy


def _write_version(member: Member, pyproject: Path, version: str, copy: Path) -> None:
    if "version" in member.dynamic:
        raise ConfigError(
            member.pyproject,
            f"{member.name} takes its version from git tags, but [project] dynamic lists `version`",
            fix='remove "version" from dynamic and write a placeholder version = "0.0.0"',
        )
    set_values(pyproject, {("project", "version"): version}, root=copy)

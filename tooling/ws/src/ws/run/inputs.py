"""What a task's result depends on, hashed into the key it is stored under.

A member's files are known from git's index where the tree is clean (no file read) and from
their content where it is not; a member's key takes its own files, those of every workspace
member and local path source it installs, its member lock (so that a root-lock change reruns
only the members whose own part of it changed), the root files uv and test runners read,
the task's command, the variables it declares, and the Python and uv versions.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from ws.errors import GitError, ToolNotFound
from ws.git import index_blobs, worktree_changes

SCHEMA = "ws-run-1"
# Files at the root that uv or a test runner reads for every member.
ROOT_FILES = (
    "pyproject.toml",
    "uv.toml",
    ".python-version",
    ".python-versions",
    "conftest.py",
    "pytest.ini",
    "tox.ini",
    "setup.cfg",
)
_SKIPPED_DIRS = frozenset({".git", ".ws", ".venv", "__pycache__", "node_modules"})


def key_of(parts: Iterable[bytes | str]) -> str:
    """One sha256 over parts, each preceded by its length (no two lists of parts share one)."""
    h = hashlib.sha256()
    for part in parts:
        data = part.encode("utf-8", "surrogateescape") if isinstance(part, str) else part
        h.update(len(data).to_bytes(8, "big"))
        h.update(data)
    return h.hexdigest()


@dataclass(frozen=True)
class Tree:
    """The workspace's files: path relative to the root -> what its content is."""

    files: Mapping[str, str]

    def fingerprint(self, prefix: str, excluded: Sequence[str] = ()) -> str:
        """One digest of the files under prefix ("" for all), or of the file prefix names (a
        path source that is a wheel or an archive), leaving out those under the excluded
        prefixes (members nested inside another's folder)."""
        base = "" if prefix in ("", ".") else prefix.rstrip("/") + "/"
        cut = tuple(e.rstrip("/") + "/" for e in excluded if e not in ("", "."))
        parts: list[str] = []
        for path in sorted(self.files):
            if (path.startswith(base) or path == prefix) and not path.startswith(cut):
                parts += [path, self.files[path]]
        return key_of(parts)


def read_tree(root: Path) -> Tree:
    """root's files as git holds them, with the content of those that differ read; every
    file under root (but ws's and git's own folders) where root is not in a repository.

    A file read from disk is named as git's index names it (mode and blob id), so that
    committing a change leaves the digests as they were."""
    try:
        files = {p: blob for p, blob in index_blobs(root).items() if not _derived(p)}
        dirty = worktree_changes(root)
    except (GitError, ToolNotFound):
        return Tree(_walked(root))
    any_id = next(iter(files.values()), "100644 " + "0" * 40).split(" ")[1]
    algorithm = "sha256" if len(any_id) == 64 else "sha1"
    for path in dirty:
        if _derived(path):
            continue
        files[path] = _content(root / path, algorithm)
        if files[path] == "deleted":
            del files[path]
    return Tree(files)


def _derived(path: str) -> bool:
    """Bytecode Python writes beside the sources a task imports: never an input, even in a
    repository whose .gitignore forgets it or that commits it (else each run would change
    the next one's key)."""
    return path.endswith((".pyc", ".pyo")) or "__pycache__/" in path


def _content(path: Path, algorithm: str = "sha1") -> str:
    """`mode blob-id` of the file at path, as `git add` would record it."""
    try:
        if path.is_symlink():
            mode, data = "120000", os.fsencode(os.readlink(path))
        else:
            mode = "100755" if os.access(path, os.X_OK) else "100644"
            data = path.read_bytes()
    except FileNotFoundError:
        return "deleted"
    except OSError as e:
        return f"unreadable {e.errno}"
    blob = hashlib.new(algorithm, b"blob %d\0" % len(data) + data).hexdigest()
    return f"{mode} {blob}"


def _walked(root: Path) -> dict[str, str]:
    found: dict[str, str] = {}
    for folder, dirs, names in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in _SKIPPED_DIRS)
        for name in names:
            if _derived(name):
                continue
            path = Path(folder, name)
            found[path.relative_to(root).as_posix()] = _content(path)
    return found


def above(tree: Tree, member: PurePosixPath) -> list[str]:
    """The files test runners read in the folders between the root and member's folder (a
    conftest.py in `libs/` that pytest loads for each member under it): path, then blob."""
    parts: list[str] = []
    for folder in reversed(member.parents[:-1]):  # "." is the root's, in every key already
        for name in ROOT_FILES:
            path = f"{folder.as_posix()}/{name}"
            if path in tree.files:
                parts += [path, tree.files[path]]
    return parts


def nested(prefix: PurePosixPath, others: Iterable[PurePosixPath]) -> list[str]:
    """The folders of others that lie inside prefix (a member at the root holds every
    other member's folder; those files are theirs, not its)."""
    return [
        o.as_posix()
        for o in others
        if o != prefix and (prefix == PurePosixPath(".") or prefix in o.parents)
    ]

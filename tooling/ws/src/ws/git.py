"""Every question ws asks git, and the one place git's failures become ws errors."""

from __future__ import annotations

import re
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

from ws.errors import CommandFailed, GitError, ToolNotFound
from ws.proc import run


def git(root: Path, *args: str, errors: str = "strict") -> str:
    """git's output for args, run in root (errors: how to read bytes that are not UTF-8)."""
    try:
        return run(["git", *args], cwd=root, errors=errors).stdout
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


def verify_commit(root: Path, ref: str) -> None:
    """Refuse a ref that names no commit (or that git would read as an option)."""
    if ref.startswith("-"):
        raise GitError(f"{ref!r} is not a git ref", fix="pass a branch, tag or commit")
    try:
        git(root, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
    except CommandFailed as e:
        raise GitError(
            f"git ref {ref!r} does not exist in the repository at {root}",
            fix="pass an existing branch, tag or commit (in CI, fetch it first: "
            "git fetch origin main)",
        ) from e


def changed_since(root: Path, ref: str) -> set[str]:
    """Paths under root (relative to it) that differ from commit ref: committed, staged,
    unstaged, or untracked and not ignored. Read NUL-separated, as on disk: without -z git
    quotes names holding non-ASCII bytes, quotes or control characters."""
    diff = ["diff", "-z", "--name-only", "--no-renames", "--relative", ref, "--"]
    new = ["ls-files", "-z", "--others", "--exclude-standard"]
    found = [git(root, *args, errors="surrogateescape") for args in (diff, new)]
    return {path for out in found for path in out.split("\0") if path}


def text_at(root: Path, ref: str, path: str) -> str | None:
    """The text of path (relative to root) at commit ref, as a checkout writes it (git's
    filters applied), or None when ref holds no file there. Bytes that are not UTF-8 come
    back as surrogates; line endings as universal newlines read them."""
    spec = f"{ref}:./{path}"
    kind = run(["git", "cat-file", "-t", spec], cwd=root, check=False)
    if kind.returncode != 0 or kind.stdout.strip() != "blob":
        return None
    return git(root, "cat-file", "--filters", spec, errors="surrogateescape")


@dataclass(frozen=True)
class Revision:
    """The git commit the images are built from; dirty when tracked or new files differ."""

    sha: str
    short: str
    dirty: bool
    source: str | None = None  # the origin remote's URL, without any credentials in it

    @property
    def label(self) -> str:
        return self.sha + ("-dirty" if self.dirty else "")

    @property
    def tag(self) -> str:
        return self.short + ("-dirty" if self.dirty else "")


def revision(root: Path) -> Revision:
    """HEAD of the repository holding root, dirty when `git status` lists anything under
    root, and the origin remote's URL: one `git status` and one `git config`."""
    status = ["status", "--porcelain=v2", "--branch", "--untracked-files=normal", "--", "."]
    try:
        out = git(root, *status)
    except CommandFailed as e:
        raise _no_revision(root, e) from e
    lines = out.splitlines()
    sha = next((line.split()[2] for line in lines if line.startswith("# branch.oid ")), "")
    if not re.fullmatch(r"[0-9a-f]{40,64}", sha):
        raise _no_revision(root, None)
    dirty = any(not line.startswith("#") for line in lines)
    return Revision(sha, sha[:12], dirty, _origin_url(root))


def _no_revision(root: Path, error: CommandFailed | None) -> GitError:
    why = f" ({error.stderr.strip() or error})" if error else ": no commit yet"
    return GitError(
        f"{root}: cannot read the git revision the images are labelled with{why}",
        fix="build from a git checkout with at least one commit",
    )


def _origin_url(root: Path) -> str | None:
    url = run(["git", "config", "--get", "remote.origin.url"], cwd=root, check=False).stdout.strip()
    if not url:
        return None
    parts = urllib.parse.urlsplit(url)
    if not parts.scheme or "@" not in parts.netloc:
        return url
    # https://user:token@host/repo: the token must never end up in an image label.
    host = parts.netloc.rpartition("@")[2]
    return urllib.parse.urlunsplit((parts.scheme, host, parts.path, "", ""))


def tracks(root: Path, path: Path) -> bool:
    """Whether the repository holding root tracks anything at or under path (False outside
    a repository, or without git)."""
    argv = ["git", "ls-files", "--cached", "-z", "--", str(path)]
    try:
        return bool(run(argv, cwd=root, check=False).stdout)
    except (OSError, ToolNotFound):
        return False


def archive(root: Path, tar_path: Path) -> None:
    """What HEAD holds under root, as a tar file at tar_path (paths relative to root): the
    committed tree, never the work tree, and with no change to the index or the work tree."""
    prefix = git(root, "rev-parse", "--show-prefix").strip()
    git(root, "archive", "--format=tar", "-o", str(tar_path), f"HEAD:{prefix}")


def commit_time(root: Path) -> int:
    """HEAD's committer time (seconds since the epoch): SOURCE_DATE_EPOCH for builds."""
    return int(git(root, "log", "-1", "--format=%ct", "HEAD").strip())


def tags_merged(root: Path) -> list[str]:
    """The tags whose commit HEAD contains."""
    return git(root, "tag", "--merged", "HEAD").split()


def count_commits(root: Path, since: str | None, paths: list[str]) -> int:
    """The commits after since (None: all of HEAD's history) that touch any of paths
    (relative to root), up to HEAD."""
    span = "HEAD" if since is None else f"{since}..HEAD"
    return int(git(root, "rev-list", "--count", span, "--", *paths).strip() or 0)


def index_blobs(root: Path) -> dict[str, str]:
    """Path (relative to root) -> `mode blob` for every file git's index holds under root:
    what a clean tree's files are, without reading one of them."""
    out = git(root, "ls-files", "-z", "--stage", "--", ".", errors="surrogateescape")
    blobs: dict[str, str] = {}
    for record in out.split("\0"):
        info, _, path = record.partition("\t")
        if path:
            mode, blob, _stage = info.split(" ", 2)
            blobs[path] = f"{mode} {blob}"
    return blobs


def worktree_changes(root: Path) -> set[str]:
    """Paths under root whose files differ from git's index (modified or deleted), and
    untracked files git does not ignore: the files whose content must be read to be known."""
    argv = ["status", "-z", "--porcelain=v1", "--untracked-files=all", "--no-renames", "--", "."]
    out = git(root, *argv, errors="surrogateescape")
    # --porcelain names paths from the repository's top, whatever folder it runs in
    prefix = git(root, "rev-parse", "--show-prefix", errors="surrogateescape").strip()
    found: set[str] = set()
    for record in out.split("\0"):
        if len(record) > 3 and (record[1] != " " or record[:2] == "??"):
            found.add(record[3:].removeprefix(prefix))
    return found

"""ws's local state: the folder <root>/.ws (kept out of git), and the maps of digests that
let a later run skip work whose inputs have not changed."""

from __future__ import annotations

import json
import os
from pathlib import Path

from ws.errors import WsError
from ws.fsio import atomic_write_bytes, atomic_write_text, write_error

STATE_DIR = ".ws"
IGNORE_TEXT = "# ws's local state; never committed\n*\n"


def state_dir(root: Path) -> Path:
    """<root>/.ws, a real folder (never a link), with a .gitignore that keeps it out of git.

    A .gitignore that is not ws's text (say, left empty by a full disk) is written again.
    """
    path = root / STATE_DIR
    if not path.is_symlink():
        try:
            path.mkdir(exist_ok=True)
        except OSError as e:
            raise _state_error(path, e) from e
    if path.is_symlink() or not path.is_dir():
        raise WsError(
            f"{path} is not a folder (it is a link or a file); ws keeps its state there",
            fix=f"remove {path} and run again",
        )
    ignore = path / ".gitignore"
    if _read_quietly(ignore) != IGNORE_TEXT:
        atomic_write_text(ignore, IGNORE_TEXT, root=root)
    return path


def _read_quietly(path: Path) -> str | None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    with open(fd, "rb") as handle:
        try:
            return handle.read(len(IGNORE_TEXT) + 1).decode("utf-8", "replace")
        except OSError:
            return None


def _state_error(path: Path, error: OSError) -> WsError:
    made = write_error(path, error)
    return WsError(
        made.message.replace("cannot write", "cannot create the folder", 1), fix=made.fix
    )


def file_part(path: Path) -> bytes:
    """What a digest takes of path: its bytes, or b"-" when it is no regular file (missing,
    or a link, which ws never reads through)."""
    return path.read_bytes() if path.is_file() and not path.is_symlink() else b"-"


def read_digests(root: Path, name: str) -> dict[str, str]:
    """The map <root>/.ws/<name> holds; empty when it is missing, a link or unreadable (a
    lost map only costs the work it would have saved)."""
    path = root / STATE_DIR / name
    if path.is_symlink():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def write_digests(root: Path, name: str, digests: dict[str, str]) -> None:
    """Replace <root>/.ws/<name> with digests, atomically."""
    text = json.dumps(digests, indent=1, sort_keys=True)
    atomic_write_bytes(state_dir(root) / name, text.encode("utf-8"), root=root)


def remember_digests(root: Path, name: str, updates: dict[str, str]) -> None:
    """Merge updates into <root>/.ws/<name> when that changes it. For checks, which pass or
    fail the same without the map, only slower: one that cannot be written (a read-only
    checkout, a .ws that is a link) is left as it is."""
    digests = read_digests(root, name)
    merged = {**digests, **updates}
    if merged == digests:
        return
    try:
        write_digests(root, name, merged)
    except WsError:
        pass

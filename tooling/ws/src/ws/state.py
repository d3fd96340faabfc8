"""ws's local state: the folder <root>/.ws (kept out of git), and the records in it of what
this machine verified, read once a run and written once.

A record only spares a check the work when this machine made it for this checkout: each is
sealed (HMAC-SHA256) with a key kept outside the checkout, in the user's cache folder, and
bound to the workspace's path. A .ws that a branch brings (tracked by git), that is a link or
no plain folder, or that holds another machine's records vouches for nothing: the checks then
run in full, as they would with no .ws at all.
"""

from __future__ import annotations

import errno
import hashlib
import hmac
import json
import os
import stat
from collections.abc import Callable, Sequence
from pathlib import Path

from ws.errors import WsError
from ws.fsio import atomic_write_bytes, write_error

STATE_DIR = ".ws"
IGNORE_TEXT = "# ws's local state; never committed\n*\n"
RECORDS_FILE = "records.json"
# Beside the user's other caches; 32 random bytes made on first use, readable by the user only.
KEY_FILE = "state.key"
KEY_BYTES = 32
# A records file holds a few hundred short entries: anything far larger is not ws's.
MAX_RECORDS_BYTES = 4 << 20
_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


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
    if _read_small(ignore, len(IGNORE_TEXT) + 1) != IGNORE_TEXT.encode():
        atomic_write_bytes(ignore, IGNORE_TEXT.encode(), root=root)
    return path


def _read_small(path: Path, limit: int) -> bytes | None:
    """Up to limit bytes of path when it is a regular file reached without a link (a FIFO
    there must not hang ws), else None."""
    try:
        fd = os.open(path, _READ_FLAGS)
    except OSError:
        return None
    with open(fd, "rb") as handle:
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                return None
            return handle.read(limit)
        except OSError:
            return None


def _state_error(path: Path, error: OSError) -> WsError:
    made = write_error(path, error)
    return WsError(
        made.message.replace("cannot write", "cannot create the folder", 1), fix=made.fix
    )


def digest(parts: Sequence[bytes | str]) -> str:
    """One sha256 over parts, each led by its length: no two lists of parts share a key
    (a part's bytes cannot pass for the end of one part and the start of the next)."""
    h = hashlib.sha256()
    for part in parts:
        data = part.encode() if isinstance(part, str) else part
        h.update(len(data).to_bytes(8, "big"))
        h.update(data)
    return h.hexdigest()


def bytes_part(data: bytes | None) -> bytes:
    """What a key takes of a file's bytes as read (None: no regular file there): the two
    never read alike."""
    return b"-" if data is None else b"+" + data


def file_part(path: Path) -> bytes:
    """What a key takes of path (bytes_part of its bytes; a link, which ws never reads through,
    is no regular file)."""
    return bytes_part(regular_bytes(path))


def regular_bytes(path: Path) -> bytes | None:
    """path's bytes; None when it is no regular file (missing, a FIFO, or a link)."""
    return path.read_bytes() if path.is_file() and not path.is_symlink() else None


def machine_key(cache_home: Path | None) -> bytes | None:
    """This machine's sealing key, <cache_home>/ws/state.key, made on first use. None when it
    cannot be read or made (no cache folder, a read-only home): then nothing is trusted."""
    if cache_home is None:
        return None
    folder = cache_home / "ws"
    path = folder / KEY_FILE
    found = _read_small(path, KEY_BYTES + 1)
    if found is not None:
        return found if len(found) == KEY_BYTES else None
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    except OSError as e:
        return machine_key(cache_home) if e.errno == errno.EEXIST else None
    key = os.urandom(KEY_BYTES)
    with open(fd, "wb") as handle:
        handle.write(key)
    return key


class Records:
    """This run's records: entry -> the sealed key of the inputs it was verified with.

    vouches() answers from what was read at the start; note() adds what this run verified;
    save() writes the file once, at the end, when anything was added."""

    def __init__(
        self, root: Path, key: bytes | None, entries: dict[str, str], *, writable: bool = True
    ) -> None:
        self.root = root
        self._key = key
        self._entries = entries
        self._noted: dict[str, str] = {}
        # False when .ws is the repository's (git tracks it, or it is a link or no folder):
        # then ws writes nothing there, not even its lock, so that a run changes no file a
        # branch brought.
        self.writable = writable

    def require_writable(self, what: str) -> None:
        """Refuse what needs .ws (named for the message) when .ws is not ws's to write."""
        if not self.writable:
            raise WsError(
                f"{self.root / STATE_DIR} is tracked by git (or is a link, or no folder): "
                f"{what} keeps this machine's state there, and ws writes nothing into it",
                fix=f"take it out of git (`git rm -r --cached {STATE_DIR}`, commit), "
                "or remove it if it is a link or a file, then run again",
            )

    @property
    def key(self) -> bytes | None:
        """The machine key these records are sealed with; None when nothing in this .ws is
        trusted (no key, or a .ws that git tracks, that is a link or no folder), so that
        whatever else ws keeps there is sealed, or refused, alike."""
        return self._key

    def vouches(self, entry: str, inputs: str) -> bool:
        """Whether this machine recorded entry as verified with exactly these inputs."""
        sealed = self._entries.get(entry)
        return (
            bool(inputs)
            and sealed is not None
            and hmac.compare_digest(sealed, self._seal(entry, inputs))
        )

    def note(self, entry: str, inputs: str) -> None:
        """Record entry as verified with these inputs ("" inputs are never recorded)."""
        if self._key is not None and inputs:
            self._noted[entry] = self._seal(entry, inputs)

    def save(self) -> None:
        """Write what this run noted, merged over what it read. A .ws that cannot be written
        leaves things as they were: a lost record only costs the work it would have saved."""
        merged = {**self._entries, **self._noted}
        if self._key is None or merged == self._entries:
            return
        data = json.dumps(merged, indent=1, sort_keys=True).encode()
        try:
            atomic_write_bytes(state_dir(self.root) / RECORDS_FILE, data, root=self.root)
        except WsError:
            return
        self._entries, self._noted = merged, {}

    def _seal(self, entry: str, inputs: str) -> str:
        assert self._key is not None  # noqa: S101 -- vouches/note check it first
        bound = b"\0".join(os.fsencode(p) for p in (str(self.root.resolve()), entry, inputs))
        return hmac.new(self._key, bound, hashlib.sha256).hexdigest()


def no_records(root: Path) -> Records:
    """Records that vouch for nothing and are never written (a run without a machine key)."""
    return Records(root, None, {})


def trusted_state(root: Path, tracked: Callable[[Path], bool]) -> bool:
    """Whether <root>/.ws may hold what this machine made: absent, or a plain folder that
    git tracks nothing of (tracked(.ws) asks git)."""
    folder = root / STATE_DIR
    if folder.is_symlink() or (folder.exists() and not folder.is_dir()):
        return False
    return not folder.exists() or not tracked(folder)


def load_records(root: Path, key: bytes | None, tracked: Callable[[Path], bool]) -> Records:
    """The records in <root>/.ws, read once. None are trusted, and none written, when there
    is no key, when .ws is a link or no folder, or when tracked(.ws) says git holds some of it
    (a branch may bring it); none are read from a file not of ws's form (a FIFO, nested or
    oversized JSON)."""
    folder = root / STATE_DIR
    if not trusted_state(root, tracked):
        return Records(root, None, {}, writable=False)
    if key is None:
        return no_records(root)
    if not folder.exists():
        return Records(root, key, {})
    raw = _read_small(folder / RECORDS_FILE, MAX_RECORDS_BYTES + 1)
    if not raw or len(raw) > MAX_RECORDS_BYTES:
        return Records(root, key, {})
    return Records(root, key, _entries(raw))


def _entries(raw: bytes) -> dict[str, str]:
    try:
        data = json.loads(raw.decode("utf-8"))
    except (ValueError, RecursionError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {k: v for k, v in data.items() if isinstance(k, str) and isinstance(v, str)}

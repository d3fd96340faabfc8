"""This machine's store of task results: <root>/.ws/results, entries by key, blobs by digest.

An entry is used only when this machine stored it: each is sealed with the machine's key
(ws.state), so a .ws a branch brings, or another machine's, vouches for no result; its blobs
are checked against their digests when read (ws.run.stored.unpack).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import shutil
from pathlib import Path

from ws.errors import WsError
from ws.fsio import atomic_write_bytes
from ws.run.stored import Stored, named_digests
from ws.state import STATE_DIR, state_dir

RESULTS_DIR = "results"
_KEY = re.compile(r"^[0-9a-f]{64}$")
_DIGEST = re.compile(r"^sha256:([0-9a-f]{64})$")
# An entry or output larger than this is not stored (its task still ran).
MAX_BLOB = 64 << 20


class LocalStore:
    """Results under <root>/.ws/results, sealed with seal_key; with none, a store that holds
    nothing (no machine key, or a .ws that git tracks or that is a link)."""

    def __init__(self, root: Path, seal_key: bytes | None) -> None:
        self.root = root
        self._key = seal_key
        self.folder = root / STATE_DIR / RESULTS_DIR

    def get(self, key: str) -> Stored | None:
        if self._key is None or not _KEY.match(key):
            return None
        entry = _read(self.folder / "entries" / key)
        if entry is None or len(entry) < 64:
            return None
        seal, body = entry[:64], entry[64:]
        if not hmac.compare_digest(seal, self._seal(key, body).encode()):
            return None
        names = named_digests(body)
        blobs = {d: data for d in names if (data := _read(self._blob(d))) is not None}
        return Stored(body, blobs)

    def put(self, key: str, stored: Stored) -> None:
        """Store a result; a full disk or an unwritable .ws costs only the reuse."""
        if self._key is None or not _KEY.match(key):
            return
        if any(len(b) > MAX_BLOB for b in stored.blobs.values()):
            return
        try:
            state_dir(self.root)
            for digest, data in stored.blobs.items():
                path = self._blob(digest)
                if not path.is_file():
                    path.parent.mkdir(parents=True, exist_ok=True)
                    atomic_write_bytes(path, data, root=self.root)
            (self.folder / "entries").mkdir(parents=True, exist_ok=True)
            sealed = self._seal(key, stored.entry).encode() + stored.entry
            atomic_write_bytes(self.folder / "entries" / key, sealed, root=self.root)
        except (WsError, OSError):
            return

    def clear(self) -> bool:
        """Remove every stored result; whether there were any."""
        if self.folder.is_symlink() or not self.folder.is_dir():
            return False
        shutil.rmtree(self.folder)
        return True

    def _blob(self, digest: str) -> Path:
        match = _DIGEST.match(digest)
        hexed = match.group(1) if match else "0" * 64
        return self.folder / "blobs" / hexed[:2] / hexed

    def _seal(self, key: str, body: bytes) -> str:
        assert self._key is not None  # noqa: S101 -- get/put check it first
        return hmac.new(self._key, key.encode() + b"\0" + body, hashlib.sha256).hexdigest()


def _read(path: Path) -> bytes | None:
    try:
        if path.is_symlink() or not path.is_file():
            return None
        return path.read_bytes()
    except OSError:
        return None

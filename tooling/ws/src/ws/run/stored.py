"""A task's result as a store holds it: one entry document and the blobs it names, each
addressed by its digest, so that any store (this machine's folder, a team's OCI registry)
keeps the same bytes and any reader can check them."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ws.errors import WsError

SCHEMA = 1
ENTRY_MEDIA_TYPE = "application/vnd.ws.run.result.v1+json"


class TamperedResult(WsError):
    """A stored result whose bytes are not those its digests name: never used."""


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class Result:
    """What a task's run left: its exit code, its output (stdout and stderr as one stream,
    in order), how long it took and the declared output files (member-relative path ->
    bytes)."""

    exit_code: int
    output: bytes
    seconds: float
    files: Mapping[str, bytes] = field(default_factory=dict)


@dataclass(frozen=True)
class Stored:
    """One result as stored under its key: the entry (JSON naming the key, the exit code and
    the digest of the output and of each file) and the blobs by digest."""

    entry: bytes
    blobs: Mapping[str, bytes]


def pack(key: str, result: Result) -> Stored:
    """result as stored under key."""
    blobs = {digest_of(result.output): result.output}
    files = {}
    for path, data in sorted(result.files.items()):
        files[path] = digest_of(data)
        blobs[files[path]] = data
    entry = {
        "schema": SCHEMA,
        "key": key,
        "exit_code": result.exit_code,
        "seconds": round(result.seconds, 3),
        "output": digest_of(result.output),
        "files": files,
    }
    return Stored(json.dumps(entry, sort_keys=True).encode(), blobs)


def _parse(data: bytes) -> tuple[dict[str, Any], list[str]] | None:
    """An entry document and the digests it names; None when it is not of ws's form."""
    try:
        entry = json.loads(data)
        return entry, [entry["output"], *entry["files"].values()]
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError):
        return None


def named_digests(data: bytes) -> list[str]:
    """The digests an entry document names (its output's and its files'); none when it is
    not of ws's form."""
    parsed = _parse(data)
    return parsed[1] if parsed is not None else []


def unpack(key: str, stored: Stored, where: str) -> Result:
    """The result stored under key, every digest checked: TamperedResult when the entry is
    another key's, not of ws's form, or names bytes it does not hold."""
    entry, named = _parse(stored.entry) or ({}, [])
    ok = entry.get("schema") == SCHEMA and entry.get("key") == key
    ok = ok and isinstance(entry.get("exit_code"), int) and isinstance(entry["files"], dict)
    for digest in named if ok else ():
        data = stored.blobs.get(digest)
        if data is None or digest_of(data) != digest:
            ok = False
    if not ok:
        raise TamperedResult(
            f"{where}: the stored result {key[:12]} does not hold the bytes its digests name",
            fix="ws ran the task instead; remove the entry from the store",
        )
    files = {path: stored.blobs[d] for path, d in entry["files"].items()}
    seconds = float(entry.get("seconds", 0.0))
    return Result(entry["exit_code"], stored.blobs[entry["output"]], seconds, files)

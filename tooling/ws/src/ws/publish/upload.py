"""What to upload, decided before anything is: each built file compared with what the index
holds (the same name and sha256: skipped; the same name with other bytes: the release is
refused), then one `uv publish` call per member, dependencies first."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ws.errors import CommandFailed, WsError
from ws.proc import run
from ws.publish.build import Dists
from ws.publish.index import IndexAuth, published_files
from ws.publish.target import Target
from ws.uv import first_error, publish_argv


@dataclass(frozen=True)
class FileAction:
    path: Path
    sha256: str
    present: bool  # the index holds these very bytes already


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def compare(
    target: Target, dists: Mapping[str, Dists], auth: IndexAuth | None
) -> dict[str, list[FileAction]]:
    """Each member's files and whether the index holds them already; one WsError naming
    every file the index holds with other bytes (a version already published differently)."""
    actions: dict[str, list[FileAction]] = {}
    conflicts: list[str] = []
    for name, built in dists.items():
        held = published_files(target.url, name, auth)
        actions[name] = []
        for path in built.files:
            digest = sha256(path)
            if path.name in held and held[path.name] != digest:
                conflicts.append(f"{path.name} (index: {held[path.name] or 'no hash given'})")
            actions[name].append(FileAction(path, digest, held.get(path.name) == digest))
    if conflicts:
        lines = "\n".join(f"  {c}" for c in conflicts)
        raise WsError(
            f"{target.name} already holds these versions with other content; nothing was "
            f"uploaded:\n{lines}",
            fix="a published version never changes: release a new version (a new tag, or a "
            "new [project] version)",
        )
    return actions


def upload(
    uv: str,
    target: Target,
    files: list[Path],
    *,
    trusted: bool,
    env: Mapping[str, str],
    before: str,
) -> None:
    """One uv publish of one member's files; a WsError that says what the run had uploaded
    before (before) when it fails."""
    try:
        run(publish_argv(uv, target.publish_url, files, trusted=trusted), env=env)
    except CommandFailed as e:
        raise WsError(
            f"uploading {', '.join(f.name for f in files)} to {target.name} failed:\n"
            f"{first_error(e.stderr)}\nuploaded before: {before}",
            fix="fix the cause and run again: ws publish uploads only what is missing",
        ) from e

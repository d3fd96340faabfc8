"""What to upload, decided before anything is: each built file compared with what the index
holds (the same name and sha256: skipped; the same name with other bytes: the release is
refused), then one `uv publish` call per member, dependencies first."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from packaging.utils import parse_sdist_filename, parse_wheel_filename
from packaging.version import Version

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
    """Each member's files and whether the index holds them already. A version the index
    holds is refused (one WsError naming every such file) unless every file it holds of it is
    one of ours, byte for byte: what an earlier run of the same commit uploaded."""
    actions: dict[str, list[FileAction]] = {}
    conflicts: list[str] = []
    for name, built in dists.items():
        held = published_files(target.url, name, auth)
        ours = {path.name: sha256(path) for path in built.files}
        for filename, digest in held.items():
            if _version_of(filename) == Version(built.version) and ours.get(filename) != digest:
                mine = "not built by this run" if filename not in ours else "other bytes"
                conflicts.append(f"{filename} ({mine})")
        actions[name] = [
            FileAction(p, ours[p.name], held.get(p.name) == ours[p.name]) for p in built.files
        ]
    if conflicts:
        lines = "\n".join(f"  {c}" for c in conflicts)
        raise WsError(
            f"{target.name} already holds these versions, with files other than this run's; "
            f"nothing was uploaded:\n{lines}",
            fix="a published version never changes: release a new version (a new tag, or a "
            "new [project] version)",
        )
    return actions


def _version_of(filename: str) -> Version | None:
    """The version a wheel's or an sdist's file name says (None for other names)."""
    try:
        if filename.endswith(".whl"):
            return parse_wheel_filename(filename)[1]
        return parse_sdist_filename(filename)[1]
    except ValueError:
        return None


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

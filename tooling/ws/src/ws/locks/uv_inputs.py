"""What `uv lock` reads: every setting and file a record of its answer must be keyed on.

A record that `uv lock --locked` passed may spare the next check only while everything uv
would read is as it was: the uv binary, the workspace's pyproject files and root settings,
the user- and system-level uv.toml, uv's environment variables, the metadata files of local
path sources and `file://` references, and the lock itself. Where ws cannot see all of it (a
member whose metadata a build backend computes, a cache key uv takes from git or the
environment), the key is "" and nothing is recorded: uv is asked every time.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ws.errors import ConfigError
from ws.state import bytes_part, digest
from ws.uv import ROOT_SETTINGS_FILES, identity
from ws.workspace.members import Workspace, read_toml
from ws.workspace.sources import declared_paths, local_sources

# uv's variables that cannot change an answer of `uv lock --locked` (output only), and the
# credentials, which must never reach a key: every other UV_* variable is part of the key,
# so that a setting a newer uv adds is keyed before ws knows of it.
_OUTPUT_ONLY = frozenset({"UV_NO_PROGRESS", "UV_NO_WRAP", "UV_LOG_CONTEXT"})
_CREDENTIAL = re.compile(r"(PASSWORD|TOKEN|USERNAME|SECRET|_AUTH)")
# user:password@ in an index URL given through the environment.
_USERINFO = re.compile(r"(?<=://)[^/@\s]*@")
# What uv keys a local directory's built metadata on when it names no cache-keys.
_DEFAULT_CACHE_KEYS = ("pyproject.toml", "setup.py", "setup.cfg")
# A `name @ file://...` requirement's path.
_FILE_URL = re.compile(r"@\s*file://(?P<path>[^\s;]+)")


class Unkeyable(Exception):
    """uv reads something here that ws cannot see: the answer is not recorded."""


def lock_inputs(
    ws: Workspace, uv: str, env: Mapping[str, str], *, home: Path | None
) -> tuple[bytes | str, ...] | None:
    """What `uv lock --locked` reads besides the lock, read now; None when ws cannot see all
    of it (then nothing is recorded)."""
    if any(m.dynamic for m in ws.members.values()):
        return None
    try:
        parts: list[bytes | str] = [identity(uv), uv_environment(env)]
        parts += config_files(env, home)
        parts.append(_uv_view(ws.data))
        parts += [_file(ws.root / name) for name in ROOT_SETTINGS_FILES]
        parts += [_uv_view(m.data) for m in ws.members.values()]
        parts += [_metadata_files(p, data) for p, data in local_packages(ws).items()]
    except (Unkeyable, ConfigError, OSError):
        return None
    return tuple(parts)


def lock_key(inputs: Sequence[bytes | str] | None, lock: bytes | None) -> str:
    """The key of a lock's bytes read with these inputs; "" when they are unkeyable."""
    if inputs is None:
        return ""
    return digest([*inputs, bytes_part(lock)])


def uv_environment(env: Mapping[str, str]) -> str:
    """uv's variables as uv reads them, credentials left out and stripped from URLs."""
    kept = {
        name: _USERINFO.sub("", value)
        for name, value in env.items()
        if name.startswith("UV_") and name not in _OUTPUT_ONLY and not _CREDENTIAL.search(name)
    }
    return json.dumps(kept, sort_keys=True)


def config_files(env: Mapping[str, str], home: Path | None) -> list[bytes]:
    """The bytes of the uv.toml files uv merges besides the workspace's own: the one
    UV_CONFIG_FILE names, the user's and the system's (none with UV_NO_CONFIG)."""
    if env.get("UV_NO_CONFIG"):
        return []
    return [_file(path) for path in _config_paths(env, home)]


def _config_paths(env: Mapping[str, str], home: Path | None) -> list[Path]:
    paths = [Path(env["UV_CONFIG_FILE"])] if env.get("UV_CONFIG_FILE") else []
    user = env.get("XDG_CONFIG_HOME") or (str(home / ".config") if home else "")
    if user:
        paths.append(Path(user) / "uv" / "uv.toml")
    system = [d for d in env.get("XDG_CONFIG_DIRS", "").split(":") if d] or ["/etc/xdg"]
    paths += [Path(d) / "uv" / "uv.toml" for d in system]
    paths.append(Path("/etc/uv/uv.toml"))
    return paths


def local_packages(ws: Workspace) -> dict[Path, dict[str, Any] | None]:
    """The local packages uv reads metadata from besides the members, each with its
    pyproject.toml read once (None: it has none, or it is an archive): path sources, the
    paths of `name @ file://...` requirements, and the path sources each names in turn (uv
    reads a path source's [tool.uv.sources] when it builds its metadata)."""
    todo = [ws.root / s.rel for s in local_sources(ws, ws.members)]
    for member in ws.members.values():
        for requirement in _requirements(member.data):
            match = _FILE_URL.search(requirement)
            if match:
                todo += _file_url_paths(match["path"], (ws.root, member.path))
    found: dict[Path, dict[str, Any] | None] = {}
    while todo:
        path = todo.pop()
        if path in found:
            continue
        pyproject = path / "pyproject.toml"
        found[path] = read_toml(pyproject) if path.is_dir() and pyproject.is_file() else None
        todo += [(path / p).resolve() for p in declared_paths(found[path] or {})]
    return dict(sorted(found.items()))


def _requirements(data: Mapping[str, Any]) -> Iterable[str]:
    project = data.get("project", {})
    yield from _strings(project.get("dependencies"))
    for values in _tables(project.get("optional-dependencies")):
        yield from _strings(values)
    for values in _tables(data.get("dependency-groups")):
        yield from _strings(values)


def _tables(value: Any) -> list[Any]:
    return list(value.values()) if isinstance(value, dict) else []


def _strings(value: Any) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def _file_url_paths(raw: str, projects: Sequence[Path]) -> list[Path]:
    """Where a file:// requirement points: ${PROJECT_ROOT} as uv expands it when locking at
    the root, or as the member's folder; unkeyable when it points nowhere."""
    candidates = [Path(raw.replace("${PROJECT_ROOT}", str(project))) for project in projects]
    found = [c if c.is_absolute() else projects[0] / c for c in candidates]
    existing = [path for path in found if path.exists()]
    if not existing:
        raise Unkeyable(raw)
    return existing


def _metadata_files(path: Path, pyproject: dict[str, Any] | None) -> bytes:
    """What uv keys a local package's metadata on: an archive's bytes; a folder's
    cache-keys files (by default its pyproject.toml, setup.py and setup.cfg)."""
    if path.is_file():
        return hashlib.sha256(path.read_bytes()).digest()
    if not path.is_dir():
        raise Unkeyable(path)
    parts: list[bytes | str] = []
    for pattern in _cache_keys(path, pyproject):
        matches = sorted(path.glob(pattern))
        parts += [f"{m.relative_to(path)}" for m in matches]
        parts += [_file(m) for m in matches if m.is_file()]
    return digest(parts).encode()


def _cache_keys(folder: Path, pyproject: dict[str, Any] | None) -> tuple[str, ...]:
    """The file patterns of the folder's tool.uv.cache-keys (uv's defaults when none); a key
    on git or the environment is unkeyable here."""
    keys = (pyproject or {}).get("tool", {}).get("uv", {}).get("cache-keys")
    if keys is None:
        return _DEFAULT_CACHE_KEYS
    if not isinstance(keys, list) or not all(
        isinstance(k, str) or (isinstance(k, dict) and set(k) == {"file"}) for k in keys
    ):
        raise Unkeyable(folder / "pyproject.toml")
    return tuple(k if isinstance(k, str) else str(k["file"]) for k in keys)


def _file(path: Path) -> bytes:
    """A file's bytes (through a link: a user's uv.toml may be one), b"-" when missing."""
    if path.is_dir():
        raise Unkeyable(path)
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return b"-"


def _uv_view(data: dict[str, Any]) -> str:
    """A pyproject as uv reads it: without ws's own [tool.ws] table (image pins, labels,
    commands, which uv never reads), so that `ws docker pin` leaves the record valid."""
    tool = data.get("tool")
    if isinstance(tool, dict) and "ws" in tool:
        data = {**data, "tool": {k: v for k, v in tool.items() if k != "ws"}}
    return json.dumps(data, sort_keys=True, default=str)

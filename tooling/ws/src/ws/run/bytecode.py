"""Bytecode shared between the exact environments.

uv hard-links every installed file from its cache, so pytest's sources are one file on disk
in forty environments; but Python writes a `.pyc` beside each source in each environment,
compiling pytest forty times and storing it forty times. Here a `.pyc` written for a linked
source is linked into <root>/.ws/bytecode once, and from there into every other environment
whose source is that same file: compiled once, stored once.

Sharing is safe because a `.pyc` names its source only by its mtime and size, which a hard
link shares (Python checks both, and recompiles on any difference, replacing the link, never
the shared file), and the import system sets each code object's file name to the path it
was imported from.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from ws.run.envs import pyvenv_cfg

BYTECODE_DIR = "bytecode"


def cache_tag(env: Path) -> str | None:
    """The cache tag of the env's Python (cpython-311), from its pyvenv.cfg; None when it is
    not CPython (whose pyc layout this relies on) or cannot be read."""
    fields = pyvenv_cfg(env)
    if fields is None:
        return None
    version = fields.get("version_info", fields.get("version", "")).split(".")
    if fields.get("implementation", "CPython") != "CPython" or len(version) < 2:
        return None
    return f"cpython-{version[0]}{version[1]}"


def _linked_sources(env: Path) -> Iterator[tuple[Path, os.stat_result]]:
    """Every .py in the env's site-packages that is a hard link (uv's cache holds another)."""
    for site in env.glob("lib/python*/site-packages"):
        for folder, dirs, names in os.walk(site):
            dirs[:] = [d for d in dirs if d != "__pycache__"]
            for name in names:
                if name.endswith(".py"):
                    path = Path(folder, name)
                    info = path.stat(follow_symlinks=False)
                    if info.st_nlink > 1:
                        yield path, info


def _stored_name(info: os.stat_result, tag: str) -> str:
    return f"{info.st_dev}-{info.st_ino}-{info.st_mtime_ns}-{info.st_size}.{tag}.pyc"


def _pyc(source: Path, tag: str) -> Path:
    return source.parent / "__pycache__" / f"{source.stem}.{tag}.pyc"


def share(store: Path, env: Path) -> int:
    """Link into env the bytecode stored for its linked sources; how many were linked."""
    tag = cache_tag(env)
    if tag is None or not store.is_dir():
        return 0
    have = set(os.listdir(store))
    linked = 0
    for source, info in _linked_sources(env):
        name = _stored_name(info, tag)
        pyc = _pyc(source, tag)
        if name in have and not pyc.exists():
            try:
                pyc.parent.mkdir(exist_ok=True)
                os.link(store / name, pyc)
                linked += 1
            except OSError:
                continue
    return linked


def collect(store: Path, env: Path) -> int:
    """Link into the store the bytecode Python wrote in env for linked sources it lacks."""
    tag = cache_tag(env)
    if tag is None:
        return 0
    store.mkdir(parents=True, exist_ok=True)
    have = set(os.listdir(store))
    kept = 0
    for source, info in _linked_sources(env):
        name = _stored_name(info, tag)
        pyc = _pyc(source, tag)
        if name not in have and pyc.is_file() and not pyc.is_symlink():
            try:
                os.link(pyc, store / name)
                kept += 1
            except OSError:
                continue
    return kept

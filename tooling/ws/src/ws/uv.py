"""The uv binary ws drives: where it is, its version, and its command lines."""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from pathlib import Path

from ws.errors import ToolNotFound
from ws.proc import run, which

# Overrides the uv that ws finds (by default the one the `uv` package installed beside ws).
UV_ENV_VAR = "WS_UV"


def find_uv(env: Mapping[str, str]) -> str:
    """The uv binary: $WS_UV, else the `uv` package's binary, else uv on PATH."""
    override = env.get(UV_ENV_VAR)
    if override:
        if not Path(override).is_file():
            raise ToolNotFound(
                f"{UV_ENV_VAR}={override}: no such file", fix="point it at a uv binary"
            )
        return override
    try:
        from uv import find_uv_bin  # noqa: PLC0415 -- only when needed

        return find_uv_bin()
    except (ImportError, FileNotFoundError):
        found = which("uv")
        if found is None:
            raise ToolNotFound(
                "uv not found",
                fix=f"install ws with its dependencies, or set {UV_ENV_VAR} to a uv binary",
            ) from None
        return found


@functools.cache
def version_of(binary: str) -> str:
    out = run([binary, "--version"]).stdout.split()
    return out[1] if len(out) > 1 else out[0]


def identity(binary: str) -> str:
    """Which uv binary this is, without running it (a cache key): its path, size and mtime."""
    found = Path(binary).resolve()
    st = found.stat()
    return f"{found}:{st.st_size}:{st.st_mtime_ns}"


def uv_version(env: Mapping[str, str]) -> str:
    return version_of(find_uv(env))


def lock_argv(
    uv: str,
    *,
    locked: bool = False,
    upgrade: bool = False,
    upgrade_packages: Sequence[str] = (),
    offline: bool = False,
) -> list[str]:
    """The `uv lock` command line (pure: tests check it without running)."""
    argv = [uv, "lock", "--color", "never", "--no-progress"]
    if locked:
        argv.append("--locked")
    if upgrade:
        argv.append("--upgrade")
    for package in upgrade_packages:
        argv += ["--upgrade-package", package]
    if offline:
        argv.append("--offline")
    return argv

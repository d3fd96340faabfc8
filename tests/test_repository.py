"""The repository itself: what it commits (locks, generated files, pins) is what ws would make."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.support.loopback_images import docker_client  # noqa: F401

ROOT = Path(__file__).parents[1]


def run_ws(root: Path, *args: str, env: dict[str, str]) -> None:
    """`ws --root root args` as a process; it must succeed."""
    done = subprocess.run(
        [sys.executable, "-m", "ws", "--root", str(root), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.docker
def test_ws_check_passes_on_the_repository(docker_client: Any) -> None:  # noqa: F811
    """The pins hold on any machine because tooling/engine.sh makes the seed images with
    content-only digests; offline, because the locks are checked against uv's cache."""
    run_ws(ROOT, "check", env={**os.environ, "UV_OFFLINE": "1", "CI": "true"})


def test_a_fresh_clone_needs_no_lock_change(tmp_path: Path) -> None:
    """Renovate and CI start from a fresh clone: there, `ws sync-locks` must write nothing
    (no .ws cache, an empty uv cache, no network)."""
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True)
    env = {**os.environ, "UV_OFFLINE": "1", "UV_CACHE_DIR": str(tmp_path / "uv-cache")}
    for args in (["sync-locks", "--check"], ["sync-locks"]):
        run_ws(clone, *args, env=env)
    status = subprocess.run(
        ["git", "status", "--porcelain"], cwd=clone, capture_output=True, text=True, check=True
    )
    assert status.stdout == ""

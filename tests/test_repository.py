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


@pytest.mark.docker
def test_ws_check_passes_on_the_repository(docker_client: Any) -> None:  # noqa: F811
    """The pins hold on any machine because tooling/engine.sh makes the seed images with
    content-only digests; offline, because the locks are checked against uv's cache."""
    env = {**os.environ, "UV_OFFLINE": "1", "CI": "true"}
    done = subprocess.run(  # noqa: S603
        [sys.executable, "-m", "ws", "--root", str(ROOT), "check"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr

"""Ctrl-C at any moment of a run, the first fraction of a second included, exits 130 without
a traceback: the entry point imports the CLI (typer and the rest, the slow part of starting)
inside its guard. Python's own start-up (site) before ws's first line is out of ws's reach."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from ws.mutex import workspace_lock

from tests.support.files import make_workspace

# What the `ws` console script does, with a line printed when the entry point starts importing
# the CLI: inside its guard. (A line printed before main() was called left a window between the
# print and main's `try`: an interrupt sent at once landed there about one run in forty.)
SCRIPT = """
import sys

class Marker:
    def find_spec(self, name, path=None, target=None):
        if name == "ws.cli.app":
            print("importing", flush=True)

sys.meta_path.insert(0, Marker())
from ws.entry import main
main()
"""


@pytest.mark.parametrize("delay", [0.0, 0.02, 0.05, 0.1, 0.2])
def test_ctrl_c_while_starting_exits_130_without_a_traceback(delay: float, tmp_path) -> None:
    """The command waits for a workspace lock this test holds: whenever the interrupt comes,
    ws is still starting or still running."""
    root = make_workspace(tmp_path / "ws", {"core": {}})
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}  # a slow start: a wide window
    with workspace_lock(root, timeout=5):
        process = _interrupted(root, env, delay)
        _, stderr = process.communicate(timeout=60)
    assert "Traceback" not in stderr
    assert process.returncode == 130, stderr
    assert stderr.endswith("interrupted\n")


def _interrupted(root, env, delay: float) -> subprocess.Popen:
    process = subprocess.Popen(
        [sys.executable, "-c", SCRIPT, "--root", str(root), "sync-locks", "--wait", "30"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert process.stdout is not None
    assert process.stdout.readline() == "importing\n"  # interrupted on the event, then delay
    time.sleep(delay)
    process.send_signal(signal.SIGINT)
    return process

"""ws.proc: the one door subprocesses go through, run to the end or started to run alongside."""

from __future__ import annotations

import time

import pytest
from ws.errors import CommandFailed, ToolNotFound
from ws.proc import run, start


def test_a_started_command_gives_its_result_when_waited_for() -> None:
    running = start(["sh", "-c", "echo out; echo err >&2"])
    result = running.wait()
    assert (result.returncode, result.stdout, result.stderr) == (0, "out\n", "err\n")


def test_a_started_command_that_fails_is_command_failed_with_its_stderr() -> None:
    running = start(["sh", "-c", "echo why >&2; exit 3"])
    with pytest.raises(CommandFailed) as caught:
        running.wait()
    assert (caught.value.returncode, caught.value.stderr) == (3, "why\n")
    assert start(["sh", "-c", "exit 3"]).wait(check=False).returncode == 3


def test_stop_ends_a_started_command_at_once() -> None:
    began = time.monotonic()
    start(["sleep", "60"]).stop()
    assert time.monotonic() - began < 30


def test_a_missing_program_is_tool_not_found() -> None:
    with pytest.raises(ToolNotFound):
        start(["ws-no-such-program"])
    with pytest.raises(ToolNotFound):
        run(["ws-no-such-program"])


def test_run_feeds_stdin_to_the_program() -> None:
    """Credential helpers read the registry host on stdin."""
    assert run(["cat"], stdin="localhost:5000\n").stdout == "localhost:5000\n"

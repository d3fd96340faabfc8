"""The one place ws starts a subprocess: output captured, failures typed."""

from __future__ import annotations

import os
import select
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ws.errors import CommandFailed, ToolNotFound


@dataclass(frozen=True)
class Result:
    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str


def run(
    argv: Sequence[str | Path],
    *,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    check: bool = True,
    timeout: float | None = None,
    errors: str = "strict",
    stdin: str | None = None,
) -> Result:
    """Run argv (never through a shell) and capture its output.

    errors is how undecodable output bytes are read: "surrogateescape" keeps file names
    that are not UTF-8 equal to what os.listdir returns. stdin is the text the program
    reads (none: it reads the caller's stdin). Raises CommandFailed on a non-zero
    exit when check is true, and ToolNotFound when the program does not exist.
    """
    args = [str(a) for a in argv]
    try:
        done = subprocess.run(  # noqa: S603 -- argv is a list built by ws, never a shell string
            args,
            cwd=cwd,
            env=dict(env) if env is not None else None,
            capture_output=True,
            text=True,
            errors=errors,
            check=False,
            timeout=timeout,
            input=stdin,
        )
    except FileNotFoundError as e:
        raise _not_found(args) from e
    return _result(args, done.returncode, done.stdout, done.stderr, check=check)


def _result(args: list[str], code: int, stdout: str, stderr: str, *, check: bool) -> Result:
    """What a finished command gave; CommandFailed on a non-zero exit when check is true."""
    if check and code != 0:
        raise CommandFailed(args, code, stdout, stderr)
    return Result(tuple(args), code, stdout, stderr)


def _not_found(args: list[str]) -> ToolNotFound:
    return ToolNotFound(f"{args[0]}: not found; install it or put it on PATH")


def which(program: str, path: str | None = None) -> str | None:
    """The path of program on path (a PATH value; None: this process's PATH), or None."""
    return shutil.which(program, path=path)


class Running:
    """A subprocess started by start(), its output captured: wait() for its Result."""

    def __init__(self, args: list[str], popen: subprocess.Popen[str]) -> None:
        self._args = args
        self._popen = popen

    def wait(self, *, check: bool = True) -> Result:
        """Its Result once it ends; CommandFailed on a non-zero exit when check is true."""
        stdout, stderr = self._popen.communicate()
        return _result(self._args, self._popen.returncode, stdout or "", stderr, check=check)

    def stop(self) -> None:
        """End it (ws stopped needing its answer: an error, or Ctrl-C) and reap it."""
        if self._popen.poll() is None:
            self._popen.kill()
        self._popen.communicate()


def start(
    argv: Sequence[str | Path], *, cwd: Path | None = None, env: Mapping[str, str] | None = None
) -> Running:
    """Start argv (never through a shell) and go on while it runs: for a check whose answer
    ws needs only after work of its own. ToolNotFound when the program does not exist."""
    args = [str(a) for a in argv]
    popen = _spawn(
        args,
        cwd=cwd,
        env=dict(env) if env is not None else None,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    return Running(args, popen)


def _spawn(args: list[str], **options: Any) -> subprocess.Popen[Any]:
    """Popen args (never through a shell); ToolNotFound when the program does not exist."""
    try:
        return subprocess.Popen(args, **options)  # noqa: S603 -- a list built by ws, no shell
    except FileNotFoundError as e:
        raise _not_found(args) from e


@dataclass(frozen=True)
class Streamed:
    """How a streamed command ended: its exit code (None when ws stopped it), its output
    (stdout and stderr as one stream, in order) and why it was stopped, if it was."""

    returncode: int | None
    output: bytes
    stopped: str | None = None  # "timeout" or "cancelled"


# How long a stopped command's process group gets between SIGTERM and SIGKILL.
GRACE = 3.0


def stream(
    argv: Sequence[str | Path],
    *,
    cwd: Path,
    env: Mapping[str, str],
    timeout: float | None = None,
    cancel: threading.Event | None = None,
    on_output: Callable[[bytes], None] | None = None,
) -> Streamed:
    """Run argv in a process group of its own, its output read as it comes (on_output gets
    each piece); stopped (its whole group) when timeout passes or cancel is set."""
    args = [str(a) for a in argv]
    popen = _spawn(
        args,
        cwd=cwd,
        env=dict(env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # so that ws stops its children too, and Ctrl-C is ws's
    )
    assert popen.stdout is not None  # noqa: S101 -- stdout=PIPE above
    deadline = None if timeout is None else time.monotonic() + timeout
    chunks: list[bytes] = []
    stopped = _pump(popen.stdout.fileno(), chunks, deadline, cancel, on_output)
    if stopped is not None:
        _stop_group(popen)
    popen.stdout.close()
    code = popen.wait()
    return Streamed(None if stopped else code, b"".join(chunks), stopped)


def _pump(
    fd: int,
    chunks: list[bytes],
    deadline: float | None,
    cancel: threading.Event | None,
    on_output: Callable[[bytes], None] | None,
) -> str | None:
    """Read fd to its end; "timeout" or "cancelled" if ws must stop the command first."""
    while True:
        if cancel is not None and cancel.is_set():
            return "cancelled"
        if deadline is not None and time.monotonic() > deadline:
            return "timeout"
        ready, _, _ = select.select([fd], [], [], 0.1)
        if not ready:
            continue
        data = os.read(fd, 65536)
        if not data:
            return None
        chunks.append(data)
        if on_output is not None:
            on_output(data)


def _stop_group(popen: subprocess.Popen[bytes]) -> None:
    """SIGTERM the command's process group, SIGKILL what is left after GRACE seconds."""
    for sig, wait in ((signal.SIGTERM, GRACE), (signal.SIGKILL, None)):
        try:
            os.killpg(popen.pid, sig)
        except ProcessLookupError:
            return
        try:
            popen.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def start_on_socket(argv: Sequence[str | Path], sock: socket.socket) -> Running:
    """Start argv with sock as its standard input and output (a program that carries a
    connection, such as `ssh HOST docker system dial-stdio`); its errors are captured."""
    args = [str(a) for a in argv]
    fd = sock.fileno()
    popen = _spawn(args, stdin=fd, stdout=fd, stderr=subprocess.PIPE, text=True)
    return Running(args, popen)

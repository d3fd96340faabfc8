"""The `ws` command's entry point, and the one place Ctrl-C is handled.

From main's first line SIGINT raises Interrupted, which no library in between catches (click
and typer turn a KeyboardInterrupt into exit codes and messages of their own), and the CLI is
imported inside the guard: an interrupt while Python is still loading ws exits 130 like one at
any later moment."""

import gc
import os
import signal
import sys
from types import FrameType
from typing import Any

INTERRUPTED = 130


class Interrupted(BaseException):
    """Ctrl-C: a BaseException, as KeyboardInterrupt is, so `except Exception` lets it pass."""


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise Interrupted


def _send_again(unraisable: Any) -> None:
    """Python ignores (and prints) what a finalizer or a weakref callback raises, and imports
    run one (importlib's module locks): an interrupt that lands there is raised again 10 ms
    later, by an alarm (a signal raised here would be handled here)."""
    if isinstance(unraisable.exc_value, Interrupted):
        signal.setitimer(signal.ITIMER_REAL, 0.01)
    else:
        sys.__unraisablehook__(unraisable)


def main() -> None:
    code = INTERRUPTED
    # A ws process lives for one command, and what it allocates is mostly modules, kept to
    # the end, and data without cycles. At Python's default thresholds the collector walks
    # all of it again and again while docker-py, typer and ws load (about 20 ms of a 0.33 s
    # cached `ws docker build`, as much as with the collector off); collections of the
    # youngest objects now come 70 times less often and full ones in effect not at all.
    gc.set_threshold(50_000, 20, 20)
    try:
        sys.unraisablehook = _send_again
        signal.signal(signal.SIGINT, _interrupt)
        signal.signal(signal.SIGALRM, _interrupt)
        from ws.cli.app import run  # imported inside the guard

        code = run(sys.argv[1:])
    except BaseException as e:
        if not _from_interrupt(e):
            raise
        sys.stderr.write("interrupted\n")
    _end(code)


def _from_interrupt(error: BaseException | None) -> bool:
    """Whether error is the interrupt (a KeyboardInterrupt: before the handler was set), or
    was raised from it: Python 3.11 wraps what a class body's __set_name__ raises (an import
    interrupted there) in a RuntimeError."""
    while error is not None:
        if isinstance(error, Interrupted | KeyboardInterrupt):
            return True
        error = error.__cause__
    return False


def _end(code: int) -> None:
    """End the process. Every file ws wrote is closed when a command returns, so ws skips
    tearing its modules down (a tenth of a second, longer than most commands' own work) and
    with it the last window where Ctrl-C would kill Python by the signal."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # too late to stop anything now
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)

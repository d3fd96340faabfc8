"""How `ws run` looks: live lines per running member on a terminal, each member's output as
a collapsible group on GitHub Actions, plain blocks elsewhere; then a summary table or JSON."""

from __future__ import annotations

import json
import re
import secrets
import threading
import time
from collections.abc import Callable, Sequence
from typing import TextIO

from ws.cli.progress import draw_rows, erase_rows
from ws.printable import printable, printable_lines
from ws.run.runner import Outcome

_MARK = {"passed": "ok", "failed": "FAILED", "skipped": "skipped", "timeout": "TIMEOUT"}
_FAILED = frozenset({"failed", "timeout", "error", "cancelled"})
# A colour or text style (SGR): the one escape sequence a task's output keeps, on a colour
# terminal only; it cannot move the cursor, clear the screen or set a title.
_SGR = re.compile(r"\x1b\[[0-9;:]*m")


def failed(outcome: Outcome) -> bool:
    return outcome.status in _FAILED


class RunDisplay:
    """The run as it goes. mode: "live" (a terminal), "github" (Actions log groups) or
    "plain". A member's output is shown when it failed, or always with show_all (-v)."""

    def __init__(
        self,
        task: str,
        total: int,
        stream: TextIO,
        *,
        mode: str,
        show_all: bool,
        quiet: bool = False,
        colour: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.task, self.total, self.stream = task, total, stream
        self.mode, self.show_all, self.quiet, self.clock = mode, show_all, quiet, clock
        self.colour = colour
        self.running: dict[str, tuple[str, float]] = {}
        self.done = 0
        self.drawn = 0
        self.noted: set[str] = set()
        self.lock = threading.Lock()  # members report from several threads

    def __call__(self, what: str, member: str, detail: object) -> None:
        with self.lock:
            if what == "env":
                self.running[member] = ("making its environment", self.clock())
            elif what == "start":
                self.running[member] = (f"running {self.task}", self.clock())
            elif what == "done" and isinstance(detail, Outcome):
                self.running.pop(member, None)
                self.done += 1
                self._erase()
                self._finished(detail)
            elif what != "output":
                return
            if self.mode == "live":
                self._draw()

    def close(self) -> None:
        with self.lock:
            self._erase()
            self.stream.flush()

    def _finished(self, outcome: Outcome) -> None:
        if self.quiet and not failed(outcome):
            return
        head = f"{outcome.member}: {self.task} {status_text(outcome)}"
        show = outcome.output and (failed(outcome) or self.show_all)
        if self.mode == "github":
            self._github_group(head, outcome.output if show else b"")
        else:
            self._write(head)
            if show:
                self.stream.write(task_output(outcome.output, colour=self.colour) + "\n")
        if outcome.reason and outcome.status not in ("passed",):
            self._write(f"  {outcome.reason}")
        for note in outcome.notes:
            if note not in self.noted:
                self.noted.add(note)
                self._write(f"warning: {note}")
        self.stream.flush()

    def _github_group(self, head: str, output: bytes) -> None:
        # The task's own output must not run workflow commands (::add-mask::, ::error::...):
        # GitHub ignores them between stop-commands and the token that resumes them.
        token = secrets.token_hex(16)
        self._write(f"::group::{head}")
        if output:
            self.stream.write(f"::stop-commands::{token}\n")
            self.stream.write(task_output(output, colour=self.colour) + "\n")
            self.stream.write(f"::{token}::\n")
        self.stream.write("::endgroup::\n")

    def _write(self, text: str) -> None:
        self.stream.write(printable_lines(text) + "\n")

    def _draw(self) -> None:
        now = self.clock()
        rows = [f"Running {self.task}: {self.done}/{self.total} done"]
        rows += [
            f"  {m}: {doing} {now - since:.1f} s"
            for m, (doing, since) in sorted(self.running.items())
        ]
        self.drawn = draw_rows(self.stream, self.drawn, rows)

    def _erase(self) -> None:
        self.drawn = erase_rows(self.stream, self.drawn)


def task_output(output: bytes, *, colour: bool) -> str:
    """A task's output as ws shows it: each line as a terminal leaves it (the text after its
    last carriage return: a progress line's last state), its colours kept on a colour
    terminal and dropped elsewhere, every other control character escaped."""
    lines = []
    for line in output.decode("utf-8", "replace").rstrip("\n").split("\n"):
        line = line.rstrip("\r").rsplit("\r", 1)[-1]
        pieces = _SGR.split(line)
        styles = _SGR.findall(line) if colour else [""] * (len(pieces) - 1)
        shown = printable(pieces[0])
        for style, piece in zip(styles, pieces[1:], strict=True):
            shown += style + printable(piece)
        lines.append(shown + ("\x1b[0m" if colour and styles else ""))
    return "\n".join(lines)


def status_text(outcome: Outcome) -> str:
    mark = _MARK.get(outcome.status, outcome.status)
    if outcome.status in ("skipped", "error", "cancelled"):
        return mark
    if outcome.cached:  # its time is the stored run's, not this one's
        return f"{mark} (cached; ran {outcome.seconds:.1f} s)"
    return f"{mark} ({outcome.seconds:.1f} s)"


def summary_table(task: str, outcomes: Sequence[Outcome]) -> str:
    rows = [("MEMBER", "RESULT", "TIME", "CACHED")]
    for o in outcomes:
        time_text = f"{o.seconds:.1f} s" if o.status not in ("skipped", "error") else "-"
        rows.append((o.member, o.status, time_text, "yes" if o.cached else "no"))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    counts = _counts(outcomes)
    lines.append(f"{task}: " + ", ".join(f"{n} {s}" for s, n in counts.items()))
    return "\n".join(lines)


def _counts(outcomes: Sequence[Outcome]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for o in outcomes:
        counts[o.status] = counts.get(o.status, 0) + 1
    cached = sum(1 for o in outcomes if o.cached)
    if cached:
        counts["cached"] = cached
    return counts


def run_json(task: str, outcomes: Sequence[Outcome]) -> str:
    return json.dumps(
        {
            "task": task,
            "results": [
                {
                    "member": o.member,
                    "status": o.status,
                    "exit_code": o.exit_code,
                    "seconds": round(o.seconds, 3),
                    "cached": o.cached,
                    "reason": o.reason,
                    "key": o.key,
                    "notes": list(o.notes),
                }
                for o in outcomes
            ],
            "failed": sum(1 for o in outcomes if failed(o)),
        },
        indent=2,
    )

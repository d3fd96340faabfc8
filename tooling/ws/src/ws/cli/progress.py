"""How long work looks on a terminal: live lines that are gone when done; plain lines elsewhere."""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Callable
from typing import TextIO

from ws.printable import printable


class LockProgress:
    """What a sync does: one live line while uv locks the workspace, gone when done; with
    plain, every event as a line (-v)."""

    def __init__(self, stream: TextIO, *, live: bool, plain: bool) -> None:
        self.stream = stream
        self.live = live
        self.plain = plain
        self.shown = False

    def __call__(self, name: str, status: str) -> None:
        if self.plain:
            label = "workspace root" if name == "root" else name
            self.stream.write(printable(f"  {label}: {status}") + "\n")
        elif self.live and status == "locking":
            self.stream.write("\r\x1b[2KLocking the workspace with uv...")
            self.shown = True
        else:
            self.close()
        self.stream.flush()

    def close(self) -> None:
        if self.shown:
            self.stream.write("\r\x1b[2K")
            self.stream.flush()
            self.shown = False


class LiveBuilds:
    """Image builds as they go. On a terminal: a count with the time left, then one line per
    running member showing its current step, redrawn in place and erased when done. Elsewhere
    (CI, a pipe, -v): every line the builds print, prefixed by its member."""

    def __init__(
        self,
        total: int,
        stream: TextIO,
        *,
        live: bool,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.total = total
        self.stream = stream
        self.live = live
        self.clock = clock
        self.started = clock()
        self.running: dict[str, str] = {}
        self.done = 0
        self.drawn = 0
        self.lock = threading.Lock()  # builds report from several threads

    def __call__(self, member: str, line: str) -> None:
        with self.lock:
            if not self.live:
                self.stream.write(printable(f"{member} | {line}") + "\n")
                self.stream.flush()
                return
            self.running[member] = line
            self._draw()

    def built(self, member: str) -> None:
        with self.lock:
            self.done += 1
            self.running.pop(member, None)
            if self.live:
                self._draw()

    def close(self) -> None:
        with self.lock:
            self._erase()
            self.stream.flush()

    def header(self) -> str:
        text = f"Building {self.done}/{self.total} images"
        if self.done:
            each = (self.clock() - self.started) / self.done
            text += f", about {each * (self.total - self.done):.0f} s left"
        return text

    def _draw(self) -> None:
        rows = [f"  {m}: {step}" for m, step in sorted(self.running.items())]
        self.drawn = draw_rows(self.stream, self.drawn, [self.header(), *rows])

    def _erase(self) -> None:
        self.drawn = erase_rows(self.stream, self.drawn)


def draw_rows(stream: TextIO, drawn: int, rows: list[str]) -> int:
    """Draw rows (made printable, cut to the terminal's width) over the drawn rows drawn
    before; how many rows are on screen now."""
    width = max(20, shutil.get_terminal_size().columns - 1)
    erase_rows(stream, drawn)
    stream.write("\n".join(printable(row)[:width] for row in rows) + "\n")
    stream.flush()
    return len(rows)


def erase_rows(stream: TextIO, drawn: int) -> int:
    """Erase the drawn rows last drawn; 0, the rows now on screen."""
    if drawn:
        # to the start of the first line drawn, then clear everything below it
        stream.write(f"\x1b[{drawn}F\x1b[J")
    return 0

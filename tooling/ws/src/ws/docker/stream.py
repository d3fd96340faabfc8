"""Reading the engine's JSON event streams: a classic-builder build, an image push."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ws.display import printable
from ws.errors import BuildFailed, RegistryError

Progress = Callable[[str, str], None]
# The lines of a failing step kept in its error: enough for a traceback or a resolver error.
TAIL_LINES = 30

_STEP = re.compile(r"^Step (\d+)/(\d+) : (.*)$")
_LAYER = re.compile(r"^ ---> ([0-9a-f]{12,64})$")
_BUILT = re.compile(r"^Successfully built ([0-9a-f]{12,64})$")
# Bookkeeping lines of the classic builder, not the output of a step.
# The classic builder wraps a RUN step's stderr in colour codes; logs and errors want text.
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_NOISE = re.compile(r"^( ---> Running in [0-9a-f]+|Removing intermediate container [0-9a-f]+)$")


@dataclass
class Step:
    """One Dockerfile instruction as the engine ran it."""

    number: int
    total: int
    instruction: str
    cached: bool = False
    image_id: str | None = None  # the short id the engine printed after the step
    output: list[str] = field(default_factory=list)
    stage: str | None = None  # BuildKit numbers the steps of each stage on their own
    seconds: float | None = None  # how long it ran, when the engine says (BuildKit does)

    @property
    def label(self) -> str:
        where = f" of stage {self.stage}" if self.stage else ""
        return f"step {self.number}/{self.total}{where} ({self.instruction})"


class StepFailed(BuildFailed):
    """A build stopped: which member, at which step, with the step's last output lines."""

    def __init__(
        self, member: str, step: Step | None, error: str, steps: list[Step] | None = None
    ) -> None:
        self.member = member
        self.step = step
        self.steps = list(steps or [])  # every step the engine ran, the failing one last
        self.error = error.strip()
        self.output = list(step.output[-TAIL_LINES:]) if step else []
        where = f" at {step.label}" if step else ""
        lines = [f"{member}: the image build failed{where}:"]
        lines += [f"  | {line}" for line in self.output]
        lines.append(f"  {self.error}")
        super().__init__(
            "\n".join(lines), fix="correct what the output above reports, then build again"
        )


class BuildLog:
    """Folds a build's events into steps, passing each output line to progress."""

    def __init__(self, member: str, progress: Progress) -> None:
        self.member = member
        self.progress = progress
        self.steps: list[Step] = []
        self.image_id: str | None = None
        self._partial = ""

    def feed(self, event: Mapping[str, Any]) -> None:
        if is_error(event):
            self._flush()
            raise StepFailed(self.member, self._failed_step(), error_text(event), self.steps)
        if isinstance(event.get("stream"), str):
            self._text(event["stream"])
        else:
            relay_status(event, self.member, self.progress)
        aux = event.get("aux")
        if isinstance(aux, dict) and isinstance(aux.get("ID"), str):
            self.image_id = aux["ID"]

    def finish(self) -> str:
        """The built image's id; a stream that ends without one is a failed build."""
        self._flush()
        if self.image_id is None:
            error = "the engine ended the build without an image"
            raise StepFailed(self.member, self._failed_step(), error, self.steps)
        return self.image_id

    def consume(self, events: Iterable[Mapping[str, Any]]) -> str:
        for event in events:
            self.feed(event)
        return self.finish()

    @property
    def current(self) -> Step | None:
        return self.steps[-1] if self.steps else None

    def _failed_step(self) -> Step | None:
        """The step a failure belongs to: the classic builder runs one step at a time."""
        return self.current

    def _text(self, text: str) -> None:
        # A chunk may end mid-line, or hold several lines; only whole lines are read.
        *lines, self._partial = (self._partial + text).split("\n")
        for line in lines:
            self._line(terminal_line(line))

    def _flush(self) -> None:
        if self._partial:
            line, self._partial = self._partial, ""
            self._line(terminal_line(line))

    def _line(self, line: str) -> None:
        self.progress(self.member, line)
        step = _STEP.match(line)
        if step:
            self.steps.append(Step(int(step[1]), int(step[2]), step[3]))
            return
        built = _BUILT.match(line)
        if built and self.image_id is None:
            self.image_id = built[1]
        current = self.current
        if current is None or _NOISE.match(line) or built:
            return
        if line == " ---> Using cache":
            current.cached = True
        elif layer := _LAYER.match(line):
            current.image_id = layer[1]
        elif line.strip():
            current.output.append(line)


def terminal_line(raw: str) -> str:
    """A line of build output as ws shows it: colour codes dropped, tabs expanded, and every
    other control character (a cursor move, a title change, a bell) escaped."""
    return printable(_ANSI.sub("", raw).rstrip("\r").expandtabs())


def is_error(event: Mapping[str, Any]) -> bool:
    return "errorDetail" in event or "error" in event


def relay_status(event: Mapping[str, Any], member: str, progress: Progress) -> None:
    """Pass a pull or push status to progress as a line, if it is worth one."""
    if isinstance(event.get("status"), str):
        line = _status_line(event)
        if line:
            progress(member, line)


def error_text(event: Mapping[str, Any]) -> str:
    detail = event.get("errorDetail")
    if isinstance(detail, dict) and detail.get("message"):
        text = str(detail["message"])
    else:
        text = str(event.get("error") or "the engine reported an error without a message")
    return "\n".join(printable(line) for line in text.splitlines())


def _status_line(event: Mapping[str, Any]) -> str | None:
    """A pull or push status worth a line: not the byte-count progress updates."""
    if event.get("progressDetail") and event.get("progress"):
        return None
    status = str(event["status"])
    return printable(f"{event['id']}: {status}" if event.get("id") else status)


@dataclass
class PushLog:
    """Folds a push's events; the registry's digest comes in the final aux event."""

    ref: str
    member: str
    progress: Progress
    digest: str | None = None

    def consume(self, events: Iterable[Mapping[str, Any]]) -> str:
        for event in events:
            if is_error(event):
                raise RegistryError(
                    f"{self.member}: pushing {self.ref} failed: {error_text(event)}",
                    fix="check the registry is running and accepts pushes, then push again",
                )
            relay_status(event, self.member, self.progress)
            aux = event.get("aux")
            if isinstance(aux, dict) and isinstance(aux.get("Digest"), str):
                self.digest = aux["Digest"]
        if self.digest is None:
            raise RegistryError(
                f"{self.member}: pushing {self.ref} ended without a digest from the registry",
                fix="check the registry is healthy, then push again",
            )
        return self.digest

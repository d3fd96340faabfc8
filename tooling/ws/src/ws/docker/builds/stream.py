"""What the engine's JSON event streams say: a build's steps and failure, a push's digest."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ws.errors import BuildFailed, RegistryError
from ws.printable import printable

Progress = Callable[[str, str], None]
# The lines of a failing step kept in its error: enough for a traceback or a resolver error.
TAIL_LINES = 30

# A RUN step's output may hold colour codes; logs and errors want text.
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")

# The engine's build cache naming a layer its storage no longer holds: after an engine was
# killed rather than stopped, its records can outlive files they point at (moby/buildkit
# #5469, #6977). The step is not at fault, and only emptying the cache mends it.
_LOST_LAYER = re.compile(
    r"failed to prepare \S+(?: as \S+)?: (?:open|stat|lstat) \S+: no such file or directory"
    r"|snapshot \S+ does not exist"
)
STEP_FIX = "correct what the output above reports, then build again"
LOST_LAYER_FIX = (
    "the engine's build cache points at layers its storage lost (an engine killed rather "
    "than stopped leaves such records): empty it with `docker builder prune --all --force`, "
    "then build again"
)


@dataclass
class Step:
    """One Dockerfile instruction as the engine ran it."""

    number: int
    total: int
    instruction: str
    cached: bool = False
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
        fix = LOST_LAYER_FIX if _LOST_LAYER.search(self.error) else STEP_FIX
        super().__init__("\n".join(lines), fix=fix)


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

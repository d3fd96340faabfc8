"""Reading a BuildKit build's events.

The engine runs BuildKit itself when a build asks for `version=2`, and wraps BuildKit's
progress in `moby.buildkit.trace` events: each `aux` a base64 protobuf `StatusResponse` of
BuildKit's control API (vertexes = the build's steps, logs = their output). Only the few
fields read here are decoded, by hand, rather than pulling in a protobuf runtime.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from ws.docker.builds.stream import (
    Progress,
    Step,
    StepFailed,
    error_text,
    is_error,
    relay_status,
    terminal_line,
)
from ws.printable import printable

TRACE_ID = "moby.buildkit.trace"
# "[builder 3/4] RUN uv sync ...": a Dockerfile instruction, as opposed to BuildKit's own
# vertexes ("[internal] load build context", "exporting to image").
_INSTRUCTION = re.compile(r"^\[(?P<stage>[^\]]+?) (?P<n>\d+)/(?P<total>\d+)\] (?P<text>.*)$", re.S)


@dataclass
class Vertex:
    digest: str
    name: str = ""
    cached: bool = False
    started: float | None = None
    completed: float | None = None
    error: str = ""


@dataclass(frozen=True)
class VertexLog:
    vertex: str
    data: bytes


# ---------------------------------------------------------------- protobuf, the part used


def _varint(data: bytes, i: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[i]
        i += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, i


def _fields(data: bytes) -> Iterator[tuple[int, int | bytes]]:
    """(field number, value) pairs of one message: ints for varints, bytes otherwise."""
    i = 0
    while i < len(data):
        key, i = _varint(data, i)
        kind = key & 7
        value: int | bytes
        if kind == 0:
            value, i = _varint(data, i)
        elif kind == 2:
            size, i = _varint(data, i)
            value, i = data[i : i + size], i + size
        elif kind in (1, 5):
            size = 8 if kind == 1 else 4
            value, i = data[i : i + size], i + size
        else:
            raise ValueError(f"unsupported protobuf wire type {kind}")
        if i > len(data):
            raise ValueError("truncated protobuf message")
        yield key >> 3, value


def _timestamp(data: bytes) -> float:
    parts = {n: v for n, v in _fields(data) if isinstance(v, int)}
    return parts.get(1, 0) + parts.get(2, 0) / 1e9


def _text(value: int | bytes) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else ""


def _vertex(data: bytes) -> Vertex:
    vertex = Vertex("")
    for number, value in _fields(data):
        if number == 1:
            vertex.digest = _text(value)
        elif number == 3:
            vertex.name = _text(value)
        elif number == 4:
            vertex.cached = bool(value)
        elif number == 5 and isinstance(value, bytes):
            vertex.started = _timestamp(value)
        elif number == 6 and isinstance(value, bytes):
            vertex.completed = _timestamp(value)
        elif number == 7:
            vertex.error = _text(value)
    return vertex


def _log(data: bytes) -> VertexLog:
    found = dict(_fields(data))
    message = found.get(4, b"")
    return VertexLog(_text(found.get(1, b"")), message if isinstance(message, bytes) else b"")


def decode_status(aux: str) -> tuple[list[Vertex], list[VertexLog]]:
    """The vertexes and log chunks of one trace event; ValueError when it is not one."""
    try:
        data = base64.b64decode(aux, validate=True)
        vertexes: list[Vertex] = []
        logs: list[VertexLog] = []
        for number, value in _fields(data):
            if number == 1 and isinstance(value, bytes):
                vertexes.append(_vertex(value))
            elif number == 3 and isinstance(value, bytes):
                logs.append(_log(value))
    except (ValueError, IndexError) as e:  # binascii.Error is a ValueError
        raise ValueError(f"not a BuildKit status message: {e}") from e
    return vertexes, logs


# ---------------------------------------------------------------- folding a build's events


class BuildKitLog:
    """Folds a BuildKit build's events into steps (one per Dockerfile instruction), passing
    each step's start and output lines to progress; the image id and the final error come
    in events of their own."""

    def __init__(self, member: str, progress: Progress) -> None:
        self.member = member
        self.progress = progress
        self.steps: list[Step] = []
        self.image_id: str | None = None
        self._vertexes: dict[str, Vertex] = {}
        self._by_vertex: dict[str, Step] = {}
        # Bytes, not text: a chunk may end inside a line, or inside a UTF-8 character.
        self._partials: dict[str, bytes] = {}
        self._announced: set[str] = set()

    def consume(self, events: Iterable[Mapping[str, Any]]) -> str:
        for event in events:
            self.feed(event)
        return self.finish()

    def feed(self, event: Mapping[str, Any]) -> None:
        if event.get("id") != TRACE_ID:
            self._other(event)
            return
        aux = event.get("aux")
        try:
            vertexes, logs = decode_status(aux if isinstance(aux, str) else "")
        except ValueError:
            return  # progress we cannot read; the build's outcome comes in other events
        for vertex in vertexes:
            self._update(vertex)
        for log in logs:
            self._output(log)

    def finish(self) -> str:
        """The built image's id; a stream that ends without one is a failed build."""
        self._flush()
        if self.image_id is None:
            error = "the engine ended the build without an image"
            raise StepFailed(self.member, self._failed_step(), error, self.steps)
        return self.image_id

    def _other(self, event: Mapping[str, Any]) -> None:
        """An event that is not progress: the failure, the image id, a status line."""
        if is_error(event):
            self._flush()
            raise StepFailed(self.member, self._failed_step(), error_text(event), self.steps)
        relay_status(event, self.member, self.progress)
        aux = event.get("aux")
        if isinstance(aux, dict) and isinstance(aux.get("ID"), str):
            self.image_id = aux["ID"]

    def _update(self, update: Vertex) -> None:
        vertex = self._vertexes.get(update.digest)
        if vertex is None:
            vertex = self._vertexes[update.digest] = Vertex(update.digest, update.name)
        vertex.cached = vertex.cached or update.cached
        vertex.started = vertex.started if vertex.started is not None else update.started
        vertex.completed = update.completed if update.completed is not None else vertex.completed
        vertex.error = update.error or vertex.error
        step = self._step(vertex)
        if step is not None:
            step.cached = vertex.cached
            if vertex.started is not None and vertex.completed is not None:
                step.seconds = max(0.0, vertex.completed - vertex.started)
        if (vertex.started is not None or vertex.cached) and vertex.digest not in self._announced:
            self._announced.add(vertex.digest)
            name = printable(vertex.name)
            self.progress(self.member, name + (" (cached)" if vertex.cached else ""))

    def _step(self, vertex: Vertex) -> Step | None:
        step = self._by_vertex.get(vertex.digest)
        if step is None:
            match = _INSTRUCTION.match(vertex.name)
            if match is None:
                return None
            step = Step(int(match["n"]), int(match["total"]), match["text"], stage=match["stage"])
            self._by_vertex[vertex.digest] = step
            self.steps.append(step)
        return step

    def _output(self, log: VertexLog) -> None:
        data = self._partials.pop(log.vertex, b"") + log.data
        *lines, rest = data.split(b"\n")
        if rest:
            self._partials[log.vertex] = rest
        for line in lines:
            self._vertex_line(log.vertex, line)

    def _flush(self) -> None:
        for digest, rest in list(self._partials.items()):
            del self._partials[digest]
            self._vertex_line(digest, rest)

    def _vertex_line(self, digest: str, data: bytes) -> None:
        line = terminal_line(data.decode("utf-8", "replace"))
        self.progress(self.member, line)
        step = self._by_vertex.get(digest)
        if step is not None and line.strip():
            step.output.append(line)

    def _failed_step(self) -> Step | None:
        """The step BuildKit marked as failed, else the last one that started and never ended."""
        for digest, vertex in self._vertexes.items():
            if vertex.error and digest in self._by_vertex:
                return self._by_vertex[digest]
        unfinished = [
            step
            for digest, step in self._by_vertex.items()
            if self._vertexes[digest].completed is None and not step.cached
        ]
        return unfinished[-1] if unfinished else None

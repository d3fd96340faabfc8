"""Decoding BuildKit's progress (protobuf StatusResponse messages in moby.buildkit.trace events)
and folding it into steps: messages are encoded here by hand, as BuildKit's control API lays
them out, so that each field read is checked on its own."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from ws.docker.builds.buildkit import TRACE_ID, BuildKitLog, decode_status
from ws.docker.builds.stream import StepFailed


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _field(number: int, value: int | bytes | str) -> bytes:
    if isinstance(value, int):
        return _varint(number << 3) + _varint(value)
    data = value.encode() if isinstance(value, str) else value
    return _varint(number << 3 | 2) + _varint(len(data)) + data


def _timestamp(seconds: float) -> bytes:
    return _field(1, int(seconds)) + _field(2, round((seconds % 1) * 1e9))


def vertex(digest: str, name: str, **kw: Any) -> bytes:
    data = _field(1, digest) + _field(2, "sha256:input") + _field(3, name)
    if kw.get("cached"):
        data += _field(4, 1)
    if "started" in kw:
        data += _field(5, _timestamp(kw["started"]))
    if "completed" in kw:
        data += _field(6, _timestamp(kw["completed"]))
    if "error" in kw:
        data += _field(7, kw["error"])
    return data


def log(digest: str, text: str | bytes) -> bytes:
    return _field(1, digest) + _field(2, _timestamp(1.0)) + _field(3, 1) + _field(4, text)


def trace(*, vertexes: tuple[bytes, ...] = (), logs: tuple[bytes, ...] = ()) -> dict[str, str]:
    status = b"".join(_field(1, v) for v in vertexes) + b"".join(_field(3, entry) for entry in logs)
    status += _field(2, _field(1, "status-id"))  # a VertexStatus (pull progress): not read
    return {"id": TRACE_ID, "aux": base64.b64encode(status).decode()}


RUN = "[builder 2/3] RUN uv sync --frozen"


def test_decode_status_reads_vertexes_and_logs() -> None:
    event = trace(
        vertexes=(vertex("sha256:a", RUN, cached=True, started=10.25, completed=12.5),),
        logs=(log("sha256:a", "hello\n"),),
    )

    (found,), (entry,) = decode_status(event["aux"])

    assert (found.digest, found.name, found.cached) == ("sha256:a", RUN, True)
    assert found.started == pytest.approx(10.25) and found.completed == pytest.approx(12.5)
    assert (entry.vertex, entry.data) == ("sha256:a", b"hello\n")


@pytest.mark.parametrize("aux", ["not base64!", base64.b64encode(b"\x0a\x05ab").decode()])
def test_decode_status_refuses_what_is_not_a_status(aux: str) -> None:
    with pytest.raises(ValueError, match="BuildKit status"):
        decode_status(aux)


def fold(*events: dict[str, Any]) -> tuple[BuildKitLog, list[str]]:
    lines: list[str] = []
    folded = BuildKitLog("svc", lambda _m, line: lines.append(line))
    for event in events:
        folded.feed(event)
    return folded, lines


def test_instructions_become_steps_with_their_output_and_time() -> None:
    folded, lines = fold(
        trace(vertexes=(vertex("sha256:ctx", "[internal] load remote build context"),)),
        trace(vertexes=(vertex("sha256:a", RUN, started=1.0),)),
        trace(logs=(log("sha256:a", "Buil"), log("sha256:a", b"t svc \xe2"))),
        trace(logs=(log("sha256:a", b"\x9c\x93\nInstal"),)),
        trace(vertexes=(vertex("sha256:a", RUN, started=1.0, completed=3.5),)),
        trace(vertexes=(vertex("sha256:b", "[deps 4/4] COPY a /a", cached=True),)),
        trace(logs=(log("sha256:a", "led 1 package"),)),
        {"id": "moby.image.id", "aux": {"ID": "sha256:f00"}},
    )

    assert folded.finish() == "sha256:f00"
    (run, copy) = folded.steps
    assert (run.stage, run.number, run.total, run.instruction) == ("builder", 2, 3, RUN[14:])
    assert run.output == ["Built svc \u2713", "Installed 1 package"], "a character split in two"
    assert run.seconds == pytest.approx(2.5) and not run.cached
    assert copy.cached and copy.stage == "deps"
    assert lines == [RUN, run.output[0], "[deps 4/4] COPY a /a (cached)", run.output[1]]


def test_the_error_names_the_failing_step_with_its_last_lines() -> None:
    failing = vertex("sha256:a", RUN, started=1.0, completed=2.0, error="exit code: 3")
    with pytest.raises(StepFailed) as caught:
        fold(
            trace(vertexes=(vertex("sha256:a", RUN, started=1.0),)),
            trace(vertexes=(vertex("sha256:b", "[runtime 2/2] COPY x /x"),)),
            trace(logs=(log("sha256:a", "error: no module named svc"),)),
            trace(vertexes=(failing,)),
            {"errorDetail": {"message": "executor failed: exit code: 3"}},
        )

    assert caught.value.step is not None and caught.value.step.instruction == RUN[14:]
    assert caught.value.output == ["error: no module named svc"]
    assert "at step 2/3 of stage builder" in str(caught.value)


def test_unreadable_progress_is_skipped_and_a_missing_image_fails() -> None:
    folded, lines = fold({"id": TRACE_ID, "aux": "%%%"}, {"id": TRACE_ID, "aux": 7})

    assert lines == [] and folded.steps == []
    with pytest.raises(StepFailed, match="without an image"):
        folded.finish()

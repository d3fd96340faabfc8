"""Build output as ws shows it: what a build step prints cannot drive the terminal."""

from __future__ import annotations

import pytest
from ws.docker.stream import BuildLog, StepFailed, error_text, terminal_line


def test_colour_codes_are_dropped_and_other_controls_escaped() -> None:
    assert terminal_line("\x1b[31mred\x1b[0m\r") == "red"
    assert terminal_line("a\tb") == "a       b"
    assert terminal_line("\x1b]0;owned\x07title") == "\\x1b]0;owned\\x07title"
    assert terminal_line("\x1b[2J\x1bc") == "\\x1bc"  # CSI dropped, a reset escaped


def test_a_step_printing_escape_sequences_reaches_progress_and_errors_escaped() -> None:
    seen: list[str] = []
    log = BuildLog("svc", lambda member, line: seen.append(line))
    events = [
        {"stream": "Step 1/1 : RUN evil\n"},
        {"stream": "\x1b]2;pwned\x07 \x1b[1A\n"},
        {"errorDetail": {"message": "boom\x1b]0;x\x07\nsecond line"}, "error": "boom"},
    ]
    with pytest.raises(StepFailed) as caught:
        log.consume(events)
    assert "\x1b" not in "".join(seen) and "\x07" not in "".join(seen)
    assert "\\x1b]2;pwned\\x07 " in seen
    message = str(caught.value)
    assert "\x1b" not in message and "\x07" not in message
    assert "boom\\x1b]0;x\\x07\nsecond line" in message


def test_error_text_keeps_its_lines() -> None:
    assert error_text({"error": "one\ntwo\x1b"}) == "one\ntwo\\x1b"

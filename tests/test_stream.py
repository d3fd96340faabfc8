"""Build output as ws shows it: what a build step prints cannot drive the terminal."""

from __future__ import annotations

import pytest
from ws.docker.builds.buildkit import BuildKitLog
from ws.docker.builds.stream import StepFailed, error_text, terminal_line


def test_colour_codes_are_dropped_and_other_controls_escaped() -> None:
    assert terminal_line("\x1b[31mred\x1b[0m\r") == "red"
    assert terminal_line("a\tb") == "a       b"
    assert terminal_line("\x1b]0;owned\x07title") == "\\x1b]0;owned\\x07title"
    assert terminal_line("\x1b[2J\x1bc") == "\\x1bc"  # CSI dropped, a reset escaped


def test_an_engine_error_with_escape_sequences_reaches_the_error_escaped() -> None:
    log = BuildKitLog("svc", lambda member, line: None)
    event = {"errorDetail": {"message": "boom\x1b]0;x\x07\nsecond line"}, "error": "boom"}

    with pytest.raises(StepFailed) as caught:
        log.consume([event])

    message = str(caught.value)
    assert "\x1b" not in message and "\x07" not in message
    assert "boom\\x1b]0;x\\x07\nsecond line" in message
    assert caught.value.fix == "correct what the output above reports, then build again"


def test_error_text_keeps_its_lines() -> None:
    assert error_text({"error": "one\ntwo\x1b"}) == "one\ntwo\\x1b"

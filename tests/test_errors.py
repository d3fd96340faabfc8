"""The error model: a fix is a field of the error, never text in its message."""

from __future__ import annotations

import ast
from pathlib import Path

from ws.errors import StaleFiles, WsError

SOURCE = Path(__file__).parents[1] / "tooling/ws/src/ws"


def _fix_texts(path: Path) -> list[str]:
    """Where path writes `fix:` into a string."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and "fix: " in node.value:
            found.append(f"{path.relative_to(SOURCE)}:{node.lineno}")
    return found


def test_no_message_carries_its_fix_as_text() -> None:
    paths = [p for p in sorted(SOURCE.rglob("*.py")) if p.name != "errors.py"]  # WsError.__str__
    assert [hit for path in paths for hit in _fix_texts(path)] == []


def test_the_fix_is_a_field_and_str_shows_it() -> None:
    error = WsError("it broke", fix="mend it")
    assert error.message == "it broke" and error.fix == "mend it"
    assert str(error) == "it broke\n  fix: mend it"


def test_a_check_problem_stays_one_line() -> None:
    error = StaleFiles(["a\nerror: forged", "b\x1b]0;t\x07"], "run it")
    assert error.message.splitlines() == [
        "2 problem(s):",
        "  a\\nerror: forged",
        "  b\\x1b]0;t\\x07",
    ]

"""Text from outside ws (a registry's answers, file and folder names, versions, an engine's
build output) made safe to print: control characters, line breaks and bidirectional overrides
shown escaped. Every line ws prints passes through here (ws.cli.common.emit, the progress
lines), and so does outside text the core puts into an error message: a module of its own,
below the command line, so that the core need not import the CLI."""

from __future__ import annotations


def printable(text: str) -> str:
    """text with every character str.isprintable() refuses written as its Python escape.

    A newline cannot forge an `error:` line, an escape sequence cannot reach the terminal,
    and a right-to-left override cannot reorder what is shown; ordinary text, spaces and
    non-ASCII letters are kept as they are.
    """
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else _escape(ch) for ch in text)


def printable_lines(text: str) -> str:
    """Several lines, each made printable: the newlines ws put there are kept, every other
    control character (a carriage return, an escape sequence, U+2028) is shown escaped."""
    return "\n".join(printable(line) for line in text.split("\n"))


def _escape(ch: str) -> str:
    return ch.encode("unicode_escape", "backslashreplace").decode("ascii")

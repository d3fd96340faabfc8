"""The command reference in README.md and docs/docker.md says what `--help` says: every
heading names the command's options, and no option it lacks."""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest
import typer.main
from ws.cli.app import app

ROOT = Path(__file__).parents[1]
HEADING = re.compile(r"^#{2,3} `ws ([^`]+)`$", re.M)


def headings() -> list[tuple[str, str]]:
    found = []
    for doc in ("README.md", "docs/docker.md"):
        found += [(doc, m[1]) for m in HEADING.finditer((ROOT / doc).read_text())]
    return [(doc, text) for doc, text in found if not text.endswith("...")]


def command(words: list[str]) -> click.Command:
    cmd: click.Command = typer.main.get_command(app)
    for word in words:
        assert isinstance(cmd, click.Group), words
        cmd = cmd.commands[word]
    return cmd


def options(cmd: click.Command) -> set[str]:
    return {
        max(p.opts, key=len)
        for p in cmd.params
        if isinstance(p, click.Option) and not p.hidden and "--help" not in p.opts
    }


@pytest.mark.parametrize(("doc", "text"), headings(), ids=lambda v: v[:40])
def test_a_heading_names_exactly_the_commands_options(doc: str, text: str) -> None:
    words = re.match(r"[a-z][a-z-]*(?: [a-z][a-z-]*)*", text)
    assert words, text
    named = set(re.findall(r"--[a-z][a-z-]*", text))
    assert named == options(command(words[0].split())), f"{doc}: ws {text}"


def test_every_command_has_a_heading() -> None:
    documented = {re.match(r"[a-z][a-z-]*(?: [a-z][a-z-]*)*", t)[0] for _, t in headings()}  # type: ignore[index]
    top = typer.main.get_command(app)
    assert isinstance(top, click.Group)
    every = {n for n, c in top.commands.items() if not isinstance(c, click.Group)}
    every |= {f"docker {n}" for n in command(["docker"]).commands}  # type: ignore[attr-defined]
    every |= {"check", *(f"check {n}" for n in command(["check"]).commands)}  # type: ignore[attr-defined]
    assert every <= documented, every - documented

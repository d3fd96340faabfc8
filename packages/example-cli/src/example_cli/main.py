"""The ``example-cli`` command: count lines, words and bytes, or ROT13 some text."""

from __future__ import annotations

import codecs
from typing import BinaryIO

import click


def counts(data: bytes) -> tuple[int, int, int]:
    """Return (lines, words, bytes) of ``data``, the way ``wc`` counts them."""
    return data.count(b"\n"), len(data.split()), len(data)


@click.group()
@click.version_option(package_name="example-cli")
def cli() -> None:
    """Small text utilities."""


@cli.command()
@click.argument("files", nargs=-1, required=True, type=click.File("rb"))
def count(files: tuple[BinaryIO, ...]) -> None:
    """Print lines, words and bytes of each FILE ('-' reads standard input)."""
    total = [0, 0, 0]
    for handle in files:
        found = counts(handle.read())
        total = [a + b for a, b in zip(total, found, strict=True)]
        click.echo(f"{found[0]:>7} {found[1]:>7} {found[2]:>7} {handle.name}")
    if len(files) > 1:
        click.echo(f"{total[0]:>7} {total[1]:>7} {total[2]:>7} total")


@cli.command()
@click.argument("text")
def rot13(text: str) -> None:
    """Print TEXT with every letter rotated 13 places."""
    click.echo(codecs.encode(text, "rot13"))

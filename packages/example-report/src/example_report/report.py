"""Summarise a text: its statistics, most common words and reading time."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from example_core import TextStats, slugify, text_stats, word_frequencies
from tabulate import tabulate

WORDS_PER_MINUTE = 200


@dataclass(frozen=True)
class Report:
    """What build_report found out about one text."""

    title: str
    slug: str
    stats: TextStats
    top_words: tuple[tuple[str, int], ...]
    reading_seconds: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "slug": self.slug,
            "stats": self.stats.as_dict(),
            "top_words": [[word, count] for word, count in self.top_words],
            "reading_seconds": self.reading_seconds,
        }


def build_report(text: str, title: str = "", top: int = 3) -> Report:
    """Report on ``text``; the slug comes from ``title``, or the first words if none."""
    if top < 0:
        raise ValueError(f"top must be zero or more, got {top}")
    stats = text_stats(text)
    # Ties are broken alphabetically so the report is stable whatever the word order.
    ranked = sorted(word_frequencies(text).items(), key=lambda item: (-item[1], item[0]))
    heading = title or " ".join(text.split()[:5])
    return Report(
        title=heading,
        slug=slugify(heading),
        stats=stats,
        top_words=tuple(ranked[:top]),
        reading_seconds=math.ceil(stats.words * 60 / WORDS_PER_MINUTE),
    )


def render_table(report: Report) -> str:
    """Render ``report`` as a plain-text two-column table."""
    rows: list[tuple[str, object]] = [("title", report.title), ("slug", report.slug)]
    rows += list(report.stats.as_dict().items())
    rows += [(f"word: {word}", count) for word, count in report.top_words]
    rows.append(("reading seconds", report.reading_seconds))
    return tabulate(rows, headers=["field", "value"], tablefmt="simple")

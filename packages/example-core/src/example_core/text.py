"""Split text into words, count them and turn titles into URL slugs."""

from __future__ import annotations

import re
import unicodedata
from collections import Counter

import attrs

_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")
_SENTENCE_END = re.compile(r"[.!?]+(?:\s|$)")
_NOT_SLUG = re.compile(r"[^a-z0-9]+")


@attrs.frozen
class TextStats:
    """Counts describing one piece of text."""

    characters: int
    words: int
    unique_words: int
    sentences: int

    def as_dict(self) -> dict[str, int]:
        return attrs.asdict(self)


def words(text: str) -> list[str]:
    """Return the words of ``text`` in lower case, in order."""
    return [match.group(0).lower() for match in _WORD.finditer(text)]


def word_frequencies(text: str) -> Counter[str]:
    """Return how often each (lower-cased) word occurs in ``text``."""
    return Counter(words(text))


def text_stats(text: str) -> TextStats:
    """Count characters, words, distinct words and sentences of ``text``."""
    found = words(text)
    stripped = text.strip()
    sentences = len(_SENTENCE_END.findall(stripped))
    # A trailing fragment without a full stop still counts as a sentence.
    if found and not stripped.endswith((".", "!", "?")):
        sentences += 1
    return TextStats(
        characters=len(text),
        words=len(found),
        unique_words=len(set(found)),
        sentences=sentences,
    )


def slugify(text: str, separator: str = "-") -> str:
    """Turn ``text`` into a lower-case ASCII slug such as ``hello-world``."""
    # Decompose accents first so "Café" becomes "cafe" rather than "caf".
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return _NOT_SLUG.sub(separator, ascii_text.lower()).strip(separator)

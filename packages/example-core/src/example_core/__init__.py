"""Text statistics and slug helpers shared by the example packages."""

from example_core.text import TextStats, slugify, text_stats, word_frequencies, words

__all__ = ["TextStats", "slugify", "text_stats", "word_frequencies", "words"]

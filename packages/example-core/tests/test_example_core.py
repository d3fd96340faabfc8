from example_core import TextStats, slugify, text_stats, word_frequencies, words


def test_words_are_lower_case_and_keep_apostrophes() -> None:
    assert words("Don't panic, Arthur_Dent!") == ["don't", "panic", "arthur", "dent"]


def test_slugify_strips_accents_and_punctuation() -> None:
    assert slugify("  Café au Lait: 2 cups!  ") == "cafe-au-lait-2-cups"
    assert slugify("Hello World", separator="_") == "hello_world"
    assert slugify("!!!") == ""


def test_text_stats_counts_sentences_words_and_unique_words() -> None:
    stats = text_stats("The cat sat. The cat ran! Did it stop")
    assert stats == TextStats(characters=37, words=9, unique_words=7, sentences=3)
    assert stats.as_dict()["unique_words"] == 7


def test_empty_text_has_no_sentences() -> None:
    assert text_stats("").as_dict() == {
        "characters": 0,
        "words": 0,
        "unique_words": 0,
        "sentences": 0,
    }


def test_word_frequencies() -> None:
    assert word_frequencies("a b A c a").most_common(1) == [("a", 3)]

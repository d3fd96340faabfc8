import pytest
from example_core import slugify
from example_report import build_report, render_table

TEXT = "Red fish. Blue fish! Red fish, blue fish, old fish and new fish."


def test_build_report_ranks_words_and_counts_reading_time() -> None:
    report = build_report(TEXT, title="One Fish, Two Fish", top=2)
    assert report.slug == slugify("One Fish, Two Fish") == "one-fish-two-fish"
    assert report.top_words == (("fish", 6), ("blue", 2))
    assert report.stats.sentences == 3
    assert report.reading_seconds == 4  # 13 words at 200 a minute, rounded up
    assert report.as_dict()["top_words"] == [["fish", 6], ["blue", 2]]


def test_title_defaults_to_the_first_words() -> None:
    report = build_report(TEXT)
    assert report.title == "Red fish. Blue fish! Red"
    assert report.slug == "red-fish-blue-fish-red"


def test_negative_top_is_rejected() -> None:
    with pytest.raises(ValueError, match="top must be zero or more"):
        build_report(TEXT, top=-1)


def test_render_table_lists_every_field() -> None:
    table = render_table(build_report(TEXT, title="Fish", top=1))
    lines = table.splitlines()
    assert lines[0].split() == ["field", "value"]
    assert any(line.split() == ["word:", "fish", "6"] for line in lines)
    assert any(line.split() == ["unique_words", "6"] for line in lines)

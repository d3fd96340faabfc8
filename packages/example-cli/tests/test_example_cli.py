from pathlib import Path

from click.testing import CliRunner
from example_cli.main import cli, counts


def test_counts_like_wc() -> None:
    assert counts(b"one two\nthree\n") == (2, 3, 14)
    assert counts(b"") == (0, 0, 0)


def test_count_command_prints_per_file_and_total(tmp_path: Path) -> None:
    first = tmp_path / "a.txt"
    first.write_text("hello world\n")
    second = tmp_path / "b.txt"
    second.write_text("x\ny\nz\n")
    result = CliRunner().invoke(cli, ["count", str(first), str(second)])
    assert result.exit_code == 0, result.output
    lines = [line.split() for line in result.output.splitlines()]
    assert lines == [
        ["1", "2", "12", str(first)],
        ["3", "3", "6", str(second)],
        ["4", "5", "18", "total"],
    ]


def test_rot13_round_trips() -> None:
    runner = CliRunner()
    once = runner.invoke(cli, ["rot13", "Hello, World!"])
    assert once.output == "Uryyb, Jbeyq!\n"
    assert runner.invoke(cli, ["rot13", once.output.strip()]).output == "Hello, World!\n"


def test_missing_file_is_a_usage_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["count", str(tmp_path / "absent.txt")])
    assert result.exit_code == 2
    assert "No such file or directory" in result.output

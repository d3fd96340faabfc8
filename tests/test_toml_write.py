"""TOML edits change only the values asked for; comments, layout and quoting survive."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from ws.errors import ConfigError, WsError
from ws.toml_write import read_strings, read_toml, set_array_items, set_values

from tests.support.immutable import immutable

PYTHON: tuple[str, ...] = ("tool", "ws", "docker", "python-image")
UV: tuple[str, ...] = ("tool", "ws", "docker", "uv-image")

PYPROJECT = """\
# The workspace root.   Odd   spacing is kept.
[project]
name    = "root"   # aligned on purpose
dependencies = [
    "a",  # first
    "b",
]

[tool.ws.docker]
# pinned by `ws docker pin`
python-image = "localhost:5000/python:3.11-slim"     # the base
uv-image='localhost:5000/astral-sh/uv:0.13.9'
registry = "localhost:5000/ws-example"

[tool.other]
x = 1
"""

PINNED = "localhost:5000/python:3.11-slim@sha256:" + "a" * 64


@pytest.fixture
def pyproject(tmp_path: Path) -> Path:
    path = tmp_path / "pyproject.toml"
    path.write_text(PYPROJECT)
    return path


def test_only_the_value_changes_byte_for_byte(pyproject: Path) -> None:
    assert set_values(pyproject, {PYTHON: PINNED}) is True
    expected = PYPROJECT.replace('"localhost:5000/python:3.11-slim"', f'"{PINNED}"')
    assert pyproject.read_text() == expected


def test_literal_quoting_is_kept_when_possible(pyproject: Path) -> None:
    uv = "localhost:5000/astral-sh/uv:0.13.9@sha256:" + "b" * 64
    assert set_values(pyproject, {PYTHON: PINNED, UV: uv})
    text = pyproject.read_text()
    assert f"uv-image='{uv}'\n" in text
    assert tomllib.loads(text)["tool"]["ws"]["docker"] == {
        "python-image": PINNED,
        "uv-image": uv,
        "registry": "localhost:5000/ws-example",
    }
    set_values(pyproject, {UV: "it's"})  # a quote cannot be literal: falls back to basic
    assert 'uv-image="it\'s"\n' in pyproject.read_text()


def test_unchanged_values_write_nothing(pyproject: Path) -> None:
    before = pyproject.stat()
    unchanged = {PYTHON: "localhost:5000/python:3.11-slim"}
    assert set_values(pyproject, unchanged) is False
    assert set_values(pyproject, {}) is False
    after = pyproject.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert pyproject.read_text() == PYPROJECT


def test_crlf_files_stay_crlf(tmp_path: Path) -> None:
    path = tmp_path / "pyproject.toml"
    original = PYPROJECT.replace("\n", "\r\n").encode()
    path.write_bytes(original)
    assert set_values(path, {PYTHON: PINNED})
    assert path.read_bytes() == original.replace(
        b'"localhost:5000/python:3.11-slim"', f'"{PINNED}"'.encode()
    )


def test_missing_tables_and_keys_are_created(tmp_path: Path) -> None:
    path = tmp_path / "pyproject.toml"
    path.write_text('[project]\nname = "x"  # keep me\n')
    assert set_values(path, {PYTHON: PINNED})
    text = path.read_text()
    assert text.startswith('[project]\nname = "x"  # keep me\n')
    assert "[tool.ws.docker]\n" in text and "[tool]\n" not in text
    assert tomllib.loads(text)["tool"]["ws"]["docker"] == {"python-image": PINNED}


def test_a_new_key_joins_its_existing_table(pyproject: Path) -> None:
    assert set_values(pyproject, {("tool", "other", "y"): "z"})
    assert tomllib.loads(pyproject.read_text())["tool"]["other"] == {"x": 1, "y": "z"}
    assert pyproject.read_text().startswith(PYPROJECT.split("[tool.other]")[0])


def test_a_non_string_value_is_refused_and_the_file_untouched(pyproject: Path) -> None:
    with pytest.raises(ConfigError, match=r"tool\.other\.x is not a string"):
        set_values(pyproject, {("tool", "other", "x"): "2"})
    with pytest.raises(ConfigError, match=r"project\.name is not a table"):
        set_values(pyproject, {("project", "name", "first"): "a"})
    assert pyproject.read_text() == PYPROJECT


def test_invalid_toml_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "pyproject.toml"
    path.write_text('[project]\nname = "x"\nbroken =\n')
    with pytest.raises(ConfigError) as caught:
        set_values(path, {PYTHON: PINNED})
    assert caught.value.line == 3
    assert str(caught.value).startswith(f"{path}:3:")


def test_a_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        set_values(tmp_path / "pyproject.toml", {PYTHON: PINNED})


def test_a_failed_write_keeps_the_file_and_cleans_up(pyproject: Path) -> None:
    with immutable(pyproject):
        with pytest.raises(WsError, match="cannot write"):
            set_values(pyproject, {PYTHON: PINNED})
    assert pyproject.read_text() == PYPROJECT
    assert [p.name for p in pyproject.parent.iterdir()] == ["pyproject.toml"]


# ---------------------------------------------------------------- as uv reads it, never a crash

DOTTED = """\
[project]
name = "root"

[tool.ws]
docker.python-image = "localhost:5000/python:3.11-slim"
docker.uv-image = "localhost:5000/astral-sh/uv:0.13.9"

[tool.other]
x = 1

[tool.ws.docker.env]
A = "1"
"""


def test_valid_toml_tomlkit_cannot_edit_is_one_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "pyproject.toml"
    path.write_text(DOTTED)
    assert read_toml(path)["tool"]["ws"]["docker"]["env"] == {"A": "1"}  # uv reads it too
    with pytest.raises(ConfigError) as caught:
        set_values(path, {PYTHON: PINNED})
    message = str(caught.value)
    assert message.startswith(f"{path}:12:")
    assert "valid TOML, but laid out in a way ws's TOML editor (tomlkit) cannot rewrite" in message
    assert "fix: give each table its own [header]" in message
    assert path.read_text() == DOTTED


def test_a_byte_order_mark_is_read_as_uv_reads_it_and_kept(pyproject: Path) -> None:
    pyproject.write_bytes(b"\xef\xbb\xbf" + PYPROJECT.encode())
    assert read_toml(pyproject)["project"]["name"] == "root"
    assert set_values(pyproject, {PYTHON: PINNED})
    data = pyproject.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf# The") and data.count(b"\xef\xbb\xbf") == 1
    assert read_strings(pyproject, [PYTHON, UV, ("project", "nope")]) == {
        PYTHON: PINNED,
        UV: "localhost:5000/astral-sh/uv:0.13.9",
        ("project", "nope"): None,
    }


@pytest.mark.parametrize("nesting", ["[" * 3000 + "]" * 3000, "{a = " * 3000 + "1" + "}" * 3000])
def test_deep_nesting_is_one_clear_error(tmp_path: Path, nesting: str) -> None:
    path = tmp_path / "pyproject.toml"
    path.write_text(f"[project]\nname = 'x'\ndeep = {nesting}\n")
    with pytest.raises(ConfigError, match="nested too deeply|nested more than"):
        read_toml(path)
    with pytest.raises(ConfigError):
        set_values(path, {PYTHON: PINNED})


def test_invalid_toml_read_names_file_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "pyproject.toml"
    path.write_text('[project]\nname = "x"\nbroken =\n')
    with pytest.raises(ConfigError) as caught:
        read_toml(path)
    assert (caught.value.line, caught.value.column) == (3, 9)
    assert str(caught.value) == f"{path}:3:9: invalid TOML: Invalid value"


def test_a_symlinked_pyproject_is_refused_with_root(tmp_path: Path) -> None:
    outside = tmp_path / "outside.toml"
    outside.write_text(PYPROJECT)
    root = tmp_path / "root"
    root.mkdir()
    (root / "pyproject.toml").symlink_to(outside)
    with pytest.raises(WsError, match="never writes through a link"):
        set_values(root / "pyproject.toml", {PYTHON: PINNED}, root=root)
    assert outside.read_text() == PYPROJECT


def test_array_items_are_replaced_keeping_comments_and_the_rest(tmp_path: Path) -> None:
    path = tmp_path / "pyproject.toml"
    text = (
        "[project]\n"
        "dependencies = [\n"
        '    "alpha>=1",  # third party\n'
        "    'core',  # a sibling\n"
        "]\n"
        "[project.optional-dependencies]\n"
        'cli = ["core[cli]"]\n'
    )
    path.write_text(text)
    updates = {
        ("project", "dependencies"): {1: "core==1.2.0"},
        ("project", "optional-dependencies", "cli"): {0: "core[cli]==1.2.0"},
    }
    assert set_array_items(path, updates) is True
    expected = text.replace("'core'", "'core==1.2.0'").replace('"core[cli]"', '"core[cli]==1.2.0"')
    assert path.read_text() == expected
    assert set_array_items(path, updates) is False  # nothing left to change

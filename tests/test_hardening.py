"""The issue-11 attacks, through the `ws` commands: each is one clear error, and nothing is
written outside the workspace or printed raw."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner
from ws.cli.app import app

from tests.support.fake_registry import FakeRegistry, image_manifest
from tests.support.files import make_workspace

PINNED = f"""
[tool.ws.docker]
python-image = "localhost:5000/python:3.11-slim@sha256:{"a" * 64}"
uv-image = "localhost:5000/astral-sh/uv:0.13.9@sha256:{"b" * 64}"
"""
MEMBERS = {"core": {}, "api": {"dependencies": ["core"], "extra": "[tool.ws.docker]\n"}}


def ws_cli(root: Path, *args: str):
    return CliRunner().invoke(app, ["--root", str(root), *args])


def assert_one_clear_error(result, *needles: str) -> None:
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    assert result.output.count("error:") == 1, result.output
    for needle in needles:
        assert needle in result.output, result.output


@pytest.fixture
def registry() -> Iterator[FakeRegistry]:
    with FakeRegistry() as fake:
        fake.add("python", "3.11", image_manifest("python"))
        fake.add("uv", "0.9", image_manifest("uv"))
        yield fake


def unpinned(registry: FakeRegistry) -> str:
    return (
        f'\n[tool.ws.docker]\npython-image = "{registry.host}/python:3.11"\n'
        f'uv-image = "{registry.host}/uv:0.9"\n'
    )


def test_generate_refuses_a_dangling_dockerfile_link(tmp_path: Path) -> None:
    root = make_workspace(tmp_path / "ws", MEMBERS, root_extra=PINNED)
    outside = tmp_path / "outside" / "Dockerfile"
    outside.parent.mkdir()
    (root / "packages/api/Dockerfile").symlink_to(outside)
    result = ws_cli(root, "docker", "generate")
    assert_one_clear_error(result, "packages/api/Dockerfile: it is a symbolic link", "hint:")
    assert not outside.exists()


def test_pin_refuses_a_lock_file_that_is_a_link(tmp_path: Path, registry: FakeRegistry) -> None:
    root = make_workspace(tmp_path / "ws", MEMBERS, root_extra=unpinned(registry))
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    (root / ".ws").mkdir()
    (root / ".ws/lock").symlink_to(victim)
    before = (root / "pyproject.toml").read_text()
    result = ws_cli(root, "docker", "pin")
    assert_one_clear_error(result, "cannot open the workspace lock")
    assert victim.read_text() == "precious\n"
    assert (root / "pyproject.toml").read_text() == before


def test_pin_refuses_a_pyproject_that_is_a_link(tmp_path: Path, registry: FakeRegistry) -> None:
    root = make_workspace(tmp_path / "ws", MEMBERS, root_extra=unpinned(registry))
    real = tmp_path / "real-pyproject.toml"
    (root / "pyproject.toml").rename(real)
    (root / "pyproject.toml").symlink_to(real)
    before = real.read_text()
    result = ws_cli(root, "docker", "pin")
    assert_one_clear_error(result, "pyproject.toml: it is a symbolic link")
    assert real.read_text() == before


def test_pin_prints_a_hostile_reason_phrase_escaped(tmp_path: Path, registry: FakeRegistry) -> None:
    root = make_workspace(tmp_path / "ws", MEMBERS, root_extra=unpinned(registry))
    registry.behaviour.status = 503
    registry.behaviour.reason = "Down\x1b[2J\x1b]0;owned\x07"
    result = ws_cli(root, "docker", "pin")
    assert result.exit_code == 1
    assert "\x1b" not in result.output and "\x07" not in result.output
    assert "Down\\x1b[2J\\x1b]0;owned\\x07" in result.output


def test_pin_writes_through_no_link_and_pins(tmp_path: Path, registry: FakeRegistry) -> None:
    root = make_workspace(tmp_path / "ws", MEMBERS, root_extra=unpinned(registry))
    result = ws_cli(root, "docker", "pin")
    assert result.exit_code == 0, result.output
    assert image_manifest("python").digest in (root / "pyproject.toml").read_text()

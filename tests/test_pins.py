"""Pinning base images against the real loopback registry: write, keep comments, detect moves."""

from __future__ import annotations

import uuid
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner
from ws.cli.app import app
from ws.docker.generate.config import load_root_config
from ws.docker.pin.pins import PinChange, check_pins, pin_images
from ws.docker.pin.registry import resolve_all
from ws.errors import RegistryError
from ws.workspace.members import load_workspace

from tests.support.fake_registry import FakeRegistry, image_manifest
from tests.support.files import make_workspace
from tests.support.loopback_images import (  # noqa: F401 -- docker_client is a fixture
    docker_client,
    push_tiny_image,
    unique_repository,
)

pytestmark = pytest.mark.docker

ROOT = """
# The base images every service builds from.
[tool.ws.docker]
python-image = "{python}"  # bumped by hand, pinned by ws
uv-image = '{uv}'
registry = "localhost:5000/team"  # where images go
"""


def workspace(tmp_path: Path, python: str, uv: str) -> Path:
    return make_workspace(
        tmp_path / "ws", {"core": {}}, root_extra=ROOT.format(python=python, uv=uv)
    )


def pin(root: Path) -> list[PinChange]:
    ws = load_workspace(root)
    return pin_images(ws.pyproject, load_root_config(ws))


def check(root: Path) -> list[str]:
    ws = load_workspace(root)
    return check_pins(ws.pyproject, load_root_config(ws))


def ws_cli(root: Path, *args: str):
    return CliRunner().invoke(app, ["--root", str(root), *args])


@pytest.fixture
def images(docker_client: Any) -> dict[str, Any]:  # noqa: F811 -- the imported fixture
    python, uv = unique_repository("python"), unique_repository("uv")
    return {
        "python": python,
        "uv": uv,
        "python_digest": push_tiny_image(docker_client, python, "3.11", f"py {uuid.uuid4()}"),
        "uv_digest": push_tiny_image(docker_client, uv, "0.9", f"uv {uuid.uuid4()}"),
        "client": docker_client,
    }


def test_pin_writes_digests_and_keeps_the_file_layout(tmp_path: Path, images: dict) -> None:
    python, uv = f"{images['python']}:3.11", f"{images['uv']}:0.9"
    root = workspace(tmp_path, python, uv)
    before = (root / "pyproject.toml").read_text()
    where = f"{root / 'pyproject.toml'}: `tool.ws.docker"
    assert check(root) == [
        f"{where}.python-image` = {python!r} is not pinned to a digest",
        f"{where}.uv-image` = {uv!r} is not pinned to a digest",
    ]

    changes = pin(root)
    assert changes == [
        PinChange("python-image", python, f"{python}@{images['python_digest']}"),
        PinChange("uv-image", uv, f"{uv}@{images['uv_digest']}"),
    ]
    after = (root / "pyproject.toml").read_text()
    assert after == before.replace(python, f"{python}@{images['python_digest']}").replace(
        uv, f"{uv}@{images['uv_digest']}"
    ), "only the two values change: comments, quoting and order are kept"
    assert "# bumped by hand, pinned by ws" in after and "'" + uv in after
    assert check(root) == []
    assert pin(root) == [], "a second run changes nothing"
    assert (root / "pyproject.toml").read_text() == after


def test_a_moved_tag_fails_the_check_until_pinned_again(tmp_path: Path, images: dict) -> None:
    python, uv = f"{images['python']}:3.11", f"{images['uv']}:0.9"
    root = workspace(tmp_path, f"{python}@{images['python_digest']}", f"{uv}@{images['uv_digest']}")
    assert ws_cli(root, "docker", "pin", "--check").exit_code == 0

    moved = push_tiny_image(images["client"], images["python"], "3.11", f"new {uuid.uuid4()}")
    assert moved != images["python_digest"]
    assert check(root) == [
        f"{root / 'pyproject.toml'}: `tool.ws.docker.python-image`: the tag {python} now points "
        f"at {moved}, not the pinned {images['python_digest']}"
    ]
    result = ws_cli(root, "docker", "pin", "--check")
    assert result.exit_code == 1
    assert "now points at" in result.output and "hint: run `ws docker pin`" in result.output

    result = ws_cli(root, "docker", "pin")
    assert result.exit_code == 0, result.output
    assert f"python-image: {python}@{images['python_digest']} -> {python}@{moved}" in result.output
    assert ws_cli(root, "docker", "pin", "--check").exit_code == 0


def test_nothing_is_written_unless_every_image_resolves(tmp_path: Path, images: dict) -> None:
    python = f"{images['python']}:3.11"
    root = workspace(tmp_path, python, f"{images['uv']}:no-such-tag")
    before = (root / "pyproject.toml").read_bytes()
    with pytest.raises(RegistryError, match="no manifest 'no-such-tag'"):
        pin(root)
    assert (root / "pyproject.toml").read_bytes() == before
    result = ws_cli(root, "docker", "pin")
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert (root / "pyproject.toml").read_bytes() == before


def test_two_dripping_images_share_one_deadline_and_nothing_is_written(tmp_path: Path) -> None:
    """ws docker pin's core with a deadline of 1 s: the python image uses it up and is named;
    the uv image is never asked (one deadline per image held the command 2 s, and 240 s with
    the default 120 s)."""
    with FakeRegistry() as fake:
        fake.add("team/python", "3.11", image_manifest("python"))
        fake.add("team/uv", "0.9", image_manifest("uv"))
        fake.behaviour.drip = 0.05  # each byte well inside the per-read timeout
        python, uv = f"{fake.host}/team/python:3.11", f"{fake.host}/team/uv:0.9"
        root = workspace(tmp_path, python, uv)
        before = (root / "pyproject.toml").read_bytes()
        ws = load_workspace(root)

        with pytest.raises(RegistryError) as caught:
            pin_images(ws.pyproject, load_root_config(ws), partial(resolve_all, deadline=1))

    assert f"cannot resolve {python}: {fake.host} was still answering when the 1 s" in str(
        caught.value
    )
    assert f"cannot resolve {uv}: not asked, the 1 s deadline had run out" in str(caught.value)
    assert [seen.path for seen in fake.seen] == ["/v2/team/python/manifests/3.11"]
    assert (root / "pyproject.toml").read_bytes() == before

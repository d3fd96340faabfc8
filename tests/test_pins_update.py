"""`ws docker pin` never reverts an edit made while the registry answered (no registry needed:
the resolver is a function that edits the file, as a person or another run would)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Mapping
from pathlib import Path

import pytest
from ws.docker.generate.config import load_root_config
from ws.docker.pin.imageref import ImageRef
from ws.docker.pin.pins import pin_images
from ws.errors import Busy, ConfigError
from ws.mutex import workspace_lock
from ws.workspace.members import load_workspace

from tests.support.files import make_workspace

DIGEST = "sha256:" + "b" * 64
ROOT = """
[tool.ws.docker]
python-image = "localhost:5000/python:3.11"
uv-image = "localhost:5000/uv:0.9@sha256:{uv}"
registry = "localhost:5000/team"
""".format(uv="c" * 64)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return make_workspace(tmp_path / "ws", {"core": {}}, root_extra=ROOT)


def _resolver(during: object = None) -> object:
    def resolve(refs: Iterable[ImageRef]) -> Mapping[ImageRef, str]:
        if callable(during):
            during()
        return {ref: DIGEST if "python" in ref.repository else "sha256:" + "c" * 64 for ref in refs}

    return resolve


def _pin(root: Path, resolver: object, **kwargs: float | bool) -> object:
    ws = load_workspace(root)
    return pin_images(ws.pyproject, load_root_config(ws), resolver, **kwargs)  # type: ignore[arg-type]


def test_an_edit_made_while_resolving_is_kept_and_reported(root: Path) -> None:
    pyproject = root / "pyproject.toml"

    def bump() -> None:
        text = pyproject.read_text().replace("python:3.11", "python:3.12")
        pyproject.write_text(text)

    with pytest.raises(ConfigError) as caught:
        _pin(root, _resolver(bump))
    assert "python-image` changed while ws asked the registry" in str(caught.value)
    assert "fix: run `ws docker pin` again" in str(caught.value)
    assert 'python-image = "localhost:5000/python:3.12"\n' in pyproject.read_text()


def test_other_edits_made_meanwhile_survive_the_pin(root: Path) -> None:
    pyproject = root / "pyproject.toml"

    def note() -> None:
        pyproject.write_text(pyproject.read_text() + "\n[tool.other]\nadded = true\n")

    _pin(root, _resolver(note))
    text = pyproject.read_text()
    assert f'python-image = "localhost:5000/python:3.11@{DIGEST}"' in text
    assert "[tool.other]\nadded = true\n" in text


def test_the_write_waits_for_the_workspace_lock(root: Path) -> None:
    held = threading.Event()
    release = threading.Event()

    def hold() -> None:
        with workspace_lock(root, timeout=5):
            held.set()
            release.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        held.wait(5)
        with pytest.raises(Busy):
            _pin(root, _resolver(), wait=0.3)
        threading.Timer(0.3, release.set).start()
        started = time.monotonic()
        _pin(root, _resolver(), wait=5)
        assert time.monotonic() - started >= 0.2
    finally:
        release.set()
        holder.join()
    assert DIGEST in (root / "pyproject.toml").read_text()


def test_a_ws_folder_git_tracks_gets_no_lock_file(root: Path) -> None:
    """pin_images told .ws is not ws's to write (the CLI asks git) makes nothing in it: the
    pin is still written, whole."""
    state = root / ".ws"
    state.mkdir()
    (state / ".gitignore").write_text("# the branch's own\n")
    _pin(root, _resolver(), writable=False)
    assert DIGEST in (root / "pyproject.toml").read_text()
    assert sorted(p.name for p in state.iterdir()) == [".gitignore"]
    assert (state / ".gitignore").read_text() == "# the branch's own\n"

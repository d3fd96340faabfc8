"""Real build backends that take their version from git (setuptools-scm, hatch-vcs,
uv-dynamic-versioning), the real pytest (which `ws run` tests run in members' environments)
and what they need, as wheels for the tests' loopback index.

`make backend-wheels` (part of `make test`) downloads them once from PyPI into a folder
outside the repository; the tests only read that folder, so they need no internet.
Run as `python -m tests.support.backend_wheels DIR` to fill DIR.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.pyindex import LocalIndex, find_uv

ENV_VAR = "WS_BACKEND_WHEELS"  # the folder, as the Makefile's test target passes it
# Each backend and everything it needs (as `uv pip compile` resolved them for Python 3.11),
# and the third-party dependencies of the example workspace's libraries, as uv.lock pins them
# (ws publish's smoke test installs example-core and example-report from a loopback index).
PINS = (
    "attrs==26.1.0",
    "colorama==0.4.6",  # pytest's, on Windows (a universal lock names it)
    "dunamai==1.26.5",
    "editables==0.5",  # hatchling's editable builds (uv lock, uv sync)
    "hatch-vcs==0.5.0",
    "hatchling==1.33.0",
    "iniconfig==2.3.1",  # pytest's
    "jinja2==3.1.6",
    "markupsafe==3.0.4",
    "packaging==26.4",
    "pathspec==1.1.1",
    "pluggy==1.7.0",
    "pygments==2.21.0",  # pytest's
    "pytest==9.2.0",
    "setuptools==84.2.1",
    "setuptools-scm==10.3.4",
    "tabulate==0.10.0",
    "tomlkit==0.15.3",
    "trove-classifiers==2026.9.21.13",
    "uv-dynamic-versioning==0.14.1",
    "vcs-versioning==2.6.0",
)
# Written last, naming PINS: an interrupted download, or one of other PINS, is redone.
_STAMP = ".complete"


def _ready(folder: Path) -> bool:
    stamp = folder / _STAMP
    return stamp.is_file() and stamp.read_text() == "\n".join(PINS) + "\n"


def download(folder: Path) -> None:
    """The wheels of PINS into folder, through pip as `uv tool run` fetches it (once)."""
    if _ready(folder):
        return
    folder.mkdir(parents=True, exist_ok=True)
    argv = [find_uv(), "tool", "run", "--from", "pip", "pip", "download", "--quiet"]
    argv += ["--no-deps", "--only-binary=:all:", "--python-version", "3.11", "--dest", str(folder)]
    subprocess.run([*argv, *PINS], check=True)
    (folder / _STAMP).write_text("\n".join(PINS) + "\n")


def real_wheels() -> list[Path]:
    """The downloaded wheels. Skips the test when they were never downloaded, unless the
    Makefile named their folder (make test, CI): then that is a failure."""
    named = os.environ.get(ENV_VAR)
    folder = Path(named or "/var/tmp/ws-renovate/backend-wheels")
    if not _ready(folder):
        message = f"no backend wheels in {folder}: run `make backend-wheels`"
        if named:
            pytest.fail(message)
        pytest.skip(message)
    return sorted(folder.glob("*.whl"))


@pytest.fixture(scope="module")
def backend_index() -> Iterator[LocalIndex]:
    """A loopback index of the backends' (and pytest's) real wheels."""
    with LocalIndex(()) as index:
        for wheel in real_wheels():
            index.add_file(wheel)
        yield index


if __name__ == "__main__":
    download(Path(sys.argv[1]))

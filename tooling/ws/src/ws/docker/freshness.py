"""Whether a member's generated Docker files are current, without rendering them again.

When ws writes or checks a member's files it records, in .ws/docker.json, a digest of what
they are made from (the image's inputs, the root pyproject.toml, the code that renders
them) and of the files as they are. A build that finds the same digest knows they are
current; any other answer sends it to the full check, which renders them.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Mapping, Sequence
from pathlib import Path

from ws.docker.render import (
    DOCKERFILE,
    DOCKERIGNORE,
    PYPROJECT,
    ImageInputs,
    beside,
)
from ws.state import file_part, read_digests, remember_digests
from ws.workspace import Workspace

CACHE_FILE = "docker.json"
ROOT_ENTRY = "/"  # the entry of the set of image members as a whole: no member is named so
# The code whose output the generated files are: all of ws, so that any other ws (an
# upgrade, a patch) checks them afresh once, whichever module of it changed.
_PACKAGE = Path(__file__).resolve().parents[1]


@functools.cache
def _generator_digest() -> bytes:
    """The digest of ws's source files and templates (their names and contents)."""
    h = hashlib.sha256()
    for path in sorted(_PACKAGE.rglob("*")):
        if path.suffix in (".py", ".j2") and path.is_file():
            h.update(path.relative_to(_PACKAGE).as_posix().encode() + b"\0" + path.read_bytes())
    return h.digest()


def _key(ws: Workspace, inputs: ImageInputs) -> str:
    h = hashlib.sha256(_generator_digest())
    h.update(repr(inputs).encode())
    h.update(ws.pyproject.read_bytes())
    for name in (DOCKERFILE, DOCKERIGNORE, PYPROJECT):
        h.update(b"\0" + file_part(ws.root / beside(inputs.rel, name)))
    return h.hexdigest()


def unrecorded(ws: Workspace, images: Sequence[ImageInputs]) -> list[ImageInputs]:
    """Those of images whose files are not as ws last wrote or checked them, from the same
    inputs."""
    return _unrecorded(ws, images, read_digests(ws.root, CACHE_FILE))


def all_current(ws: Workspace, images: Sequence[ImageInputs]) -> bool:
    """Whether every image member's files are as ws last wrote or checked them, for this
    very set of image members."""
    digests = read_digests(ws.root, CACHE_FILE)
    if digests.get(ROOT_ENTRY) != _root_key(ws, images):
        return False
    return not _unrecorded(ws, images, digests)


def _unrecorded(
    ws: Workspace, images: Sequence[ImageInputs], digests: Mapping[str, str]
) -> list[ImageInputs]:
    return [inputs for inputs in images if digests.get(inputs.name) != _key(ws, inputs)]


def record(ws: Workspace, images: Sequence[ImageInputs], *, every: bool = False) -> None:
    """Note these members' files as current (they were just written or checked), and with
    every (images are all the image members) that set as a whole. Left unnoted when .ws
    cannot be written: the next run checks in full."""
    updates = {inputs.name: _key(ws, inputs) for inputs in images}
    if every:
        updates[ROOT_ENTRY] = _root_key(ws, images)
    remember_digests(ws.root, CACHE_FILE, updates)


def _root_key(ws: Workspace, images: Sequence[ImageInputs]) -> str:
    h = hashlib.sha256(_generator_digest())
    for inputs in sorted(images, key=lambda i: i.name):
        h.update(b"\0" + repr(inputs).encode())
    return h.hexdigest()

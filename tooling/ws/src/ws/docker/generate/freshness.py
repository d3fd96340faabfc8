"""Whether a member's generated Docker files are current, without rendering them again.

When ws writes or checks a member's files it records (ws.state: sealed, this machine's
only) a key of what they are made from (the image's inputs, the workspace's member names and
folders, the root pyproject.toml, the code that renders them) and of the files as they are.
A build that finds the record knows they are current; any other answer sends it to the full
check, which renders them.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Mapping, Sequence
from pathlib import Path

from ws.docker.generate.render import ImageInputs, generated_paths
from ws.state import Records, bytes_part, digest, regular_bytes
from ws.workspace.members import Workspace

RECORD = "docker/"  # + the member's name
ROOT_RECORD = "docker//"  # the set of image members as a whole: no member is named so
# The code whose output the generated files are: all of ws, so that any other ws (an
# upgrade, a patch) checks them afresh once, whichever module of it changed.
_PACKAGE = Path(__file__).resolve().parents[2]  # ws/, from ws/docker/generate/


@functools.cache
def _generator_digest() -> bytes:
    """The digest of ws's source files and templates (their names and contents)."""
    h = hashlib.sha256()
    for path in sorted(_PACKAGE.rglob("*")):
        if path.suffix in (".py", ".j2") and path.is_file():
            h.update(path.relative_to(_PACKAGE).as_posix().encode() + b"\0" + path.read_bytes())
    return h.digest()


def _members(ws: Workspace) -> bytes:
    """Every member's name and folder: the generated pyproject keeps sources by name, so a
    name moving between folders changes it."""
    return repr(sorted((m.name, m.rel.as_posix()) for m in ws.members.values())).encode()


def read_files(root: Path, images: Sequence[ImageInputs]) -> dict[str, bytes | None]:
    """The generated files of images as they are (None: no regular file there), read once a
    run: the records are keyed on these bytes, and the check compares these bytes."""
    paths = [path for inputs in images for path in generated_paths(inputs.dockerfile)]
    return {path: regular_bytes(root / path) for path in paths}


def _key(ws: Workspace, inputs: ImageInputs, files: Mapping[str, bytes | None]) -> str:
    """Of what name's files are made from and of the files as read (files)."""
    parts: list[bytes | str] = [_generator_digest(), repr(inputs), _members(ws), ws.text]
    parts += [bytes_part(files[path]) for path in generated_paths(inputs.dockerfile)]
    return digest(parts)


def unrecorded(
    ws: Workspace,
    images: Sequence[ImageInputs],
    records: Records,
    files: Mapping[str, bytes | None],
) -> list[ImageInputs]:
    """Those of images whose files (as read_files read them) are not as ws last wrote or
    checked them on this machine, from the same inputs."""
    return [i for i in images if not records.vouches(RECORD + i.name, _key(ws, i, files))]


def all_current(
    ws: Workspace,
    images: Sequence[ImageInputs],
    records: Records,
    files: Mapping[str, bytes | None],
) -> bool:
    """Whether every image member's files are as ws last wrote or checked them on this
    machine, for this very set of image members."""
    if not records.vouches(ROOT_RECORD, _root_key(ws, images)):
        return False
    return not unrecorded(ws, images, records, files)


def record(
    ws: Workspace,
    images: Sequence[ImageInputs],
    records: Records,
    files: Mapping[str, bytes | None],
    *,
    every: bool = False,
) -> None:
    """Note these members' files as current (files: their bytes, just written or checked),
    and with every (images are all the image members) that set as a whole."""
    for inputs in images:
        records.note(RECORD + inputs.name, _key(ws, inputs, files))
    if every:
        records.note(ROOT_RECORD, _root_key(ws, images))


def _root_key(ws: Workspace, images: Sequence[ImageInputs]) -> str:
    parts: list[bytes | str] = [_generator_digest(), _members(ws)]
    parts += [repr(inputs) for inputs in sorted(images, key=lambda i: i.name)]
    return digest(parts)

"""Fixtures of the image-build tests: the engine, what the builds made (removed at the end of
each module), and the image test workspace, prepared once per module and copied per test."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import docker
import pytest
from ws.errors import RegistryError
from ws.locks.sync import LockOptions

from tests.support.imagebuild import Made
from tests.support.images import docker_answers, prepare_workspace, remove_labelled
from tests.support.pyindex import LocalIndex, find_uv, hermetic_uv_env


@pytest.fixture(scope="module")
def engine() -> Iterator[docker.DockerClient]:
    why = docker_answers()
    if why:
        pytest.skip(why)
    client = docker.from_env(timeout=120)
    yield client
    client.close()


@pytest.fixture(scope="module")
def made(engine: docker.DockerClient) -> Iterator[Made]:
    record = Made({"ws.test": f"build-{uuid.uuid4().hex[:12]}"})
    yield record
    remove_labelled(engine, record.selector)


@pytest.fixture(scope="module")
def lock_options(tmp_path_factory: pytest.TempPathFactory) -> LockOptions:
    env = hermetic_uv_env(tmp_path_factory.mktemp("uv-build"))
    return LockOptions(uv=find_uv(), env=env)


@pytest.fixture(scope="module")
def registry(made: Made) -> str:
    return f"localhost:5000/{made.label['ws.test']}"


@pytest.fixture(scope="module")
def template(
    tmp_path_factory: pytest.TempPathFactory,
    pyindex: LocalIndex,
    lock_options: LockOptions,
    registry: str,
) -> Path:
    """The image workspace, locked, pinned and generated once for the module; copy to change."""
    root = tmp_path_factory.mktemp("images") / "ws"
    try:
        prepare_workspace(root, pyindex.url, lock_options, registry=registry)
    except RegistryError as e:
        pytest.skip(f"the loopback registry does not answer (tooling/engine.sh): {e}")
    return root


# make(name, members) -> the root of a new image workspace of these members
MakeWorkspace = Callable[[str, dict[str, dict[str, Any]]], Path]


@pytest.fixture(scope="module")
def image_workspace(
    tmp_path_factory: pytest.TempPathFactory,
    pyindex: LocalIndex,
    lock_options: LockOptions,
    registry: str,
) -> MakeWorkspace:
    """make(name, members): an image workspace of these members, locked, pinned and
    generated, in a folder of the module's named after name."""

    def make(name: str, members: dict[str, dict[str, Any]]) -> Path:
        root = tmp_path_factory.mktemp(name) / "ws"
        prepare_workspace(root, pyindex.url, lock_options, registry=registry, members=members)
        return root

    return make


@pytest.fixture
def workspace(template: Path, tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    shutil.copytree(template, root, symlinks=True)
    return root

"""Build a context tar on the real engine and read back what COPY put into the image."""

from __future__ import annotations

import io
import tarfile
from typing import IO

import docker
import docker.errors
import pytest

# COPY into an image FROM scratch needs no base image, no registry and no network.
COPY_ALL = b"FROM scratch\nCOPY . /ctx/\n"


def engine() -> docker.DockerClient:
    """A client for the local engine, or skip: tooling/engine.sh starts one."""
    try:
        client = docker.from_env(timeout=120)
        client.ping()
    except docker.errors.DockerException as e:
        pytest.skip(f"no Docker engine ({e}); start one with tooling/engine.sh")
    return client


def tar_of(files: dict[str, bytes]) -> io.BytesIO:
    """An in-memory tar holding files (name -> content)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    buf.seek(0)
    return buf


def copied(
    client: docker.DockerClient, context: IO[bytes], dockerfile: str, *, nocache: bool = False
) -> list[tarfile.TarInfo]:
    """Build context (whose dockerfile says COPY . /ctx/) and return /ctx's entries,
    named relative to /ctx. The image and its container are removed again. nocache: for
    builds side by side, none of which may build on a layer another's clean-up removes."""
    image, _ = client.images.build(
        fileobj=context,
        custom_context=True,
        dockerfile=dockerfile,
        rm=True,
        network_mode="none",
        nocache=nocache,
    )
    image_id = image.id
    assert image_id is not None
    try:
        container = client.containers.create(image_id, command=["none"], network_mode="none")
        try:
            stream, _ = container.get_archive("/ctx")
            data = b"".join(stream)
        finally:
            container.remove()
    finally:
        client.images.remove(image_id, force=True)
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        members = tar.getmembers()
    for member in members:
        member.name = member.name.removeprefix("ctx").removeprefix("/")
    return [m for m in members if m.name]

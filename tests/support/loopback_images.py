"""The real Docker engine and loopback registry (tooling/engine.sh) for tests, and tiny images."""

from __future__ import annotations

import io
import tarfile
import urllib.request
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

LOOPBACK = "localhost:5000"
SEED_PYTHON = f"{LOOPBACK}/python:3.11-slim"  # the seed images tooling/engine.sh pushes
SEED_UV = f"{LOOPBACK}/astral-sh/uv"  # tagged with the version of the uv ws runs


@pytest.fixture(scope="session")
def docker_client() -> Iterator[Any]:
    """A docker-py client of the running engine; skips when no engine or registry answers."""
    docker = pytest.importorskip("docker")
    try:
        client = docker.from_env(timeout=300)
        client.ping()
    except Exception as e:  # any failure means "no engine here"
        pytest.skip(f"no Docker engine: {e}")
    try:
        with urllib.request.urlopen(f"http://{LOOPBACK}/v2/", timeout=3):
            pass
    except OSError as e:
        pytest.skip(f"no registry at {LOOPBACK} (run tooling/engine.sh): {e}")
    yield client
    client.close()


def unique_repository(name: str = "tiny") -> str:
    """A repository on the loopback registry no other test run uses."""
    return f"{LOOPBACK}/ws-test-{uuid.uuid4().hex[:12]}/{name}"


def push_tiny_image(client: Any, repository: str, tag: str, content: str) -> str:
    """docker import a one-file tar as repository:tag, push it; the digest the push reported."""
    data = content.encode()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        info = tarfile.TarInfo("hello.txt")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    client.api.import_image_from_data(buffer.getvalue(), repository=repository, tag=tag)
    pushed = None
    for line in client.images.push(repository, tag=tag, stream=True, decode=True):
        assert "error" not in line, line
        pushed = line.get("aux", {}).get("Digest") or pushed
    client.images.remove(f"{repository}:{tag}")
    assert pushed, "docker push reported no digest"
    return pushed


def pinned_seed_images(uv_version: str) -> tuple[str, str]:
    """The seed Python and uv images as name:tag@digest; skips when engine.sh has not run."""
    from ws.docker.pin.imageref import parse_image_ref
    from ws.docker.pin.registry import resolve_digest
    from ws.errors import RegistryError

    pinned = []
    for text in (SEED_PYTHON, f"{SEED_UV}:{uv_version}"):
        ref = parse_image_ref(text)
        try:
            pinned.append(str(ref.with_digest(resolve_digest(ref))))
        except RegistryError as e:
            pytest.skip(f"seed image {text} missing (run tooling/engine.sh): {e}")
    return pinned[0], pinned[1]

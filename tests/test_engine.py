"""ws.docker.engine on the real engine: it refuses an engine that cannot build with BuildKit
(the generated Dockerfiles need its mounts), says how to start one when none answers, and
pulls the images a build needs with the user's credentials before BuildKit looks for them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import docker
import docker.errors
import pytest
from ws.docker.engine import connect, pull_missing, require_buildkit
from ws.errors import DockerUnavailable, RegistryError

from tests.support.loopback_images import push_tiny_image, unique_repository

# ---------------------------------------------------------------- which engine


@pytest.mark.docker
def test_this_engine_has_buildkit(engine: docker.DockerClient) -> None:
    require_buildkit(engine.version())

    assert connect(lambda: engine) is engine


class _Engine:
    """An engine too old for BuildKit builds, or not Linux: no such engine on this machine."""

    def __init__(self, version: dict[str, Any]) -> None:
        self._version = version

    def version(self) -> dict[str, Any]:
        return self._version


@pytest.mark.parametrize(
    ("version", "named"),
    [
        ({"Os": "linux", "ApiVersion": "1.38"}, "(linux, API 1.38)"),
        ({"Os": "windows", "ApiVersion": "1.41"}, "(windows, API 1.41)"),
        ({"Os": "linux", "ApiVersion": "one.four"}, "(linux, API one.four)"),
        ({}, "(?, API 0.0)"),
    ],
)
def test_an_engine_without_buildkit_is_refused_with_one_clear_error(
    version: dict[str, Any], named: str
) -> None:
    with pytest.raises(DockerUnavailable) as caught:
        connect(lambda: _Engine(version))  # type: ignore[arg-type,return-value]  # a stub engine

    message = str(caught.value)
    assert message.startswith(f"the Docker engine {named} cannot build with BuildKit")
    assert "fix: build on a Linux engine with BuildKit" in message
    assert message.count("\n") == 1, "the problem, then its fix"


def test_no_engine_is_docker_unavailable_with_the_fix(tmp_path: Path) -> None:
    socket = f"unix://{tmp_path / 'no-engine.sock'}"

    with pytest.raises(DockerUnavailable) as caught:
        connect(lambda: docker.DockerClient(base_url=socket))

    assert "no Docker engine answers" in caught.value.message
    assert "tooling/engine.sh" in (caught.value.fix or ""), "the fix is a field"


# ---------------------------------------------------------------- pulling


@pytest.mark.docker
def test_images_the_engine_lacks_are_pulled_once(engine: docker.DockerClient) -> None:
    repository = unique_repository("base")
    digest = push_tiny_image(engine, repository, "1", "a base image")
    ref = f"{repository}:1@{digest}"
    lines: list[tuple[str, str]] = []
    try:
        with pytest.raises(docker.errors.ImageNotFound):
            engine.api.inspect_image(ref)

        first = pull_missing(engine, [ref], lambda m, line: lines.append((m, line)))
        second = pull_missing(engine, [ref], lambda m, line: lines.append((m, line)))

        assert first == second == [ref]
        assert digest in engine.api.inspect_image(ref)["RepoDigests"][0]
        assert lines == [("ws", f"pulling {ref}")], "pulled once, then found locally"
    finally:
        engine.images.remove(engine.api.inspect_image(ref)["Id"], force=True)


@pytest.mark.docker
def test_a_required_image_no_registry_holds_is_a_registry_error(
    engine: docker.DockerClient,
) -> None:
    ref = f"{unique_repository('missing')}:1"

    with pytest.raises(RegistryError) as caught:
        pull_missing(engine, [ref])

    assert ref in str(caught.value)
    assert "fix: check the registry answers" in str(caught.value)


@pytest.mark.docker
def test_an_optional_image_no_registry_holds_is_skipped_with_a_line(
    engine: docker.DockerClient,
) -> None:
    repository = unique_repository("cache")
    digest = push_tiny_image(engine, repository, "held", "a cache image")
    held, missing = f"{repository}:held@{digest}", f"{repository}:missing"
    lines: list[tuple[str, str]] = []
    try:
        found = pull_missing(
            engine, [missing, held], lambda m, line: lines.append((m, line)), required=False
        )

        assert found == [held]
        assert lines == [
            ("ws", f"pulling {missing}"),
            ("ws", f"no {missing} to take a cache from: building without it"),
            ("ws", f"pulling {held}"),
        ]
    finally:
        engine.images.remove(engine.api.inspect_image(held)["Id"], force=True)

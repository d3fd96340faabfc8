"""The generated Dockerfile outside ws: `docker build -f packages/<member>/Dockerfile .` on
BuildKit makes the image `ws docker build` makes, and the repository's compose.yml runs it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid
from pathlib import Path

import docker
import pytest
from ws.locks.sync import LockOptions

from tests.support.imagebuild import Made, build, cli_build, cli_context

pytestmark = pytest.mark.docker
ANSWER = "svc 0.1.0 lib 0.2.0 beta 1.1 alpha 2.0 says hello docker\n"
REPOSITORY = Path(__file__).parents[1]


def layers(client: docker.DockerClient, image: str) -> list[str]:
    return list(client.images.get(image).attrs["RootFS"]["Layers"])


def test_docker_build_of_the_generated_dockerfile_makes_the_same_image(
    engine: docker.DockerClient, made: Made, workspace: Path, lock_options: LockOptions
) -> None:
    (image,), _ = build(engine, made, workspace, ["svc"], lock_options)
    dockerfile = "packages/svc/Dockerfile"
    tag = f"localhost:5000/ws-parity/svc:{uuid.uuid4().hex[:12]}"
    params = {
        "dockerfile": dockerfile,
        "networkmode": "host",
        "t": tag,
        "labels": json.dumps(made.label),
    }
    cli_id, steps = cli_build(engine, "cli", cli_context(workspace, dockerfile), params)
    try:
        assert layers(engine, cli_id) == layers(engine, image.image_id)
        assert all(step.cached for step in steps if step.instruction.startswith("RUN")), (
            "the same inputs: every RUN came from the cache of ws's build"
        )
        labels = engine.images.get(cli_id).labels
        assert labels["org.opencontainers.image.revision"] == "unknown"  # no ws, no build arg
    finally:
        engine.images.remove(tag, force=True)


def test_compose_runs_the_image_ws_built(
    engine: docker.DockerClient, made: Made, workspace: Path, lock_options: LockOptions
) -> None:
    compose = shutil.which("docker-compose")
    if compose is None:
        if os.environ.get("WS_REQUIRE_DOCKER"):
            pytest.fail("docker-compose is missing: tooling/engine.sh installs it")
        pytest.skip("docker-compose is not installed")
    (image,), _ = build(engine, made, workspace, ["svc"], lock_options)
    env = {**os.environ, "WS_EXAMPLE_IMAGE": image.refs[0]}
    argv = [compose, "-f", str(REPOSITORY / "compose.yml"), "-p", f"ws{uuid.uuid4().hex[:8]}"]
    run = [*argv, "run", "--rm", "-T", "--label", "=".join(*made.label.items())]
    done = subprocess.run(
        [*run, "example-service", "svc"], capture_output=True, text=True, env=env, timeout=120
    )
    subprocess.run([*argv, "down"], capture_output=True, env=env, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout == ANSWER

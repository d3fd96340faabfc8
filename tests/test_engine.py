"""ws.docker.builds.engine: it refuses an engine that cannot build with BuildKit (the generated
Dockerfiles need its mounts), says how to start one when none answers, turns whatever a broken
or hostile engine sends (tests/support/fake_engine.py) into one error, never a traceback, and
asks a registry whether it holds the cache images a build names, with the user's login,
without pulling them."""

from __future__ import annotations

import io
import json
import os
import uuid
from pathlib import Path
from typing import Any

import docker
import docker.errors
import pytest
from click.testing import Result
from typer.testing import CliRunner
from ws.cli.app import app
from ws.docker.builds.endpoint import resolve
from ws.docker.builds.engine import NONSENSE_FIX, connect, in_registry, push
from ws.docker.builds.engine import build as engine_build
from ws.docker.builds.stream import LOST_LAYER_FIX, StepFailed
from ws.docker.pin.imageref import parse_image_ref
from ws.errors import DockerUnavailable

from tests.support.buildctx import tar_of
from tests.support.fake_engine import Answer, Answers, FakeEngine, answer, events
from tests.support.files import make_workspace
from tests.support.images import PYTHON_IMAGE, remove_labelled, root_docker_config
from tests.support.loopback_images import push_tiny_image, unique_repository
from tests.support.private_index import AuthRegistry
from tests.test_buildkit_trace import trace, vertex

# ---------------------------------------------------------------- which engine


@pytest.mark.docker
def test_this_engine_has_buildkit(engine: docker.DockerClient) -> None:
    client = connect(resolve(os.environ))  # the engine ws's own CLI would choose

    assert client.api.api_version == engine.version()["ApiVersion"]
    client.close()


@pytest.mark.parametrize(
    ("version", "named"),
    [
        ({"Os": "linux", "ApiVersion": "1.38"}, "(linux, API 1.38)"),
        ({"Os": "windows", "ApiVersion": "1.41"}, "(windows, API 1.41)"),
        ({"ApiVersion": "1.41"}, "(?, API 1.41)"),
    ],
)
def test_an_engine_without_buildkit_is_refused_with_one_clear_error(
    version: dict[str, Any], named: str
) -> None:
    with FakeEngine(Answers(version=answer(200, version))) as fake:
        with pytest.raises(DockerUnavailable) as caught:
            connect(resolve({"DOCKER_HOST": fake.host}, Path("/nonexistent")))

    assert caught.value.message == f"the Docker engine {named} cannot build with BuildKit"
    assert caught.value.fix and caught.value.fix.startswith("build on a Linux engine with BuildKit")


def test_an_api_version_too_old_for_buildkit_is_refused() -> None:
    env = {"DOCKER_API_VERSION": "1.30"}
    with FakeEngine() as fake:
        with pytest.raises(DockerUnavailable) as caught:
            connect(resolve({"DOCKER_HOST": fake.host, **env}, Path("/nonexistent")))

    assert caught.value.message.startswith("DOCKER_API_VERSION is 1.30, older than API 1.39")


def test_no_engine_is_docker_unavailable_with_the_fix(tmp_path: Path) -> None:
    socket = f"unix://{tmp_path / 'no-engine.sock'}"

    with pytest.raises(DockerUnavailable) as caught:
        connect(resolve({"DOCKER_HOST": socket}, tmp_path))

    assert caught.value.message.startswith(f"no Docker engine answers at {socket} (from ")
    assert caught.value.fix == (
        "start that engine, or point DOCKER_HOST or DOCKER_CONTEXT at one that runs"
    )


# ---------------------------------------------------------------- a broken or hostile engine


@pytest.fixture
def image_root(tmp_path: Path) -> Path:
    """A workspace with one image member: enough for `ws docker build svc` to connect."""
    member = {"extra": '[tool.ws.docker]\ncommand = ["svc"]\n'}
    return make_workspace(tmp_path / "ws", {"svc": member}, root_extra=root_docker_config(None))


def ws_docker_build(root: Path, env: dict[str, str]) -> Result:
    return CliRunner().invoke(app, ["--root", str(root), "docker", "build", "svc"], env=env)


def one_error(result: Result) -> str:
    """The error `ws` printed, once it is certain there was one and no traceback."""
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit), f"a traceback: {result.exception!r}"
    assert "Traceback" not in result.output
    (line,) = [line for line in result.output.splitlines() if line.startswith("error: ")]
    return line


JUNK_VERSIONS = {
    "a list": (answer(200, [1, 2]), "/version answered a list, not an object"),
    "a number": (answer(200, 5), "/version answered a number, not an object"),
    "a string": (answer(200, "engine"), "/version answered a string, not an object"),
    "ApiVersion abc": (
        answer(200, {"ApiVersion": "abc", "Os": "linux"}),
        '/version gave ApiVersion "abc", not an API version such as 1.41',
    ),
    "ApiVersion a number": (
        answer(200, {"ApiVersion": 1.41, "Os": "linux"}),
        "/version gave ApiVersion 1.41, not an API version such as 1.41",
    ),
    "no ApiVersion": (answer(200, {"Os": "linux"}), "/version gave no ApiVersion"),
    "an error that is a list": (answer(500, [1]), "HTTP 500 with a list for its error"),
    "an error that is a number": (answer(503, 5), "HTTP 503 with a number for its error"),
    "an error without a message": (
        answer(500, {"oops": 1}),
        "HTTP 500 with an object without a message for its error",
    ),
}


@pytest.mark.parametrize(("version", "problem"), JUNK_VERSIONS.values(), ids=JUNK_VERSIONS)
def test_junk_for_a_version_is_one_error_naming_the_engine(
    image_root: Path, version: Answer, problem: str
) -> None:
    with FakeEngine(Answers(version=version)) as fake:
        line = one_error(ws_docker_build(image_root, {"DOCKER_HOST": fake.host}))

    assert line == (
        f"error: {fake.host} (from DOCKER_HOST): not a Docker engine's answer when asked to "
        f"tell its version: {problem}"
    )


@pytest.mark.parametrize("value", ["abc", "1", "1.41.0"])
def test_a_docker_api_version_ws_cannot_use_is_one_error(image_root: Path, value: str) -> None:
    with FakeEngine() as fake:
        env = {"DOCKER_HOST": fake.host, "DOCKER_API_VERSION": value}
        line = one_error(ws_docker_build(image_root, env))

    assert line == f"error: DOCKER_API_VERSION is {value!r}, not an Engine API version such as 1.41"


@pytest.mark.parametrize(
    ("build", "problem"),
    [
        (events([1]), "a build event that is a list, not an object"),
        (events(5), "a build event that is a number, not an object"),
        (events({"stream": "ok\n"}, "failed"), "a build event that is a string, not an object"),
        (events(b"{not json"), "a build event that is not JSON"),
        (answer(500, ["no"]), "HTTP 500 with a list for its error"),
    ],
    ids=["list", "number", "string", "not JSON", "error body a list"],
)
def test_junk_build_events_are_one_error(build: Answer, problem: str) -> None:
    with FakeEngine(Answers(build=build)) as fake:
        client = connect(resolve({"DOCKER_HOST": fake.host}, Path("/nonexistent")))
        with pytest.raises(DockerUnavailable) as caught:
            engine_build(client, "svc", io.BytesIO(b""), {})

    assert caught.value.message.startswith(
        f"svc: not a Docker engine's answer when asked to build: {problem}"
    )
    assert caught.value.fix == NONSENSE_FIX


def test_junk_while_looking_a_cache_image_up_is_one_error() -> None:
    with FakeEngine(Answers(other=answer(404, 7))) as fake:
        client = connect(resolve({"DOCKER_HOST": fake.host}, Path("/nonexistent")))
        with pytest.raises(DockerUnavailable) as caught:
            in_registry(client, [parse_image_ref("localhost:5000/svc:ci")])

    assert ("GET", "/distribution/localhost:5000/svc:ci/json") in fake.seen
    assert caught.value.message == (
        "localhost:5000/svc:ci: not a Docker engine's answer when asked to look the image up "
        "in its registry: HTTP 404 with a number for its error"
    )


def test_junk_while_pushing_is_one_error() -> None:
    with FakeEngine(Answers(push=events([{"aux": {"Digest": "sha256:" + "2" * 64}}]))) as fake:
        client = connect(resolve({"DOCKER_HOST": fake.host}, Path("/nonexistent")))
        with pytest.raises(DockerUnavailable) as caught:
            push(client, "svc", parse_image_ref("localhost:5000/svc:1"))

    assert caught.value.message == (
        "svc: not a Docker engine's answer when asked to push localhost:5000/svc:1: "
        "a push event that is a list, not an object"
    )


@pytest.mark.docker
def test_ws_docker_build_against_an_engine_sending_junk_events_is_one_error(
    workspace: Path,
) -> None:
    """Through the CLI, with a workspace ready to build: the engine holds the base images
    (inspect answers), then answers the build with an event that is a list."""
    with FakeEngine(Answers(build=events({"stream": "starting\n"}, [1]))) as fake:
        line = one_error(ws_docker_build(workspace, {"DOCKER_HOST": fake.host}))

    assert ("POST", "/build") in fake.seen
    assert line == (
        "error: svc: not a Docker engine's answer when asked to build: "
        "a build event that is a list, not an object"
    )


# What a build streams when its first step runs (one that may mount a secret).
RUNNING = trace(vertexes=(vertex("sha256:run", "[builder 1/1] RUN uv sync", started=1.0),))
BUILT = {"aux": {"ID": "sha256:" + "3" * 64}}


def test_an_engine_refusing_the_build_session_is_one_error_whatever_the_build_said(
    workspace: Path,
) -> None:
    """The build request does not wait for the session (as the docker CLI's); the session's
    refusal is still the one error said, not what the build then reported."""
    refused = answer(400, {"message": "no upgrade proto in request"})
    with FakeEngine(Answers(session=refused, build=events(RUNNING))) as fake:
        line = one_error(ws_docker_build(workspace, {"DOCKER_HOST": fake.host}))

    assert line.startswith(f"error: {fake.host} (from DOCKER_HOST): could not ")
    assert "open a build session: the engine answered 'HTTP/1.1 400 Bad Request'" in line
    assert "no upgrade proto in request" in line


def test_the_build_request_does_not_wait_for_the_session(workspace: Path) -> None:
    """As the docker CLI: the engine waits for a session a build names when a step needs it,
    so ws sends the build first and opens the session once the engine has it. This engine
    takes the session only once a build request came."""
    answers = Answers(session_after_build=True, build=events(RUNNING, BUILT))
    with FakeEngine(answers) as fake:
        result = ws_docker_build(workspace, {"DOCKER_HOST": fake.host})

    assert result.exit_code == 0, result.output
    assert fake.seen.index(("POST", "/build")) < fake.seen.index(("101", "/session"))


@pytest.mark.docker
def test_a_cache_record_whose_layer_the_engine_lost_says_to_empty_the_cache(
    engine: docker.DockerClient,
) -> None:
    """What CI met after a machine was stopped with the engine running: BuildKit's record of
    a step outlived the step's layer in the engine's storage. Made here by moving the layers
    one build made aside (and back) before a build on top of them: the folders that appeared
    during that build, the suite running one test at a time on this engine."""
    info = engine.info()
    storage = Path(info["DockerRootDir"]) / info["Driver"]
    assert storage.is_dir(), f"the tests' engine keeps its layers in {storage}, on this machine"
    label = {"ws.test": f"lost-{uuid.uuid4().hex[:12]}"}
    params = {"dockerfile": "Dockerfile", "networkmode": "host", "labels": json.dumps(label)}
    base = PYTHON_IMAGE.encode()
    first = b"FROM %s\nRUN echo %s > /marker\n" % (base, uuid.uuid4().hex.encode())
    # the base image's layers in place first: only the new step's layer goes aside below
    engine_build(engine, "lost", tar_of({"Dockerfile": b"FROM %s\nRUN true\n" % base}), params)
    before = set(storage.iterdir())
    engine_build(engine, "lost", tar_of({"Dockerfile": first}), params)
    made = sorted(set(storage.iterdir()) - before)
    assert made, "the build made layers of its own"
    for path in made:
        path.rename(path.with_name(path.name + ".ws-test"))
    try:
        with pytest.raises(StepFailed) as caught:
            on_top = tar_of({"Dockerfile": first + b"RUN cat /marker\n"})
            engine_build(engine, "lost", on_top, params)
    finally:
        for path in made:
            path.with_name(path.name + ".ws-test").rename(path)
        remove_labelled(engine, "=".join(next(iter(label.items()))))
    assert "no such file or directory" in caught.value.error
    assert caught.value.fix == LOST_LAYER_FIX
    assert "docker builder prune --all --force" in caught.value.fix


# ---------------------------------------------------------------- pulling


@pytest.mark.docker
def test_cache_images_are_looked_up_in_their_registry_not_pulled(
    engine: docker.DockerClient,
) -> None:
    repository = unique_repository("cache")
    digest = push_tiny_image(engine, repository, "held", "a cache image")
    held = parse_image_ref(f"{repository}:held")
    missing = parse_image_ref(f"{repository}:missing")
    lines: list[tuple[str, str]] = []

    found = in_registry(engine, [missing, held], lambda m, line: lines.append((m, line)))

    assert found == [held]
    assert lines == [("ws", f"no {missing} to take a cache from: building without it")]
    with pytest.raises(docker.errors.ImageNotFound):  # nothing was pulled
        engine.api.inspect_image(f"{repository}@{digest}")


@pytest.mark.docker
def test_a_cache_image_behind_a_login_is_found_with_the_login(
    engine: docker.DockerClient,
) -> None:
    repository = unique_repository("cache")
    push_tiny_image(engine, repository, "held", "a cache image")
    guarded = AuthRegistry("puller", "cache-pass-61d0")
    try:
        ref = parse_image_ref(f"{guarded.host}/{repository.split('/', 1)[1]}:held")
        without = in_registry(engine, [ref], logins=lambda _host: None)
        found = in_registry(
            engine,
            [ref],
            logins=lambda host: ("puller", "cache-pass-61d0") if host == guarded.host else None,
        )
    finally:
        guarded.close()

    assert without == [] and found == [ref]
    assert any(ok for _path, ok in guarded.requests) and not all(ok for _p, ok in guarded.requests)

"""Everything ws asks the Docker engine, and the one place its errors become ws errors.

Builds go to the engine's BuildKit (POST /build with version=2): the generated Dockerfiles
use its cache and bind mounts, which the classic builder cannot run.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import IO, Any

import docker
import docker.errors
import requests

from ws.docker import imageref
from ws.docker.buildkit import BuildKitLog
from ws.docker.endpoint import EngineClient
from ws.docker.stream import Progress, PushLog, Step, error_text, is_error
from ws.errors import BuildFailed, DockerUnavailable, RegistryError, WsError

ENGINE_FIX = "start an engine (tooling/engine.sh), or point DOCKER_HOST or a docker context at one"
# The first Engine API version whose /build runs BuildKit when asked (version=2).
BUILDKIT_API = (1, 39)
BUILDKIT_FIX = (
    "build on a Linux engine with BuildKit (Docker Engine 18.09 or later; 23.0 and later "
    "build with it by default): the generated Dockerfiles use its cache and bind mounts"
)
PULL_FIX = "check the registry answers and that `docker login` holds its credentials"


def _quiet(_member: str, _line: str) -> None:
    """The default progress sink: ws core never prints."""


@contextmanager
def engine_errors(
    subject: str,
    action: str,
    refused: type[WsError] = BuildFailed,
    fix: str | None = None,
) -> Iterator[None]:
    """docker-py's and requests' errors as ws errors: the engine refusing (refused, with
    fix), or no engine to ask (DockerUnavailable)."""
    try:
        yield
    except docker.errors.APIError as e:
        raise refused(
            f"{subject}: the engine refused to {action}: {e.explanation or e}", fix=fix
        ) from e
    except (docker.errors.DockerException, requests.exceptions.RequestException) as e:
        raise DockerUnavailable(
            f"{subject}: lost the Docker engine while trying to {action}: {e}", fix=ENGINE_FIX
        ) from e


def connect(make_client: Callable[[], docker.DockerClient]) -> docker.DockerClient:
    """The client make_client returns, once its engine has answered and has BuildKit (asked
    once: an EngineClient brings the answer it was made with)."""
    try:
        client = make_client()
        answer = client.answer if isinstance(client, EngineClient) else None
        version = answer if answer is not None else client.version()
    except WsError:
        raise
    except (docker.errors.DockerException, requests.exceptions.RequestException) as e:
        raise DockerUnavailable(f"no Docker engine answers: {e}", fix=ENGINE_FIX) from e
    require_buildkit(version)
    return client


def require_buildkit(version: Mapping[str, Any]) -> None:
    """Refuse an engine (its /version answer) whose /build cannot run BuildKit."""
    raw = str(version.get("ApiVersion", "0.0"))
    try:
        api: tuple[int, ...] = tuple(int(p) for p in raw.split(".")[:2])
    except ValueError:
        api = ()
    system = str(version.get("Os", "?"))
    if system != "linux" or api < BUILDKIT_API:
        raise DockerUnavailable(
            f"the Docker engine ({system}, API {raw}) cannot build with BuildKit",
            fix=BUILDKIT_FIX,
        )


def build(
    client: docker.DockerClient,
    member: str,
    context: IO[bytes],
    params: Mapping[str, str],
    progress: Progress = _quiet,
) -> tuple[str, list[Step]]:
    """POST /build with version=2 and params; (image id, steps). docker-py's build() cannot
    ask for BuildKit, so the request goes through its session: the same transport, TLS
    settings and API version."""
    api = client.api
    log = BuildKitLog(member, progress)
    with engine_errors(member, "build"):
        response = api.post(
            f"{api.base_url}/v{api.api_version}/build",
            params={"version": "2", **params},
            data=context,
            headers={"Content-Type": "application/x-tar"},
            stream=True,
            timeout=None,  # a RUN step may stay silent for longer than any read timeout
        )
        with response:
            if response.status_code >= 400:
                raise BuildFailed(f"{member}: the engine refused the build: {_message(response)}")
            image_id = log.consume(_events(member, response))
    return image_id, log.steps


def build_params(
    dockerfile: str,
    *,
    buildargs: Mapping[str, str],
    labels: Mapping[str, str],
    tags: Sequence[str] = (),
    target: str | None = None,
    cache_from: Sequence[str] = (),
    no_cache: bool = False,
) -> dict[str, Any]:
    """The /build query of a ws build: the host network (no bridge), and the inline cache so
    that any pushed image can seed another engine's cache."""
    params: dict[str, Any] = {
        "dockerfile": dockerfile,
        "networkmode": "host",
        "nocache": "1" if no_cache else "0",
        "buildargs": json.dumps({"BUILDKIT_INLINE_CACHE": "1", **buildargs}),
        "labels": json.dumps(dict(labels)),
    }
    if tags:
        params["t"] = list(tags)
    if target:
        params["target"] = target
    if cache_from:
        params["cachefrom"] = json.dumps(list(cache_from))
    return params


def _events(member: str, response: requests.Response) -> Iterator[dict[str, Any]]:
    for line in response.iter_lines():
        if not line.strip():
            continue
        try:
            yield json.loads(line)
        except ValueError as e:
            raise BuildFailed(f"{member}: unreadable build event from the engine: {e}") from e


def _message(response: requests.Response) -> str:
    try:
        return str(response.json().get("message") or response.text)
    except ValueError:
        return response.text.strip() or f"HTTP {response.status_code}"


def pull_missing(
    client: docker.DockerClient,
    refs: Sequence[str],
    progress: Progress = _quiet,
    *,
    required: bool = True,
) -> list[str]:
    """Pull, through the Engine API, each of refs the engine does not hold; those it holds
    now. A ref that cannot be pulled is an error when required, else left out.

    BuildKit inside the engine has no client session to ask for registry credentials, so it
    pulls anonymously; docker-py's pull sends the user's credentials, and BuildKit then finds
    the image locally.
    """
    held = []
    for ref in refs:
        with engine_errors(ref, "look the image up"):
            try:
                client.api.inspect_image(ref)
                held.append(ref)
                continue
            except docker.errors.ImageNotFound:
                pass
        progress("ws", f"pulling {ref}")
        try:
            with engine_errors(ref, "pull the image", RegistryError, PULL_FIX):
                for event in client.api.pull(ref, stream=True, decode=True):
                    if is_error(event):
                        raise docker.errors.APIError(error_text(event))
        except RegistryError:
            if required:
                raise
            progress("ws", f"no {ref} to take a cache from: building without it")
            continue
        held.append(ref)
    return held


def push(client: docker.DockerClient, member: str, ref: str, progress: Progress = _quiet) -> str:
    """Push ref; the manifest digest the registry gave it."""
    parsed = imageref.parse_image_ref(ref)
    fix = "check the registry address in [tool.ws.docker] and that it accepts pushes"
    with engine_errors(member, f"push {ref}", RegistryError, fix):
        events = client.api.push(parsed.name, tag=parsed.tag, stream=True, decode=True)
        return PushLog(ref, member, progress).consume(events)

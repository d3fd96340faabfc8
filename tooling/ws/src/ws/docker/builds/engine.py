"""Everything ws asks the Docker engine, and the one place its errors become ws errors.

Builds go to the engine's BuildKit (POST /build with version=2): the generated Dockerfiles
use its cache and bind mounts, which the classic builder cannot run.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import IO, Any

import docker
import docker.errors
import requests
from docker.constants import MINIMUM_DOCKER_API_VERSION

from ws.docker.builds.buildkit import BuildKitLog
from ws.docker.builds.endpoint import (
    API_VERSION,
    Endpoint,
    json_kind,
    make_client,
    require_client,
    unanswered_fix,
)
from ws.docker.builds.stream import Progress, PushLog, Step
from ws.docker.pin.imageref import ImageRef
from ws.errors import BuildFailed, DockerUnavailable, RegistryError, WsError
from ws.printable import printable
from ws.registry.logins import HUB_HOST

# The first Engine API version whose /build runs BuildKit when asked (version=2).
BUILDKIT_API = (1, 39)
BUILDKIT_FIX = (
    "build on a Linux engine with BuildKit (Docker Engine 18.09 or later; 23.0 and later "
    "build with it by default): the generated Dockerfiles use its cache and bind mounts"
)
ENGINE_FIX = "check the engine is running, then run again"
NONSENSE_FIX = (
    "check that DOCKER_HOST or the docker context names a Docker engine, and that nothing "
    "between ws and it alters its answers"
)
PULL_FIX = "check the registry answers and that `docker login` holds its credentials"


class EngineNonsense(Exception):
    """An answer the Engine API never gives: ws refuses to guess what it meant."""


def _quiet(_member: str, _line: str) -> None:
    """The default progress sink: ws core never prints."""


@contextmanager
def engine_errors(
    subject: str,
    action: str,
    refused: type[WsError] = BuildFailed,
    fix: str | None = None,
    *,
    lost: str | None = None,
    lost_fix: str = ENGINE_FIX,
) -> Iterator[None]:
    """docker-py's and requests' errors, and answers no engine gives, as ws errors: the
    engine refusing (refused, with fix), no engine to ask or lost on the way (lost, else
    "lost the Docker engine", with lost_fix), or nonsense (DockerUnavailable)."""
    try:
        yield
    except EngineNonsense as e:
        raise DockerUnavailable(
            f"{subject}: not a Docker engine's answer when asked to {action}: {e}",
            fix=NONSENSE_FIX,
        ) from e
    except docker.errors.APIError as e:
        raise refused(
            f"{subject}: the engine refused to {action}: {e.explanation or e}", fix=fix
        ) from e
    except (docker.errors.DockerException, requests.exceptions.RequestException) as e:
        what = lost or f"{subject}: lost the Docker engine while trying to {action}"
        raise DockerUnavailable(f"{what}: {e}", fix=lost_fix) from e


def connect(endpoint: Endpoint, *, timeout: float = 60) -> docker.DockerClient:
    """A client of endpoint's engine once it has answered /version as a Linux engine that
    builds with BuildKit. Its API version is DOCKER_API_VERSION's, else the engine's; the
    engine is asked once (docker-py's "auto" would keep only ApiVersion, and ws needs Os)."""
    require_client(endpoint)
    version = endpoint.api_version
    with engine_errors(
        str(endpoint),
        "tell its version",
        DockerUnavailable,
        NONSENSE_FIX,
        lost=f"no Docker engine answers at {endpoint}",
        lost_fix=unanswered_fix(endpoint),
    ):
        answer = _version_answer(endpoint, version or MINIMUM_DOCKER_API_VERSION, timeout)
    require_buildkit(answer, version)
    return _client(endpoint, version or answer["ApiVersion"], timeout)


def _version_answer(endpoint: Endpoint, api_version: str, timeout: float) -> dict[str, Any]:
    """The engine's unversioned /version answer, checked (docker-py's "auto" does not check
    it); a client with an explicit version makes no request until asked."""
    probe = _client(endpoint, api_version, timeout)
    try:
        return _checked_version(probe.api.version(api_version=False))
    finally:
        probe.close()


def _client(endpoint: Endpoint, api_version: str, timeout: float) -> docker.DockerClient:
    client = make_client(endpoint, api_version, timeout)
    client.api.hooks["response"].append(_error_object)
    return client


def _error_object(response: requests.Response, *_args: Any, **_kwargs: Any) -> None:
    """Refuse an error answer whose JSON is not the API's {"message": "..."}: docker-py reads
    it as one (errors.create_api_error_from_http_exception) and fails with a TypeError or a
    KeyError otherwise. An error answer that is not JSON, docker-py quotes as text."""
    if response.status_code < 400:
        return
    try:
        body = response.json()
    except ValueError:
        return
    if not isinstance(body, dict) or not isinstance(body.get("message"), str):
        shape = "an object without a message" if isinstance(body, dict) else json_kind(body)
        raise EngineNonsense(f"HTTP {response.status_code} with {shape} for its error")


def _checked_version(answer: object) -> dict[str, Any]:
    """The engine's /version answer, checked to be an object with an ApiVersion ws can use."""
    if not isinstance(answer, dict):
        raise EngineNonsense(f"/version answered {json_kind(answer)}, not an object")
    if "ApiVersion" not in answer:
        raise EngineNonsense("/version gave no ApiVersion")
    api = answer["ApiVersion"]
    if not isinstance(api, str) or not API_VERSION.fullmatch(api):
        raise EngineNonsense(
            f"/version gave ApiVersion {printable(json.dumps(api))}, not an API version "
            "such as 1.41"
        )
    return answer


def require_buildkit(version: Mapping[str, Any], chosen: str | None = None) -> None:
    """Refuse an engine (its checked /version answer) whose /build cannot run BuildKit, or
    an API version chosen by DOCKER_API_VERSION whose /build cannot ask for it."""
    raw = str(version["ApiVersion"])
    system = printable(str(version.get("Os", "?")))
    if system != "linux" or _api(raw) < BUILDKIT_API:
        raise DockerUnavailable(
            f"the Docker engine ({system}, API {raw}) cannot build with BuildKit",
            fix=BUILDKIT_FIX,
        )
    if chosen is not None and _api(chosen) < BUILDKIT_API:
        raise DockerUnavailable(
            f"DOCKER_API_VERSION is {chosen}, older than API 1.39, the first whose /build "
            "runs BuildKit",
            fix="unset DOCKER_API_VERSION, or set it to 1.39 or later",
        )


def _api(text: str) -> tuple[int, int]:
    major, minor = text.split(".")
    return int(major), int(minor)


def build(
    client: docker.DockerClient,
    member: str,
    context: IO[bytes],
    params: Mapping[str, str],
    progress: Progress = _quiet,
    answered: Callable[[], None] = lambda: None,
) -> tuple[str, list[Step]]:
    """POST /build with version=2 and params; (image id, steps). docker-py's build() cannot
    ask for BuildKit, so the request goes through its session: the same transport, TLS
    settings and API version. answered hears when the engine has taken the context and
    started the build."""
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
                raise BuildFailed(
                    f"{member}: the engine refused the build: {_message(response)}",
                    fix="correct what the engine says, then build again",
                )
            answered()
            image_id = log.consume(_events(response))
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
    session: str | None = None,
) -> dict[str, Any]:
    """The /build query of a ws build: the host network (no bridge), the inline cache so
    that any pushed image can seed another engine's cache, and the BuildKit session the
    build's secrets, ssh agent and registry logins come through."""
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
    if session:
        params["session"] = session
    return params


def _events(response: requests.Response) -> Iterator[dict[str, Any]]:
    lines = (line for line in response.iter_lines() if line.strip())
    return _objects(map(json.loads, lines), "a build event")


def _objects(events: Iterable[Any], what: str) -> Iterator[dict[str, Any]]:
    """events, each checked to be a JSON object: the Engine API streams nothing else."""
    iterator = iter(events)
    while True:
        try:
            event = next(iterator)
        except StopIteration:
            return
        except ValueError as e:  # json's (or docker-py's) decoder on text that is not JSON
            raise EngineNonsense(f"{what} that is not JSON ({e})") from e
        if not isinstance(event, dict):
            raise EngineNonsense(f"{what} that is {json_kind(event)}, not an object")
        yield event


def _message(response: requests.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text.strip() or f"HTTP {response.status_code}"
    message = body.get("message") if isinstance(body, dict) else None
    return str(message) if message else response.text.strip()


def in_registry(
    client: docker.DockerClient,
    refs: Sequence[ImageRef],
    progress: Progress = _quiet,
    logins: Callable[[str], tuple[str, str] | None] | None = None,
) -> list[ImageRef]:
    """Those of refs their registry holds, asked through the engine without a pull (GET
    /distribution/NAME/json) with the login logins gives for the registry (the one the
    build session hands BuildKit); a missing one is left out with a line saying so.
    BuildKit then takes from the registry only the layers the build can reuse."""
    found = []
    for ref in refs:
        login = logins(ref.registry or HUB_HOST) if logins else None
        try:
            with engine_errors(
                str(ref), "look the image up in its registry", RegistryError, PULL_FIX
            ):
                client.api.inspect_distribution(str(ref), auth_config=_auth_config(login))
        except RegistryError:
            progress("ws", f"no {ref} to take a cache from: building without it")
            continue
        found.append(ref)
    return found


def _auth_config(login: tuple[str, str] | None) -> dict[str, str] | None:
    """docker-py's auth_config of a login: an identity token has no username."""
    if login is None:
        return None
    username, secret = login
    return {"username": username, "password": secret} if username else {"identitytoken": secret}


def push(
    client: docker.DockerClient, member: str, ref: ImageRef, progress: Progress = _quiet
) -> str:
    """Push ref; the manifest digest the registry gave it."""
    fix = "check the registry address in [tool.ws.docker] and that it accepts pushes"
    with engine_errors(member, f"push {ref}", RegistryError, fix):
        events = client.api.push(ref.name, tag=ref.tag, stream=True, decode=True)
        return PushLog(str(ref), member, progress).consume(_objects(events, "a push event"))

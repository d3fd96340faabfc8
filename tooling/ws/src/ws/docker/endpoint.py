"""Which Docker engine ws talks to, and how, chosen as the docker CLI chooses: DOCKER_HOST with
its TLS variables, else the docker context named by DOCKER_CONTEXT or by config.json."""

from __future__ import annotations

import hashlib
import importlib.util
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import docker
import docker.errors
import docker.tls
import docker.utils
import requests.exceptions
from docker.constants import MINIMUM_DOCKER_API_VERSION

from ws.errors import DockerUnavailable

DEFAULT_SOCKET = "unix:///var/run/docker.sock"
DEFAULT_TLS_HOST = "tcp://localhost:2376"  # the CLI's host when TLS is on and no host is named
DEFAULT_TCP_PORT = 2375  # the CLI's port for a tcp:// host without one, TLS or not
HOST_FORMS = "unix:///PATH, tcp://HOST:PORT or ssh://[USER@]HOST[:PORT]"


@dataclass(frozen=True)
class Tls:
    """TLS towards a tcp:// engine: verify the server (against ca, else the system's CAs),
    and present cert = (cert.pem, key.pem) when there is one."""

    verify: bool
    ca: Path | None = None
    cert: tuple[Path, Path] | None = None


@dataclass(frozen=True)
class Endpoint:
    """An engine address in docker-py's form, where the choice came from, and how to talk."""

    host: str
    source: str
    tls: Tls | None = None
    api_version: str | None = None

    def __str__(self) -> str:
        how = ""
        if self.tls is not None:
            how = "TLS, " if self.tls.verify else "TLS without verification, "
        return f"{self.host} ({how}from {self.source})"


def engine_client(
    environ: Mapping[str, str], config_dir: Path | None = None, *, timeout: float = 60
) -> EngineClient:
    """A client of the engine the docker CLI would use with environ (and config_dir for
    $DOCKER_CONFIG). Unless DOCKER_API_VERSION is set, ws asks the engine its version here,
    so an engine that does not answer fails here as DockerUnavailable."""
    endpoint = resolve(environ, config_dir)
    if endpoint.host.startswith("ssh://") and importlib.util.find_spec("paramiko") is None:
        raise DockerUnavailable(
            f"cannot reach {endpoint}: docker-py imports paramiko for every ssh:// host, "
            "even when it runs the ssh program",
            fix="install ws with its ssh extra (uv tool install 'ws-monorepo[ssh]'), or "
            "forward the engine's socket: ssh -nNT -L /tmp/docker.sock:/var/run/docker.sock "
            "HOST, then DOCKER_HOST=unix:///tmp/docker.sock",
        )
    try:
        return _client(endpoint, timeout)
    except (docker.errors.DockerException, requests.exceptions.RequestException) as e:
        raise DockerUnavailable(
            f"no Docker engine answers at {endpoint}: {e}", fix=_unanswered_fix(endpoint)
        ) from e


def _unanswered_fix(endpoint: Endpoint) -> str:
    if not endpoint.host.startswith("ssh://"):
        return "start that engine, or point DOCKER_HOST or DOCKER_CONTEXT at one that runs"
    parts = urlsplit(endpoint.host)
    port = f"-p {parts.port} " if parts.port else ""
    user = f"{parts.username}@" if parts.username else ""
    return (
        f"make `ssh {port}{user}{parts.hostname} docker version` answer: ws runs the ssh "
        "program as the docker CLI does, and the remote user needs the docker CLI and the "
        "engine's socket"
    )


class EngineClient(docker.DockerClient):
    """docker-py's client, holding the engine's /version answer from the request that chose
    its API version (None when DOCKER_API_VERSION chose it), so that ws asks it once."""

    def __init__(self, answer: Mapping[str, Any] | None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.answer = dict(answer) if answer is not None else None


def _client(endpoint: Endpoint, timeout: float) -> EngineClient:
    """docker-py's client of endpoint, its API version the engine's unless DOCKER_API_VERSION
    names one (what docker-py's "auto" does, but keeping the whole answer)."""
    args = client_arguments(endpoint)
    answer = None
    if args["version"] == "auto":
        probe = _made(args | {"version": MINIMUM_DOCKER_API_VERSION}, endpoint, timeout, None)
        try:
            answer = probe.api.version(api_version=False)
        finally:
            probe.close()
        args["version"] = str(answer.get("ApiVersion") or MINIMUM_DOCKER_API_VERSION)
    return _made(args, endpoint, timeout, answer)


def _made(
    args: Mapping[str, Any], endpoint: Endpoint, timeout: float, answer: Mapping[str, Any] | None
) -> EngineClient:
    """Towards TLS, requests must not read the environment: it lets REQUESTS_CA_BUNDLE or
    CURL_CA_BUNDLE replace the session's CA and verify=False (and the CLI sends TLS to an
    engine through no proxy)."""
    client = EngineClient(answer, **args, timeout=timeout)
    if endpoint.tls is not None:
        client.api.trust_env = False
    return client


def describe(environ: Mapping[str, str], config_dir: Path | None = None) -> str:
    """Where ws will connect, for messages: 'tcp://127.0.0.1:2376 (TLS, from DOCKER_HOST)'."""
    return str(resolve(environ, config_dir))


def client_arguments(endpoint: Endpoint) -> dict[str, Any]:
    """docker.DockerClient's keyword arguments for endpoint."""
    args: dict[str, Any] = {"base_url": endpoint.host, "version": endpoint.api_version or "auto"}
    if endpoint.tls is not None:
        tls = endpoint.tls
        args["tls"] = docker.tls.TLSConfig(
            client_cert=(str(tls.cert[0]), str(tls.cert[1])) if tls.cert else None,
            ca_cert=str(tls.ca) if tls.ca else None,
            verify=tls.verify,
        )
    if endpoint.host.startswith("ssh://"):
        args["use_ssh_client"] = True  # the ssh program and its config, as the CLI does
    return args


def resolve(environ: Mapping[str, str], config_dir: Path | None = None) -> Endpoint:
    """The engine for environ: DOCKER_HOST, else DOCKER_CONTEXT, else currentContext in
    config.json, else the default context (cli/command/cli.go, resolveContextName)."""
    config = config_dir or default_config_dir(environ)
    version = environ.get("DOCKER_API_VERSION") or None
    if environ.get("DOCKER_HOST"):
        return _from_variables(environ, config, version, "DOCKER_HOST")
    name, source = _context_name(environ, config)
    if name == "default":
        return _from_variables(environ, config, version, "the default context")
    return _from_context(name, source, config, version)


def default_config_dir(environ: Mapping[str, str]) -> Path:
    """$DOCKER_CONFIG, else ~/.docker."""
    if environ.get("DOCKER_CONFIG"):
        return Path(environ["DOCKER_CONFIG"])
    home = environ.get("HOME")
    return (Path(home) if home else Path.home()) / ".docker"


# ---------------------------------------------------------------- DOCKER_HOST and its TLS


def _from_variables(
    environ: Mapping[str, str], config: Path, version: str | None, source: str
) -> Endpoint:
    """The CLI's default context: TLS when DOCKER_TLS_VERIFY or DOCKER_TLS is non-empty (a
    DOCKER_CERT_PATH alone does not turn it on), verified when DOCKER_TLS_VERIFY is."""
    verify = bool(environ.get("DOCKER_TLS_VERIFY"))
    use_tls = verify or bool(environ.get("DOCKER_TLS"))
    host = _normal_host(environ.get("DOCKER_HOST", ""), use_tls, "DOCKER_HOST")
    if not (use_tls and host.startswith("tcp://")):
        return Endpoint(host, source, None, version)
    cert_dir = Path(environ.get("DOCKER_CERT_PATH") or config)
    ca = cert_dir / "ca.pem"
    if verify and not ca.is_file():
        raise DockerUnavailable(
            f"DOCKER_TLS_VERIFY is set but there is no CA certificate {ca}",
            fix="put ca.pem, cert.pem and key.pem in DOCKER_CERT_PATH, or unset DOCKER_TLS_VERIFY",
        )
    cert = _client_cert(cert_dir, "DOCKER_CERT_PATH")
    return Endpoint(host, source, Tls(verify, ca if verify else None, cert), version)


def _client_cert(folder: Path, where: str) -> tuple[Path, Path] | None:
    """(cert.pem, key.pem) in folder, None when neither is there; one without the other is
    an error (the CLI would quietly connect without a client certificate)."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    if cert.is_file() and key.is_file():
        return cert, key
    if cert.is_file() or key.is_file():
        missing = key if cert.is_file() else cert
        raise DockerUnavailable(
            f"{where}: {missing} is missing, so the client certificate cannot be used",
            fix=f"put both cert.pem and key.pem in {folder}, or neither",
        )
    return None


def _normal_host(text: str, use_tls: bool, where: str) -> str:
    """text as a host docker-py takes, with the CLI's defaults (cli/opts/hosts.go): a bare path
    is a unix socket, a bare address is tcp, a tcp address without a port gets 2375."""
    text = text.strip()
    if not text:
        return DEFAULT_TLS_HOST if use_tls else DEFAULT_SOCKET
    if "://" not in text:
        text = ("unix://" if text.startswith(("/", "./")) else "tcp://") + text
    scheme = text.split("://", 1)[0]
    try:
        if scheme not in ("unix", "tcp", "ssh"):
            raise ValueError(f"ws cannot connect through {scheme}://")
        if scheme == "tcp":
            text = _with_port(text)
        docker.utils.parse_host(text, tls=use_tls)
    except (ValueError, docker.errors.DockerException) as e:
        raise DockerUnavailable(
            f"{where}: {text!r} is not a Docker engine address: {e}",
            fix=f"write it as {HOST_FORMS}",
        ) from e
    return text


def _with_port(text: str) -> str:
    parts = urlsplit(text)
    if not parts.hostname:
        raise ValueError("no host")
    if parts.port is None:  # parts.port raises ValueError for a port that is not a number
        return f"tcp://{parts.netloc}:{DEFAULT_TCP_PORT}{parts.path}"
    return text


# ---------------------------------------------------------------- docker contexts


def _context_name(environ: Mapping[str, str], config: Path) -> tuple[str, str]:
    """The context's name and what named it."""
    if environ.get("DOCKER_CONTEXT"):
        return environ["DOCKER_CONTEXT"], "DOCKER_CONTEXT"
    path = config / "config.json"
    current = _read_json(path, "the docker CLI's configuration").get("currentContext")
    if current in (None, ""):
        return "default", "the default context"
    if not isinstance(current, str):
        raise DockerUnavailable(
            f"{path}: currentContext is {current!r}, not a context name",
            fix="run `docker context use NAME` with a name from `docker context ls`",
        )
    return current, f"currentContext in {path}"


def _from_context(name: str, source: str, config: Path, version: str | None) -> Endpoint:
    """The docker endpoint of context name, as `docker context create` stores it:
    contexts/meta/<sha256 of name>/meta.json, TLS files in contexts/tls/<sha256>/docker/."""
    digest = hashlib.sha256(name.encode()).hexdigest()
    meta_path = config / "contexts" / "meta" / digest / "meta.json"
    if not meta_path.is_file():
        fix = "run `docker context use NAME` with a NAME that `docker context ls` lists"
        if source == "DOCKER_CONTEXT":
            fix = "set DOCKER_CONTEXT to a context that `docker context ls` lists, or unset it"
        raise DockerUnavailable(
            f"docker context {name!r} (from {source}) does not exist: no {meta_path}", fix=fix
        )
    meta = _read_json(meta_path, f"docker context {name!r}")
    endpoints = meta.get("Endpoints")
    docker_endpoint = endpoints.get("docker") if isinstance(endpoints, dict) else None
    if not isinstance(docker_endpoint, dict):
        docker_endpoint = {}  # a context without a docker endpoint: the CLI's default host
    where = f"docker context {name!r} ({meta_path})"
    host = _normal_host(str(docker_endpoint.get("Host") or ""), False, where)
    tls = None
    if host.startswith("tcp://"):
        tls = _context_tls(config / "contexts" / "tls" / digest / "docker", docker_endpoint, where)
    return Endpoint(host, f"docker context {name!r}", tls, version)


def _context_tls(folder: Path, endpoint: Mapping[str, Any], where: str) -> Tls | None:
    """TLS when the context holds TLS files or skips verification (cli/context/docker/load.go):
    its ca.pem, else the system's CAs; its client certificate when it has one."""
    skip = bool(endpoint.get("SkipTLSVerify", False))
    ca = folder / "ca.pem"
    cert = _client_cert(folder, where)
    if not skip and cert is None and not ca.is_file():
        return None
    return Tls(not skip, ca if ca.is_file() else None, cert)


def _read_json(path: Path, what: str) -> dict[str, Any]:
    """path's JSON object; {} when path does not exist."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as e:
        raise DockerUnavailable(
            f"cannot read {what} {path}: {e}",
            fix="correct or remove the file, or name the engine with DOCKER_HOST",
        ) from e
    if not isinstance(data, dict):
        raise DockerUnavailable(
            f"{path}: {what} is not a JSON object",
            fix="correct or remove the file, or name the engine with DOCKER_HOST",
        )
    return data

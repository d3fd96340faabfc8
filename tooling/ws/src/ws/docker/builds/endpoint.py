"""Which Docker engine ws talks to, and how, chosen as the docker CLI chooses: DOCKER_HOST with
its TLS variables, else the docker context named by DOCKER_CONTEXT or by config.json."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import docker
import docker.errors
import docker.tls
import docker.utils

from ws.errors import ConfigError, DockerUnavailable
from ws.printable import printable

DEFAULT_SOCKET = "unix:///var/run/docker.sock"
DEFAULT_TLS_HOST = "tcp://localhost:2376"  # the CLI's host when TLS is on and no host is named
DEFAULT_TCP_PORT = 2375  # the CLI's port for a tcp:// host without one, TLS or not
HOST_FORMS = "unix:///PATH, tcp://HOST:PORT or ssh://[USER@]HOST[:PORT]"
API_VERSION = re.compile(r"[0-9]+\.[0-9]+")  # what docker-py can compare: "1.41"
T = TypeVar("T")
CONTEXT_FIX = "correct the file, or make the context again with `docker context create`"


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


def require_client(endpoint: Endpoint) -> None:
    """Refuse an ssh:// endpoint when paramiko is missing: docker-py imports it for every
    ssh:// host, even when it runs the ssh program."""
    if endpoint.host.startswith("ssh://") and importlib.util.find_spec("paramiko") is None:
        raise DockerUnavailable(
            f"cannot reach {endpoint}: docker-py imports paramiko for every ssh:// host, "
            "even when it runs the ssh program",
            fix="install ws with its ssh extra (uv tool install 'ws-monorepo[ssh]'), or "
            "forward the engine's socket: ssh -nNT -L /tmp/docker.sock:/var/run/docker.sock "
            "HOST, then DOCKER_HOST=unix:///tmp/docker.sock",
        )


def unanswered_fix(endpoint: Endpoint) -> str:
    """What to do when no engine answers at endpoint."""
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


def make_client(endpoint: Endpoint, api_version: str, timeout: float) -> docker.DockerClient:
    """docker-py's client of endpoint at api_version. Towards TLS, requests must not read the
    environment: it lets REQUESTS_CA_BUNDLE or CURL_CA_BUNDLE replace the session's CA and
    verify=False (and the CLI sends TLS to an engine through no proxy)."""
    client = docker.DockerClient(**client_arguments(endpoint), version=api_version, timeout=timeout)
    if endpoint.tls is not None:
        client.api.trust_env = False
    return client


def client_arguments(endpoint: Endpoint) -> dict[str, Any]:
    """docker.DockerClient's keyword arguments for endpoint, but for the API version."""
    args: dict[str, Any] = {"base_url": endpoint.host}
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
    version = _api_version(environ.get("DOCKER_API_VERSION") or None)
    if environ.get("DOCKER_HOST"):
        return _from_variables(environ, config, version, "DOCKER_HOST")
    name, source = _context_name(environ, config)
    if name == "default":
        return _from_variables(environ, config, version, "the default context")
    return _from_context(name, source, config, version)


def _api_version(text: str | None) -> str | None:
    if text is None or API_VERSION.fullmatch(text):
        return text
    raise DockerUnavailable(
        f"DOCKER_API_VERSION is {printable(repr(text))}, not an Engine API version such as 1.41",
        fix="set it to the engine's API version (`docker version` shows it), or unset it "
        "to let ws ask the engine",
    )


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
            f"{path}: currentContext is {printable(repr(current))}, not a context name",
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
    where = f"docker context {name!r} ({meta_path})"
    fields = _docker_endpoint(meta, meta_path, name)
    host = _normal_host(_typed(fields, "Host", str, "", meta_path, name), False, where)
    skip = _typed(fields, "SkipTLSVerify", bool, False, meta_path, name)  # typed for any host
    tls = None
    if host.startswith("tcp://"):
        tls = _context_tls(config / "contexts" / "tls" / digest / "docker", skip, where)
    return Endpoint(host, f"docker context {name!r}", tls, version)


# The docker CLI reads meta.json with Go's encoding/json into typed fields
# (cli/context/store/metadatastore.go, cli/context/endpoint.go): a field's key matches
# whatever its case, null leaves the zero value, and a value of another type is an error,
# never a guess. A context without a docker endpoint is an error too (EndpointFromContext).


def _docker_endpoint(meta: Mapping[str, Any], path: Path, name: str) -> dict[str, Any]:
    """The fields of the context's docker endpoint, `Endpoints.docker`."""
    endpoints = _typed(meta, "Endpoints", dict, {}, path, name)
    docker_endpoint = endpoints.get("docker")  # a map key: matched exactly, as in Go
    if not isinstance(docker_endpoint, dict):
        found = "none" if "docker" not in endpoints else json_kind(docker_endpoint)
        raise ConfigError(
            path,
            f"docker context {name!r}: `Endpoints.docker` is {found}, not the docker "
            "endpoint's object (the docker CLI refuses this context too)",
            fix=CONTEXT_FIX,
        )
    return docker_endpoint


def _typed(fields: Mapping[str, Any], key: str, kind: type[T], zero: T, path: Path, name: str) -> T:
    """fields' key (a struct field, so any case) as kind; zero when absent or null."""
    found = [v for k, v in fields.items() if k.lower() == key.lower()]
    value = found[-1] if found else None  # as in Go, the last of several wins
    if value is None:
        return zero
    if isinstance(value, kind) and (kind is bool or not isinstance(value, bool)):
        return value
    want = {str: "a string", bool: "true or false", dict: "an object"}.get(kind, kind.__name__)
    raise ConfigError(
        path,
        f"docker context {name!r}: `{_field_path(key)}` is {json_kind(value)} "
        f"{printable(json.dumps(value))}, not {want} (the docker CLI refuses this context too)",
        fix=CONTEXT_FIX,
    )


def _field_path(key: str) -> str:
    return key if key == "Endpoints" else f"Endpoints.docker.{key}"


def json_kind(value: object) -> str:
    """What a JSON value is, for messages: "a list", "a number", "null"..."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    kinds = {dict: "an object", list: "a list", str: "a string", int: "a number", float: "a number"}
    return kinds.get(type(value), type(value).__name__)


def _context_tls(folder: Path, skip: bool, where: str) -> Tls | None:
    """TLS when the context holds TLS files or skips verification (cli/context/docker/load.go):
    its ca.pem, else the system's CAs; its client certificate when it has one."""
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

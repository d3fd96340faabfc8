"""ws.docker.builds.endpoint: which engine ws talks to, chosen as the docker CLI chooses. Unit
tests on
config folders written in the CLI's on-disk format; then, with the engine, a TLS endpoint on
loopback that requires client certificates (a proxy to the engine's socket), through which a
BuildKit build runs and which the docker CLI and ws reach, or fail to reach, alike."""

from __future__ import annotations

import hashlib
import json
import os
import select
import shutil
import socket
import ssl
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
import pytest
from ws.docker.builds.endpoint import (
    CONTEXT_FIX,
    DEFAULT_SOCKET,
    Endpoint,
    Tls,
    client_arguments,
    resolve,
)
from ws.docker.builds.engine import connect
from ws.docker.pin.imageref import parse_image_ref
from ws.docker.pin.registry import resolve_digest
from ws.errors import ConfigError, DockerUnavailable, RegistryError

from tests.support.buildctx import tar_of
from tests.support.images import remove_labelled, run_image
from tests.support.loopback_images import SEED_PYTHON

# ---------------------------------------------------------------- the CLI's files


def write_context(
    config: Path,
    name: str,
    host: str,
    *,
    skip_tls_verify: bool = False,
    tls_from: Path | None = None,
) -> None:
    """A context as `docker context create` stores it (checked against docker 28 below):
    meta.json under the sha256 of its name, TLS files beside it under contexts/tls."""
    digest = hashlib.sha256(name.encode()).hexdigest()
    meta = config / "contexts" / "meta" / digest / "meta.json"
    meta.parent.mkdir(parents=True)
    endpoint = {"Host": host, "SkipTLSVerify": skip_tls_verify}
    meta.write_text(json.dumps({"Name": name, "Metadata": {}, "Endpoints": {"docker": endpoint}}))
    if tls_from is not None:
        folder = config / "contexts" / "tls" / digest / "docker"
        folder.mkdir(parents=True)
        for pem in tls_from.glob("*.pem"):
            shutil.copy(pem, folder / pem.name)


def use_context(config: Path, name: str) -> None:
    config.mkdir(parents=True, exist_ok=True)
    (config / "config.json").write_text(json.dumps({"auths": {}, "currentContext": name}))


def pem_folder(folder: Path, *names: str) -> Path:
    """A folder holding placeholder files with the given names (enough for resolution)."""
    folder.mkdir(parents=True)
    for name in names:
        (folder / name).write_text("placeholder\n")
    return folder


# ---------------------------------------------------------------- precedence


def test_docker_host_wins_over_docker_context_and_current_context(tmp_path: Path) -> None:
    write_context(tmp_path, "named", "tcp://127.0.0.1:1")
    use_context(tmp_path, "named")
    env = {"DOCKER_HOST": "tcp://127.0.0.1:2375", "DOCKER_CONTEXT": "named"}

    endpoint = resolve(env, tmp_path)

    assert endpoint == Endpoint("tcp://127.0.0.1:2375", "DOCKER_HOST")


def test_docker_context_wins_over_current_context(tmp_path: Path) -> None:
    write_context(tmp_path, "by-variable", "tcp://127.0.0.1:2375")
    write_context(tmp_path, "by-config", "tcp://127.0.0.1:2376")
    use_context(tmp_path, "by-config")

    endpoint = resolve({"DOCKER_CONTEXT": "by-variable"}, tmp_path)

    assert endpoint.host == "tcp://127.0.0.1:2375"
    assert endpoint.source == "docker context 'by-variable'"


def test_current_context_is_read_from_docker_config_when_no_variable_names_one(
    tmp_path: Path,
) -> None:
    config = tmp_path / "cfg"
    write_context(config, "remote", "ssh://builder@127.0.0.1")
    use_context(config, "remote")

    assert resolve({"DOCKER_CONFIG": str(config)}).host == "ssh://builder@127.0.0.1"
    assert resolve({"HOME": str(tmp_path)}, config).host == "ssh://builder@127.0.0.1"


def test_without_variables_or_config_the_engine_is_the_local_socket(tmp_path: Path) -> None:
    assert resolve({"HOME": str(tmp_path)}) == Endpoint(DEFAULT_SOCKET, "the default context")


def test_the_context_named_default_is_the_local_socket(tmp_path: Path) -> None:
    use_context(tmp_path, "default")

    assert resolve({"DOCKER_CONTEXT": "default"}, tmp_path).host == DEFAULT_SOCKET
    assert resolve({}, tmp_path).host == DEFAULT_SOCKET


# ---------------------------------------------------------------- DOCKER_HOST and TLS


def test_tls_verify_takes_ca_cert_and_key_from_docker_cert_path(tmp_path: Path) -> None:
    certs = pem_folder(tmp_path / "certs", "ca.pem", "cert.pem", "key.pem")
    env = {
        "DOCKER_HOST": "tcp://127.0.0.1:2376",
        "DOCKER_TLS_VERIFY": "1",
        "DOCKER_CERT_PATH": str(certs),
        "DOCKER_API_VERSION": "1.41",
    }

    endpoint = resolve(env, tmp_path)

    tls = Tls(verify=True, ca=certs / "ca.pem", cert=(certs / "cert.pem", certs / "key.pem"))
    assert endpoint == Endpoint("tcp://127.0.0.1:2376", "DOCKER_HOST", tls, "1.41")
    assert str(endpoint) == "tcp://127.0.0.1:2376 (TLS, from DOCKER_HOST)"
    arguments = client_arguments(endpoint)
    assert (arguments["tls"].verify, arguments["tls"].ca_cert) == (True, str(certs / "ca.pem"))
    assert arguments["tls"].cert == (str(certs / "cert.pem"), str(certs / "key.pem"))


def test_docker_cert_path_alone_does_not_turn_tls_on(tmp_path: Path) -> None:
    """The CLI's rule (cli/flags/options.go); docker-py's kwargs_from_env would use TLS here."""
    certs = pem_folder(tmp_path / "certs", "ca.pem", "cert.pem", "key.pem")
    env = {"DOCKER_HOST": "tcp://127.0.0.1:2376", "DOCKER_CERT_PATH": str(certs)}

    assert resolve(env, tmp_path).tls is None


def test_docker_tls_uses_tls_without_verifying_the_server(tmp_path: Path) -> None:
    certs = pem_folder(tmp_path / "certs", "cert.pem", "key.pem")
    env = {"DOCKER_HOST": "tcp://127.0.0.1:2376", "DOCKER_TLS": "1", "DOCKER_CERT_PATH": str(certs)}

    endpoint = resolve(env, tmp_path)

    assert endpoint.tls == Tls(verify=False, ca=None, cert=(certs / "cert.pem", certs / "key.pem"))
    assert "TLS without verification" in str(endpoint)


def test_the_cert_path_defaults_to_the_config_folder(tmp_path: Path) -> None:
    config = pem_folder(tmp_path / "cfg", "ca.pem")
    env = {"DOCKER_HOST": "tcp://127.0.0.1:2376", "DOCKER_TLS_VERIFY": "1"}

    assert resolve(env, config).tls == Tls(verify=True, ca=config / "ca.pem")
    assert resolve({**env, "HOME": str(tmp_path)}, config).tls == Tls(True, config / "ca.pem")


def test_tls_without_a_host_means_localhost_2376(tmp_path: Path) -> None:
    pem_folder(tmp_path / ".docker", "ca.pem")

    endpoint = resolve({"DOCKER_TLS_VERIFY": "1", "HOME": str(tmp_path)})

    assert endpoint.host == "tcp://localhost:2376"
    assert endpoint.tls == Tls(verify=True, ca=tmp_path / ".docker" / "ca.pem")


def test_a_socket_gets_no_tls_whatever_the_variables_say(tmp_path: Path) -> None:
    env = {"DOCKER_HOST": "unix:///run/user/1000/docker.sock", "DOCKER_TLS_VERIFY": "1"}

    assert resolve(env, tmp_path).tls is None


@pytest.mark.parametrize(
    ("given", "host"),
    [
        ("/run/docker.sock", "unix:///run/docker.sock"),
        ("127.0.0.1:2376", "tcp://127.0.0.1:2376"),
        ("tcp://127.0.0.1", "tcp://127.0.0.1:2375"),
        ("tcp://[::1]", "tcp://[::1]:2375"),
        (" unix:///var/run/docker.sock ", "unix:///var/run/docker.sock"),
        ("ssh://me@127.0.0.1:2222", "ssh://me@127.0.0.1:2222"),
    ],
)
def test_docker_host_forms_take_the_clis_defaults(tmp_path: Path, given: str, host: str) -> None:
    assert resolve({"DOCKER_HOST": given}, tmp_path).host == host


@pytest.mark.parametrize(
    "given",
    ["tcp://", "tcp://127.0.0.1:port", "fd://3", "http://127.0.0.1:2375", "ssh://me@host/path"],
)
def test_a_malformed_docker_host_says_so_and_how_to_write_one(tmp_path: Path, given: str) -> None:
    with pytest.raises(DockerUnavailable) as caught:
        resolve({"DOCKER_HOST": given}, tmp_path)

    assert str(caught.value).startswith("DOCKER_HOST: ")
    assert "is not a Docker engine address" in str(caught.value)
    assert "\n  fix: write it as unix:///PATH, tcp://HOST:PORT or ssh://" in str(caught.value)


def test_a_missing_ca_file_under_tls_verify_is_named(tmp_path: Path) -> None:
    certs = pem_folder(tmp_path / "certs", "cert.pem", "key.pem")
    env = {"DOCKER_HOST": "tcp://h:2376", "DOCKER_TLS_VERIFY": "1", "DOCKER_CERT_PATH": str(certs)}

    with pytest.raises(DockerUnavailable) as caught:
        resolve(env, tmp_path)

    assert f"DOCKER_TLS_VERIFY is set but there is no CA certificate {certs / 'ca.pem'}" in str(
        caught.value
    )
    assert caught.value.fix and "DOCKER_CERT_PATH" in caught.value.fix


def test_a_client_certificate_without_its_key_is_named(tmp_path: Path) -> None:
    certs = pem_folder(tmp_path / "certs", "ca.pem", "cert.pem")
    env = {"DOCKER_HOST": "tcp://h:2376", "DOCKER_TLS_VERIFY": "1", "DOCKER_CERT_PATH": str(certs)}

    with pytest.raises(DockerUnavailable, match=r"key\.pem is missing"):
        resolve(env, tmp_path)


# ---------------------------------------------------------------- contexts


def test_a_context_brings_its_tls_files_and_skip_verify(tmp_path: Path) -> None:
    certs = pem_folder(tmp_path / "certs", "ca.pem", "cert.pem", "key.pem")
    write_context(tmp_path, "verified", "tcp://127.0.0.1:2376", tls_from=certs)
    write_context(tmp_path, "skipping", "tcp://127.0.0.1:2376", skip_tls_verify=True)
    write_context(tmp_path, "plain", "tcp://127.0.0.1:2375")
    folder = tmp_path / "contexts/tls" / hashlib.sha256(b"verified").hexdigest() / "docker"

    verified = resolve({"DOCKER_CONTEXT": "verified"}, tmp_path)
    skipping = resolve({"DOCKER_CONTEXT": "skipping"}, tmp_path)
    plain = resolve({"DOCKER_CONTEXT": "plain"}, tmp_path)

    assert verified.tls == Tls(True, folder / "ca.pem", (folder / "cert.pem", folder / "key.pem"))
    assert skipping.tls == Tls(verify=False)
    assert plain.tls is None
    assert str(plain) == "tcp://127.0.0.1:2375 (from docker context 'plain')"


def test_tls_variables_do_not_apply_to_a_context(tmp_path: Path) -> None:
    write_context(tmp_path, "plain", "tcp://127.0.0.1:2375")
    env = {"DOCKER_CONTEXT": "plain", "DOCKER_TLS_VERIFY": "1", "DOCKER_CERT_PATH": "/nowhere"}

    assert resolve(env, tmp_path).tls is None


@pytest.mark.parametrize("by_variable", [True, False], ids=["DOCKER_CONTEXT", "currentContext"])
def test_an_unknown_context_is_named_with_where_it_came_from(
    tmp_path: Path, by_variable: bool
) -> None:
    use_context(tmp_path, "gone")
    env = {"DOCKER_CONTEXT": "gone"} if by_variable else {}

    with pytest.raises(DockerUnavailable) as caught:
        resolve(env, tmp_path)

    message = str(caught.value)
    assert message.startswith("docker context 'gone' (from ")
    assert ("DOCKER_CONTEXT)" if by_variable else "currentContext in ") in message
    assert "does not exist" in message
    assert "docker context ls" in (caught.value.fix or "")


@pytest.mark.parametrize("text", ["{not json", "[]"])
def test_an_unreadable_config_json_is_named(tmp_path: Path, text: str) -> None:
    (tmp_path / "config.json").write_text(text)

    with pytest.raises(DockerUnavailable) as caught:
        resolve({}, tmp_path)

    assert str(tmp_path / "config.json") in str(caught.value)
    assert caught.value.fix == "correct or remove the file, or name the engine with DOCKER_HOST"


def test_a_context_with_a_malformed_host_is_named(tmp_path: Path) -> None:
    write_context(tmp_path, "odd", "tcp://127.0.0.1:port")

    with pytest.raises(DockerUnavailable, match=r"^docker context 'odd' \(.*meta\.json\): "):
        resolve({"DOCKER_CONTEXT": "odd"}, tmp_path)


# ---------------------------------------------------------------- meta.json as the CLI types it


def write_meta(config: Path, name: str, endpoints: str) -> Path:
    """A context whose meta.json holds endpoints (JSON text) as its Endpoints, made current."""
    meta = config / "contexts" / "meta" / hashlib.sha256(name.encode()).hexdigest() / "meta.json"
    meta.parent.mkdir(parents=True)
    meta.write_text(f'{{"Name": "{name}", "Metadata": {{}}, "Endpoints": {endpoints}}}')
    use_context(config, name)
    return meta


def cli_refuses_context(config: Path) -> bool | None:
    """Whether the docker CLI refuses the current context's files (None: no docker CLI)."""
    if shutil.which("docker") is None:
        return None
    answer = docker_cli(config, {}, "version", "--format", "{{.Server.APIVersion}}")
    return "unable to resolve docker endpoint" in answer.stderr


WRONG_CONTEXTS = {
    "SkipTLSVerify a string": (
        '{"docker": {"Host": "tcp://127.0.0.1:2376", "SkipTLSVerify": "false"}}',
        '`Endpoints.docker.SkipTLSVerify` is a string "false", not true or false',
    ),
    "SkipTLSVerify a number": (
        '{"docker": {"Host": "tcp://127.0.0.1:2376", "SkipTLSVerify": 0}}',
        "`Endpoints.docker.SkipTLSVerify` is a number 0, not true or false",
    ),
    "SkipTLSVerify a string on a socket": (
        '{"docker": {"Host": "unix:///run/docker.sock", "SkipTLSVerify": "true"}}',
        '`Endpoints.docker.SkipTLSVerify` is a string "true", not true or false',
    ),
    "Host a number": ('{"docker": {"Host": 5}}', "`Endpoints.docker.Host` is a number 5"),
    "host a list": ('{"docker": {"host": ["tcp://h:1"]}}', "`Endpoints.docker.Host` is a list"),
    "Endpoints a list": ("[]", "`Endpoints` is a list [], not an object"),
    "Endpoints a string": ('"tcp://h:1"', '`Endpoints` is a string "tcp://h:1"'),
    "Endpoints a number": ("5", "`Endpoints` is a number 5"),
    "Endpoints empty": ("{}", "`Endpoints.docker` is none"),
    "Endpoints null": ("null", "`Endpoints.docker` is none"),
    "docker null": ('{"docker": null}', "`Endpoints.docker` is null"),
    "docker a list": ('{"docker": []}', "`Endpoints.docker` is a list"),
    "Docker capitalised": ('{"Docker": {"Host": "tcp://h:1"}}', "`Endpoints.docker` is none"),
}


@pytest.mark.parametrize(("endpoints", "problem"), WRONG_CONTEXTS.values(), ids=WRONG_CONTEXTS)
def test_a_context_the_docker_cli_refuses_is_one_error_naming_the_file_and_field(
    tmp_path: Path, endpoints: str, problem: str
) -> None:
    config = tmp_path / "cfg"
    meta = write_meta(config, "odd", endpoints)

    with pytest.raises(ConfigError) as caught:
        resolve({"DOCKER_CONFIG": str(config), "HOME": str(tmp_path)})

    assert caught.value.message.startswith(f"{meta}: docker context 'odd': {problem}")
    assert caught.value.fix == CONTEXT_FIX
    assert cli_refuses_context(config) in (True, None), "the docker CLI took it"


ACCEPTED_CONTEXTS = {
    "SkipTLSVerify null": (
        '{"docker": {"Host": "tcp://127.0.0.1:1", "SkipTLSVerify": null}}',
        Endpoint("tcp://127.0.0.1:1", "docker context 'ok'"),
    ),
    "keys in any case": (
        '{"docker": {"host": "tcp://127.0.0.1:1", "skiptlsverify": true}}',
        Endpoint("tcp://127.0.0.1:1", "docker context 'ok'", Tls(verify=False)),
    ),
    "Host null": ('{"docker": {"Host": null}}', Endpoint(DEFAULT_SOCKET, "docker context 'ok'")),
}


@pytest.mark.parametrize(("endpoints", "read"), ACCEPTED_CONTEXTS.values(), ids=ACCEPTED_CONTEXTS)
def test_context_fields_are_read_as_the_docker_cli_reads_them(
    tmp_path: Path, endpoints: str, read: Endpoint
) -> None:
    config = tmp_path / "cfg"
    write_meta(config, "ok", endpoints)

    assert resolve({"DOCKER_CONFIG": str(config), "HOME": str(tmp_path)}) == read
    assert cli_refuses_context(config) in (False, None), "the docker CLI refused it"


@pytest.mark.parametrize("value", ["abc", "1", "1.41.0", "v1.41", " 1.41"])
def test_a_docker_api_version_docker_py_cannot_use_is_named(tmp_path: Path, value: str) -> None:
    with pytest.raises(DockerUnavailable) as caught:
        resolve({"DOCKER_HOST": "tcp://127.0.0.1:2375", "DOCKER_API_VERSION": value}, tmp_path)

    assert caught.value.message == (
        f"DOCKER_API_VERSION is {value!r}, not an Engine API version such as 1.41"
    )
    assert caught.value.fix and "unset it" in caught.value.fix


# ---------------------------------------------------------------- a real TLS endpoint


@dataclass(frozen=True)
class Certs:
    folder: Path
    client: Path  # ca.pem, cert.pem, key.pem: what DOCKER_CERT_PATH names
    ca_only: Path  # ca.pem alone: TLS without a client certificate


def _openssl(folder: Path, *args: str) -> None:
    subprocess.run(["openssl", *args], cwd=folder, check=True, capture_output=True)


def make_certs(folder: Path) -> Certs:
    """A CA, a server certificate for 127.0.0.1 and localhost, a client certificate."""
    key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    ca = ["-x509", "-days", "2", "-subj", "/CN=ws test CA", "-addext", "keyUsage=keyCertSign"]
    _openssl(folder, "req", *key, *ca, "-keyout", "ca-key.pem", "-out", "ca.pem")
    _openssl(folder, "req", *key, *ca, "-keyout", "other-key.pem", "-out", "other-ca.pem")
    uses = {
        "server": "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n",
        "client": "extendedKeyUsage=clientAuth\n",
    }
    signed_by_ca = ["-CA", "ca.pem", "-CAkey", "ca-key.pem", "-CAcreateserial", "-days", "2"]
    for name, extensions in uses.items():
        (folder / f"{name}.ext").write_text(extensions)
        csr = ["-subj", f"/CN={name}", "-keyout", f"{name}-key.pem", "-out", f"{name}.csr"]
        _openssl(folder, "req", *key, *csr)
        sign = ["-in", f"{name}.csr", "-extfile", f"{name}.ext", "-out", f"{name}-cert.pem"]
        _openssl(folder, "x509", "-req", *signed_by_ca, *sign)
    client = folder / "client"
    client.mkdir()
    shutil.copy(folder / "ca.pem", client / "ca.pem")
    shutil.copy(folder / "client-cert.pem", client / "cert.pem")
    shutil.copy(folder / "client-key.pem", client / "key.pem")
    (folder / "ca-only").mkdir()
    shutil.copy(folder / "ca.pem", folder / "ca-only" / "ca.pem")
    return Certs(folder, client, folder / "ca-only")


def _pipe(tls: ssl.SSLSocket, engine: socket.socket) -> None:
    """Bytes both ways until either side closes: HTTP, a streamed build, an upgraded stream.
    One thread per connection, as an SSL object must not be read and written at once."""
    peers: dict[socket.socket, socket.socket] = {tls: engine, engine: tls}
    while True:
        ready = [tls] if tls.pending() else select.select(list(peers), [], [], 1.0)[0]
        for sock in ready:
            try:
                data = sock.recv(1 << 16)
                if not data:
                    return
                peers[sock].sendall(data)
            except OSError:
                return


class TlsProxy:
    """TLS on 127.0.0.1 requiring a client certificate the test CA signed; each accepted
    connection piped to the engine's unix socket."""

    def __init__(self, certs: Certs, engine_socket: str) -> None:
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(
            certs.folder / "server-cert.pem", certs.folder / "server-key.pem"
        )
        self.context.load_verify_locations(certs.folder / "ca.pem")
        self.context.verify_mode = ssl.CERT_REQUIRED
        self.engine_socket = engine_socket
        self.accepted = 0
        self.refused = 0
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.5)
        self.port: int = self.listener.getsockname()[1]
        self._closed = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while not self._closed.is_set():
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.settimeout(None)
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        try:
            tls = self.context.wrap_socket(conn, server_side=True)
        except (ssl.SSLError, OSError):
            self.refused += 1
            conn.close()
            return
        self.accepted += 1
        engine = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        with tls, engine:
            engine.connect(self.engine_socket)
            _pipe(tls, engine)

    def refused_since(self, before: int, *, wait: float) -> bool:
        """Whether more than before connections were refused, waiting up to wait seconds."""
        deadline = time.monotonic() + wait
        while self.refused <= before and time.monotonic() < deadline:
            time.sleep(0.01)
        return self.refused > before

    def close(self) -> None:
        self._closed.set()
        self.listener.close()


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    if shutil.which("openssl") is None:
        pytest.skip("no openssl program to make test certificates")
    return make_certs(tmp_path_factory.mktemp("certs"))


@pytest.fixture(scope="module")
def proxy(certs: Certs) -> Iterator[TlsProxy]:
    host = os.environ.get("DOCKER_HOST", "")
    served = TlsProxy(
        certs, host[len("unix://") :] if host.startswith("unix://") else "/var/run/docker.sock"
    )
    yield served
    served.close()


@pytest.fixture
def foreign_ca_bundle(certs: Certs, monkeypatch: pytest.MonkeyPatch) -> None:
    """requests' CA variables naming a CA that did not sign the proxy's certificate: requests
    would let them replace the engine's CA, as they did before ws turned them off for TLS."""
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.setenv(name, str(certs.folder / "other-ca.pem"))


def tls_env(proxy: TlsProxy, cert_path: Path, **more: str) -> dict[str, str]:
    env = {"DOCKER_HOST": f"tcp://127.0.0.1:{proxy.port}", "DOCKER_CERT_PATH": str(cert_path)}
    return env | {"DOCKER_TLS_VERIFY": "1"} | more


def docker_cli(
    config: Path, env: Mapping[str, str], *args: str
) -> subprocess.CompletedProcess[str]:
    """The docker CLI with only env and config (no variables of this process but PATH)."""
    base = {"PATH": os.environ["PATH"], "HOME": str(config.parent), "DOCKER_CONFIG": str(config)}
    return subprocess.run(
        ["docker", *args], env=base | dict(env), capture_output=True, text=True, timeout=60
    )


def reaches(env: Mapping[str, str], config: Path) -> bool:
    try:
        connect(resolve(env, config), timeout=20).close()
    except DockerUnavailable:
        return False
    return True


def buildkit_build(client: docker.DockerClient, dockerfile: str, labels: Mapping[str, str]) -> str:
    """POST /build with version=2 through client's session, as ws's BuildKit builds do; the
    image id the engine reports."""
    buffer = tar_of({"Dockerfile": dockerfile.encode()})
    params = {
        "version": "2",
        "dockerfile": "Dockerfile",
        "networkmode": "host",
        "labels": json.dumps(dict(labels)),
    }
    api = client.api
    response = api.post(
        f"{api.base_url}/v{api.api_version}/build",
        params=params,
        data=buffer.getvalue(),
        headers={"Content-Type": "application/x-tar"},
        stream=True,
        timeout=None,
    )
    image_id = None
    with response:
        assert response.status_code == 200, response.text
        for line in response.iter_lines():
            event: dict[str, Any] = json.loads(line) if line.strip() else {}
            assert "errorDetail" not in event, event
            if event.get("id") == "moby.image.id":
                image_id = event["aux"]["ID"]
    assert image_id, "the engine reported no image id"
    return image_id


def pinned_python() -> str:
    ref = parse_image_ref(SEED_PYTHON)
    try:
        return str(ref.with_digest(resolve_digest(ref)))
    except RegistryError as e:
        pytest.skip(f"seed image {SEED_PYTHON} missing (run tooling/engine.sh): {e}")


@pytest.mark.skipif(shutil.which("docker") is None, reason="no docker CLI")
def test_a_context_the_docker_cli_created_is_read_with_its_tls_files(
    certs: Certs, tmp_path: Path
) -> None:
    """The on-disk format checked against the CLI itself (it validates the files, no engine)."""
    config = tmp_path / "cfg"
    files = {name: certs.client / f"{name}.pem" for name in ("ca", "cert", "key")}
    spec = ",".join(["host=tcp://127.0.0.1:2376", *(f"{k}={v}" for k, v in files.items())])
    made = docker_cli(config, {}, "context", "create", "made-by-cli", "--docker", spec)
    assert made.returncode == 0, made.stderr
    folder = config / "contexts/tls" / hashlib.sha256(b"made-by-cli").hexdigest() / "docker"

    endpoint = resolve({"DOCKER_CONTEXT": "made-by-cli"}, config)

    tls = Tls(True, folder / "ca.pem", (folder / "cert.pem", folder / "key.pem"))
    assert endpoint == Endpoint("tcp://127.0.0.1:2376", "docker context 'made-by-cli'", tls)


@pytest.mark.docker
@pytest.mark.usefixtures("foreign_ca_bundle")
def test_a_buildkit_build_runs_through_a_tls_endpoint_that_requires_client_certificates(
    docker_client: docker.DockerClient, proxy: TlsProxy, certs: Certs, tmp_path: Path
) -> None:
    label = {"ws.test": f"endpoint-{uuid.uuid4().hex[:12]}"}
    dockerfile = f"FROM {pinned_python()}\nRUN echo hi > /x\n"
    accepted = proxy.accepted

    client = connect(resolve(tls_env(proxy, certs.client), tmp_path / "cfg"), timeout=120)
    try:
        assert client.ping()
        image_id = buildkit_build(client, dockerfile, label)
    finally:
        client.close()

    try:
        assert docker_client.images.get(image_id).labels["ws.test"] == label["ws.test"]
        assert run_image(docker_client, image_id, ["cat", "/x"], label) == "hi\n"
    finally:
        remove_labelled(docker_client, "=".join(next(iter(label.items()))), [image_id])
    assert proxy.accepted > accepted, "the build went around the proxy"


@pytest.mark.docker
def test_a_build_session_opens_through_a_tls_endpoint_and_hands_the_build_its_secret(
    docker_client: docker.DockerClient, proxy: TlsProxy, certs: Certs, tmp_path: Path
) -> None:
    """ws's BuildKit session goes where the build goes: POST /session over the endpoint's TLS,
    with its client certificate; the engine fetches the secret back through it."""
    from ws.docker.builds.engine import build
    from ws.docker.session.channel import Session
    from ws.docker.session.plan import Offer

    label = {"ws.test": f"endpoint-{uuid.uuid4().hex[:12]}"}
    dockerfile = (
        f"FROM {pinned_python()}\n"
        "RUN --mount=type=secret,id=uv-netrc,target=/run/secrets/n wc -c < /run/secrets/n\n"
    )
    endpoint = resolve(tls_env(proxy, certs.client), tmp_path / "cfg")
    offer = Offer(secrets={"uv-netrc": b"twelve bytes"})
    accepted = proxy.accepted
    client = connect(endpoint, timeout=120)
    lines: list[str] = []
    try:
        session = Session.offering(
            endpoint,
            client.api.api_version,
            offer,
        )
        with session, tar_of({"Dockerfile": dockerfile.encode()}) as context:
            params = {"dockerfile": "Dockerfile", "networkmode": "host", "nocache": "1"}
            params |= {"labels": json.dumps(label), "session": session.id}
            image_id, _ = build(
                client, "tls", context, params, lambda _m, x: lines.append(x), session.start
            )
    finally:
        client.close()
    remove_labelled(docker_client, "=".join(next(iter(label.items()))), [image_id])
    assert "12" in lines
    assert proxy.accepted >= accepted + 2, "the session went around the proxy"


@pytest.mark.docker
@pytest.mark.parametrize("api_version", ["", "1.41"], ids=["negotiated", "DOCKER_API_VERSION"])
def test_a_client_without_a_certificate_is_refused_as_docker_unavailable(
    docker_client: docker.DockerClient,
    proxy: TlsProxy,
    certs: Certs,
    tmp_path: Path,
    api_version: str,
) -> None:
    env = tls_env(proxy, certs.ca_only, DOCKER_API_VERSION=api_version)
    refused = proxy.refused

    with pytest.raises(DockerUnavailable) as caught:
        connect(resolve(env, tmp_path / "cfg"), timeout=20)

    assert "no Docker engine answers" in str(caught.value)
    # The proxy counts a refusal after its handshake fails, in its own thread, which may be
    # after the client has already seen the alert.
    assert proxy.refused_since(refused, wait=5), "the proxy refused no connection"
    assert f"tcp://127.0.0.1:{proxy.port} (TLS, from DOCKER_HOST)" in str(caught.value)


@pytest.mark.docker
def test_the_current_context_on_disk_reaches_the_tls_endpoint_as_the_docker_cli_does(
    docker_client: docker.DockerClient, proxy: TlsProxy, certs: Certs, tmp_path: Path
) -> None:
    config = tmp_path / "cfg"
    write_context(config, "tls-proxy", f"tcp://127.0.0.1:{proxy.port}", tls_from=certs.client)
    use_context(config, "tls-proxy")
    accepted = proxy.accepted

    client = connect(resolve({"HOME": str(tmp_path)}, config))
    try:
        ours = client.version()["ApiVersion"]
    finally:
        client.close()
    theirs = docker_cli(config, {}, "version", "--format", "{{.Server.APIVersion}}")

    assert theirs.returncode == 0, theirs.stderr
    assert theirs.stdout.strip() == ours == docker_client.version()["ApiVersion"]
    assert proxy.accepted >= accepted + 2  # ws's connection and the CLI's


@pytest.mark.docker
@pytest.mark.parametrize(
    ("variables", "certificates", "answers"),
    [
        ({"DOCKER_TLS_VERIFY": "1"}, "client", True),
        ({"DOCKER_TLS": "1"}, "client", True),
        ({}, "client", False),  # DOCKER_CERT_PATH alone: plain HTTP to a TLS port
        ({"DOCKER_TLS_VERIFY": "1"}, "ca_only", False),  # no client certificate
    ],
    ids=["verify", "tls-unverified", "cert-path-alone", "no-client-cert"],
)
@pytest.mark.usefixtures("foreign_ca_bundle")
@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")  # tls-unverified
def test_ws_reaches_the_endpoint_exactly_when_the_docker_cli_does(
    docker_client: docker.DockerClient,
    proxy: TlsProxy,
    certs: Certs,
    tmp_path: Path,
    variables: dict[str, str],
    certificates: str,
    answers: bool,
) -> None:
    env = {
        "DOCKER_HOST": f"tcp://localhost:{proxy.port}",
        "DOCKER_CERT_PATH": str(getattr(certs, certificates)),
        **variables,
    }
    config = tmp_path / "cfg"

    cli = docker_cli(config, env, "version", "--format", "{{.Server.APIVersion}}")

    assert (cli.returncode == 0) == answers, cli.stderr
    assert reaches(env, config) == answers

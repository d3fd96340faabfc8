"""The registry client through HTTPS_PROXY / HTTP_PROXY / NO_PROXY: real proxies on loopback.

A small threaded proxy tunnels CONNECT and forwards absolute-URI requests, recording what it
saw; an HTTPS registry is the fake registry behind a TLS front whose certificate the test CA
signs for `registry.test` (a name only the proxy resolves) and 0.0.0.0 (Linux's address for
this host that is not loopback by name, so only NO_PROXY keeps it direct).
"""

from __future__ import annotations

import base64
import http.client
import selectors
import socket
import socketserver
import ssl
import subprocess
import threading
import time
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, NoReturn

import pytest
from ws.docker.pin.imageref import parse_image_ref
from ws.docker.pin.registry import resolve_digest
from ws.errors import RegistryError
from ws.registry.transport import ProxySettings, Watchdog, build_opener, proxy_settings

from tests.support.fake_registry import OCI_MANIFEST, FakeRegistry, closed_port, image_manifest
from tests.support.loopback_images import push_tiny_image, unique_repository

HOP_BY_HOP = {"proxy-authorization", "proxy-connection", "connection", "keep-alive"}
THIS_HOST = "0.0.0.0"  # noqa: S104 -- only connected to (Linux takes it as this host)
PASSWORD = "s3cr:t@pw"  # noqa: S105 -- a test value; ':' and '@' must survive quoting
PROXY_USER = f"ws-user:{urllib.parse.quote(PASSWORD, safe='')}"


# ------------------------------------------------------------ TLS, a proxy, a TLS registry


@pytest.fixture(scope="session")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A test CA (ca.pem) and a leaf it signed for registry.test and 0.0.0.0 (leaf.*)."""
    where = tmp_path_factory.mktemp("tls")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2"]
    ca = ["-subj", "/CN=ws-test-ca", "-keyout", "ca.key", "-out", "ca.pem"]
    ca += ["-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=keyCertSign"]
    leaf = ["-subj", "/CN=registry.test", "-CA", "ca.pem", "-CAkey", "ca.key"]
    leaf += ["-keyout", "leaf.key", "-out", "leaf.pem", "-addext", "basicConstraints=CA:FALSE"]
    leaf += ["-addext", "subjectAltName=DNS:registry.test,IP:0.0.0.0"]
    for args in (ca, leaf):
        subprocess.run(
            ["openssl", "req", "-x509", *ec, *args], cwd=where, check=True, capture_output=True
        )
    return where


@pytest.fixture
def trusted(certificates: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The client's default SSL context trusts the test CA (OpenSSL reads SSL_CERT_FILE)."""
    monkeypatch.setenv("SSL_CERT_FILE", str(certificates / "ca.pem"))


def _pump(a: socket.socket, b: socket.socket) -> None:
    """Copy bytes both ways until either side closes (one thread: TLS sockets are not
    safe to read and write from two)."""
    with selectors.DefaultSelector() as selector:
        selector.register(a, selectors.EVENT_READ, b)
        selector.register(b, selectors.EVENT_READ, a)
        while True:
            for key, _ in selector.select(timeout=10) or [(None, None)]:
                if key is None:
                    return
                source: Any = key.fileobj
                try:
                    data = source.recv(65536)
                    while isinstance(source, ssl.SSLSocket) and source.pending():
                        data += source.recv(65536)
                    if data:
                        key.data.sendall(data)
                except ConnectionError:  # a side that hung up ends the tunnel, as EOF does
                    return
                if not data:
                    return


class TlsFront(socketserver.ThreadingTCPServer):
    """HTTPS on 127.0.0.1 with the leaf certificate, relayed to a plain HTTP server."""

    daemon_threads = True

    def __init__(self, certificates: Path, upstream: str) -> None:
        super().__init__(("127.0.0.1", 0), _FrontHandler)
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(certificates / "leaf.pem", certificates / "leaf.key")
        host, _, port = upstream.rpartition(":")
        self.upstream = (host, int(port))
        threading.Thread(target=self.serve_forever, args=(0.05,), daemon=True).start()

    @property
    def port(self) -> int:
        return self.server_address[1]

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Quiet: a client refusing the certificate is a test's business, not stderr's."""


class _FrontHandler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        assert isinstance(self.server, TlsFront)
        with (
            self.server.context.wrap_socket(self.request, server_side=True) as tls,
            socket.create_connection(self.server.upstream, timeout=5) as upstream,
        ):
            _pump(tls, upstream)


@dataclass(frozen=True)
class ProxySeen:
    method: str
    target: str  # host:port for CONNECT, the absolute URI otherwise
    authorization: str | None


@dataclass
class RecordingProxy:
    """An HTTP proxy on 127.0.0.1; routes maps the host:port asked for to where it really is."""

    routes: dict[str, tuple[str, int]] = field(default_factory=dict)
    refuse: int | None = None  # answer every CONNECT with this status
    drip: float = 0.0  # answer CONNECT a byte at a time, this many seconds apart
    seen: list[ProxySeen] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _ProxyHandler)
        self.server.daemon_threads = True
        self.server.proxy = self  # type: ignore[attr-defined]  # read back by the handler
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def url(self, credentials: str = "") -> str:
        at = f"{credentials}@" if credentials else ""
        return f"http://{at}127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


class _ProxyHandler(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        """Quiet."""

    @property
    def proxy(self) -> RecordingProxy:
        return self.server.proxy  # type: ignore[attr-defined]  # set by RecordingProxy

    def do_CONNECT(self) -> None:
        proxy = self.proxy
        proxy.seen.append(ProxySeen("CONNECT", self.path, self.headers["Proxy-Authorization"]))
        self.close_connection = True
        if proxy.drip:
            # A header that takes 10 s to arrive, each byte well inside a read timeout.
            for byte in b"HTTP/1.1 200 Connection established\r\nX-Pad: " + b"." * 200:
                if proxy.release.wait(proxy.drip):
                    return
                self.wfile.write(bytes([byte]))
        elif proxy.refuse or self.path not in proxy.routes:
            self.send_response(proxy.refuse or 502)
            if proxy.refuse == 407:
                self.send_header("Proxy-Authenticate", 'Basic realm="proxy"')
            self.send_header("Content-Length", "0")
            self.end_headers()
        else:
            with socket.create_connection(proxy.routes[self.path], timeout=5) as upstream:
                self.send_response(200, "Connection established")
                self.end_headers()
                _pump(self.connection, upstream)

    def do_GET(self) -> None:
        proxy = self.proxy
        proxy.seen.append(ProxySeen(self.command, self.path, self.headers["Proxy-Authorization"]))
        url = urllib.parse.urlsplit(self.path)
        connection = http.client.HTTPConnection(*proxy.routes[url.netloc], timeout=5)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
        connection.request(self.command, url.path, headers=headers)
        answer = connection.getresponse()
        body = answer.read()
        self.send_response(answer.status, answer.reason)
        for name, value in answer.getheaders():
            if name.lower() not in HOP_BY_HOP | {"content-length"}:
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        connection.close()

    do_HEAD = do_GET


@pytest.fixture
def fake() -> Iterator[FakeRegistry]:
    with FakeRegistry() as registry:
        yield registry


@pytest.fixture
def front(fake: FakeRegistry, certificates: Path, trusted: None) -> Iterator[TlsFront]:
    server = TlsFront(certificates, fake.host)
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def proxy(front: TlsFront) -> Iterator[RecordingProxy]:
    """Knows registry.test:443 and 0.0.0.0:<front> as the TLS front."""
    target = ("127.0.0.1", front.port)
    recording = RecordingProxy({"registry.test:443": target, f"{THIS_HOST}:{front.port}": target})
    yield recording
    recording.close()


def through(proxy_url: str, **more: str) -> ProxySettings:
    return proxy_settings({"HTTPS_PROXY": proxy_url, **more})


def failure(text: str, proxies: ProxySettings, **kwargs: Any) -> str:
    with pytest.raises(RegistryError) as caught:
        resolve_digest(parse_image_ref(text), proxies=proxies, **kwargs)
    message = str(caught.value)
    assert text in message, "every failure names the image"
    assert "\n  fix: " in message, "every failure says what to do"
    return message


# ------------------------------------------------------------ through the proxy, end to end


def test_an_https_registry_is_reached_through_the_proxy_by_connect(
    fake: FakeRegistry, proxy: RecordingProxy
) -> None:
    digest = fake.add("team/app", "1", image_manifest("one"))
    ref = parse_image_ref("registry.test/team/app:1")
    assert resolve_digest(ref, proxies=through(proxy.url())) == digest
    assert proxy.seen == [ProxySeen("CONNECT", "registry.test:443", None)]
    assert [s.path for s in fake.seen] == ["/v2/team/app/manifests/1"]


def test_proxy_credentials_go_to_the_proxy_alone(fake: FakeRegistry, proxy: RecordingProxy) -> None:
    digest = fake.add("team/app", "1", image_manifest("one"))
    settings = through(proxy.url(PROXY_USER))
    assert resolve_digest(parse_image_ref("registry.test/team/app:1"), proxies=settings) == digest
    basic = base64.b64encode(f"ws-user:{PASSWORD}".encode()).decode()
    assert [s.authorization for s in proxy.seen] == [f"Basic {basic}"]
    assert "Proxy-Authorization" not in fake.seen[0].headers


def test_no_proxy_sends_the_host_direct(
    fake: FakeRegistry, front: TlsFront, proxy: RecordingProxy
) -> None:
    digest = fake.add("team/app", "1", image_manifest("one"))
    ref = parse_image_ref(f"{THIS_HOST}:{front.port}/team/app:1")
    assert resolve_digest(ref, proxies=through(proxy.url())) == digest
    assert [s.method for s in proxy.seen] == ["CONNECT"]  # proxied unless listed
    for listed in (THIS_HOST, f"{THIS_HOST}:{front.port}", f"{THIS_HOST}/8", "*"):
        settings = through(proxy.url(), NO_PROXY=f"registry.test, {listed}")
        assert resolve_digest(ref, proxies=settings) == digest
    assert len(proxy.seen) == 1


def test_a_redirect_that_goes_direct_carries_no_proxy_credentials(
    fake: FakeRegistry, proxy: RecordingProxy, certificates: Path
) -> None:
    with FakeRegistry() as mirror:
        digest = mirror.add("team/app", "1", image_manifest("mirrored"))
        mirror_front = TlsFront(certificates, mirror.host)
        try:
            where = f"https://{THIS_HOST}:{mirror_front.port}/v2/team/app/manifests/1"
            fake.behaviour.redirect = where
            settings = through(proxy.url(PROXY_USER), NO_PROXY=THIS_HOST)
            ref = parse_image_ref("registry.test/team/app:1")
            assert resolve_digest(ref, proxies=settings) == digest
        finally:
            mirror_front.shutdown()
            mirror_front.server_close()
    assert [s.target for s in proxy.seen] == ["registry.test:443"]
    assert [s.headers.get("Proxy-Authorization") for s in mirror.seen] == [None]


def test_the_registry_certificate_is_checked_through_the_tunnel(
    proxy: RecordingProxy, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "no-such-file.pem"))
    message = failure("registry.test/team/app:1", through(proxy.url()))
    assert "cannot reach registry.test (https://registry.test/v2/" in message
    assert f"through the proxy {proxy.url()} (from HTTPS_PROXY)" in message
    assert "CERTIFICATE_VERIFY_FAILED" in message


def test_loopback_is_never_proxied(fake: FakeRegistry, proxy: RecordingProxy) -> None:
    digest = fake.add("team/app", "1", image_manifest("one"))
    port = fake.host.rpartition(":")[2]
    settings = proxy_settings({"HTTPS_PROXY": proxy.url(), "HTTP_PROXY": proxy.url()})
    for host in ("127.0.0.1", "localhost"):
        ref = parse_image_ref(f"{host}:{port}/team/app:1")
        assert resolve_digest(ref, proxies=settings) == digest
    assert proxy.seen == []


@pytest.mark.docker
def test_the_loopback_registry_is_never_proxied(docker_client: Any) -> None:
    repository = unique_repository()
    pushed = push_tiny_image(docker_client, repository, "1", f"proxy {uuid.uuid4()}")
    down = f"http://127.0.0.1:{closed_port()}"  # would fail every request it was given
    settings = proxy_settings({"HTTPS_PROXY": down, "HTTP_PROXY": down})
    for registry in ("localhost:5000", "127.0.0.1:5000"):
        ref = parse_image_ref(f"{repository.replace('localhost:5000', registry)}:1")
        assert resolve_digest(ref, proxies=settings) == pushed


def test_plain_http_goes_to_the_proxy_as_an_absolute_uri(fake: FakeRegistry) -> None:
    """Only reachable below resolve_digest: ws speaks plain HTTP to loopback alone, which is
    never proxied; the transport still routes http:// by HTTP_PROXY."""
    digest = fake.add("team/app", "1", image_manifest("one"))
    recording = RecordingProxy({"registry.test": ("127.0.0.1", int(fake.host.split(":")[1]))})
    settings = proxy_settings({"http_proxy": recording.url(PROXY_USER)})
    opener = build_opener("registry.test", settings, Watchdog(5), _never_redirected)
    url = "http://registry.test/v2/team/app/manifests/1"
    request = urllib.request.Request(url, headers={"Accept": OCI_MANIFEST})
    try:
        with opener.open(request, timeout=5) as answer:
            assert answer.headers["Docker-Content-Digest"] == digest
        [seen] = recording.seen
        assert (seen.method, seen.target) == ("GET", url)
        assert seen.authorization and seen.authorization.startswith("Basic ")
        assert "Proxy-Authorization" not in fake.seen[0].headers
    finally:
        recording.close()


def _never_redirected(url: str) -> NoReturn:
    raise AssertionError(f"redirected to {url}")


def test_redirect_rules_hold_through_the_proxy(fake: FakeRegistry, proxy: RecordingProxy) -> None:
    fake.behaviour.redirect = "http://mirror.example.invalid/v2/team/app/manifests/1"
    message = failure("registry.test/team/app:1", through(proxy.url()))
    assert "follows redirects only to https" in message
    assert [s.target for s in proxy.seen] == ["registry.test:443"]


# ------------------------------------------------------------ failures name the proxy


def test_a_proxy_that_is_down(front: TlsFront) -> None:
    down = f"http://127.0.0.1:{closed_port()}"
    message = failure("registry.test/team/app:1", through(down))
    assert f"cannot reach the proxy {down} (from HTTPS_PROXY): " in message
    assert "refused" in message.lower()
    assert "check the proxy is running and HTTPS_PROXY is right" in message
    assert "list registry.test in NO_PROXY" in message


def test_a_proxy_refusing_connect(proxy: RecordingProxy) -> None:
    proxy.refuse = 403
    message = failure("registry.test/team/app:1", through(proxy.url()))
    assert f"the proxy {proxy.url()} (from HTTPS_PROXY) refused to connect to registry.test" in (
        message
    )
    assert "403" in message
    assert "check the proxy lets you reach registry.test" in message


def test_proxy_credentials_never_appear_in_errors(proxy: RecordingProxy) -> None:
    proxy.refuse = 407
    message = failure("registry.test/team/app:1", through(proxy.url()))
    assert "407" in message and "the proxy wants credentials: set HTTPS_PROXY to" in message
    message = failure("registry.test/team/app:1", through(proxy.url(PROXY_USER)))
    assert "refused the credentials in HTTPS_PROXY" in message
    down = f"http://{PROXY_USER}@127.0.0.1:{closed_port()}"
    message += failure("registry.test/team/app:1", through(down))
    for secret in ("ws-user", "s3cr", PROXY_USER.partition(":")[2]):
        assert secret not in message


def test_the_deadline_holds_while_a_proxy_drips_its_connect_answer(
    proxy: RecordingProxy,
) -> None:
    proxy.drip = 0.05
    started = time.monotonic()
    message = failure("registry.test/team/app:1", through(proxy.url()), timeout=1, deadline=1.5)
    assert "registry.test was still answering when the 1.5 s deadline ran out" in message
    assert time.monotonic() - started < 4


# ------------------------------------------------------------ reading the environment


@pytest.mark.parametrize(
    ("no_proxy", "url", "proxied"),
    [
        ("", "https://registry.test/v2/", True),
        ("*", "https://registry.test/v2/", False),
        ("example.com", "https://example.com/v2/", False),
        ("example.com", "https://a.b.example.com/v2/", False),
        ("example.com", "https://notexample.com/v2/", True),
        (".example.com", "https://example.com/v2/", True),
        (".example.com", "https://a.example.com/v2/", False),
        ("*.example.com", "https://example.com/v2/", True),
        ("*.example.com", "https://a.example.com/v2/", False),
        (" Example.COM ,other.test", "https://EXAMPLE.com/v2/", False),
        ("example.com:5000", "https://example.com:5000/v2/", False),
        ("example.com:5000", "https://example.com/v2/", True),
        ("example.com:443", "https://example.com/v2/", False),
        ("10.1.2.3", "https://10.1.2.3:5000/v2/", False),
        ("10.1.2.3:5000", "https://10.1.2.3/v2/", True),
        ("10.0.0.0/8", "https://10.9.8.7/v2/", False),
        ("10.0.0.0/8", "https://11.0.0.1/v2/", True),
        ("10.0.0.0/8", "https://10.example/v2/", True),
        ("2001:db8::1", "https://[2001:db8::1]/v2/", False),
        ("[2001:db8::1]:443", "https://[2001:db8::1]/v2/", False),
        ("2001:db8::/32", "https://[2001:db8::5]:5000/v2/", False),
        ("::/96", "https://10.1.2.3/v2/", True),  # an IPv6 range holds no IPv4 address
        (",,:80,.", "https://registry.test/v2/", True),  # malformed entries are ignored
        ("", "https://localhost:5000/v2/", False),  # loopback: never, as in Go
        ("", "https://127.0.0.2:5000/v2/", False),
        ("", "https://[::1]:5000/v2/", False),
        ("", "https://[::ffff:127.0.0.1]/v2/", False),
    ],
)
def test_no_proxy_matches_as_go_does(no_proxy: str, url: str, proxied: bool) -> None:
    settings = proxy_settings({"HTTPS_PROXY": "proxy.corp:3128", "NO_PROXY": no_proxy})
    assert (settings.proxy_for(url) is not None) is proxied


def test_which_variable_is_read() -> None:
    both = {"HTTPS_PROXY": "http://upper:1", "https_proxy": "http://lower:2"}
    assert str(proxy_settings(both).https) == "http://upper:1"
    assert str(proxy_settings({**both, "HTTPS_PROXY": ""}).https) == "http://lower:2"
    settings = proxy_settings({"https_proxy": "proxy.corp", "no_proxy": "registry.test"})
    assert str(settings.https) == "http://proxy.corp:80"
    assert settings.https and settings.https.variable == "https_proxy"
    assert settings.proxy_for("https://registry.test/v2/") is None
    assert settings.proxy_for("http://elsewhere.test/v2/") is None  # no HTTP_PROXY
    settings = proxy_settings({"HTTP_PROXY": "proxy.corp:8080", "NO_PROXY": ""})
    assert str(settings.proxy_for("http://elsewhere.test/v2/")) == "http://proxy.corp:8080"
    assert settings.proxy_for("https://elsewhere.test/v2/") is None
    assert proxy_settings({}) == ProxySettings()


def test_credentials_are_kept_out_of_sight() -> None:
    settings = proxy_settings({"HTTPS_PROXY": f"http://{PROXY_USER}@proxy.corp:3128"})
    proxy = settings.https
    assert proxy is not None
    assert base64.b64decode(proxy.credentials or "").decode() == f"ws-user:{PASSWORD}"
    assert "s3cr" not in str(proxy) + repr(proxy) + repr(settings)


@pytest.mark.parametrize(
    "value",
    ["socks5://proxy.corp:1080", "https://proxy.corp", "http://:3128", "http://proxy.corp:x"],
)
def test_a_proxy_ws_cannot_use_is_refused_by_name(value: str) -> None:
    with_secret = value.replace("://", f"://{PROXY_USER}@")
    with pytest.raises(RegistryError) as caught:
        proxy_settings({"https_proxy": with_secret})
    message = str(caught.value)
    assert message.startswith("https_proxy is ")
    assert "fix: set https_proxy to http://host:port" in message
    assert "s3cr" not in message and "ws-user" not in message


def test_a_redirect_to_a_malformed_port_is_an_error_not_a_crash(
    fake: FakeRegistry, proxy: RecordingProxy
) -> None:
    fake.behaviour.redirect = "https://registry.test:nope/v2/team/app/manifests/1"
    message = failure("registry.test/team/app:1", through(proxy.url()))
    assert "cannot reach registry.test" in message

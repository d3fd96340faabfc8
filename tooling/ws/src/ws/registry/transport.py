"""HTTP for the registry client: where it may go (HTTPS; plain HTTP only on loopback), an
overall deadline per exchange, which per-read timeouts alone do not give, and the proxy each
request takes under HTTPS_PROXY, HTTP_PROXY and NO_PROXY, read as docker reads them (Go's
golang.org/x/net/http/httpproxy)."""

from __future__ import annotations

import base64
import contextlib
import http.client
import ipaddress
import re
import socket
import ssl
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, NoReturn

from ws.errors import RegistryError

LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
DEFAULT_PORTS = {"http": 80, "https": 443}
_IP = ipaddress.IPv4Address | ipaddress.IPv6Address
_Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class Proxy:
    """An HTTP proxy, the variable that named it (for messages) and the Basic credentials its
    URL carried, which go to the proxy alone and are never printed."""

    host: str
    port: int
    variable: str
    credentials: str | None = field(default=None, repr=False)

    @property
    def address(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    def __str__(self) -> str:
        return f"http://{self.address}"


@dataclass(frozen=True)
class _Bypass:
    """One NO_PROXY entry: an IP network, or a domain (".example.com") that also matches
    its own name unless written with a leading dot; port "" matches any port."""

    network: _Network | None = None
    domain: str = ""
    exact: bool = False
    port: str = ""

    def matches(self, host: str, port: str, ip: _IP | None) -> bool:
        if self.port and self.port != port:
            return False
        if self.network is not None:
            return ip is not None and ip.version == self.network.version and ip in self.network
        return host.endswith(self.domain) or (self.exact and host == self.domain[1:])


@dataclass(frozen=True)
class ProxySettings:
    """Which proxy each URL goes through; build with proxy_settings(environ).

    The default goes direct everywhere."""

    https: Proxy | None = None
    http: Proxy | None = None
    bypass: tuple[_Bypass, ...] = ()
    bypass_all: bool = False

    def proxy_for(self, url: str) -> Proxy | None:
        """The proxy for url, or None to go direct: "localhost" and loopback IPs always go
        direct, as do hosts NO_PROXY lists, as in Go's httpproxy."""
        parts = urllib.parse.urlsplit(url)
        proxy = {"https": self.https, "http": self.http}.get(parts.scheme)
        host = (parts.hostname or "").lower()
        if proxy is None or not host or self.bypass_all:
            return None
        ip = _ip(host)
        if host == "localhost" or (ip is not None and ip.is_loopback):
            return None
        try:
            port = str(parts.port or DEFAULT_PORTS[parts.scheme])
        except ValueError:  # a bad port in a redirect: http.client refuses it, directly
            return None
        if any(entry.matches(host, port, ip) for entry in self.bypass):
            return None
        return proxy


def proxy_settings(environ: Mapping[str, str]) -> ProxySettings:
    """The proxy settings environ holds, read as Go's httpproxy.FromEnvironment reads them:
    HTTPS_PROXY, HTTP_PROXY and NO_PROXY, each falling back to its lowercase name when unset
    or empty. A proxy is a URL or host:port; ws speaks to it in plain HTTP (CONNECT for
    https). A value ws cannot use is a RegistryError naming the variable."""
    https, http = (_proxy(environ, name) for name in ("HTTPS_PROXY", "HTTP_PROXY"))
    entries = [e.strip().lower() for e in _first(environ, "NO_PROXY")[1].split(",")]
    if "*" in entries:
        return ProxySettings(https, http, bypass_all=True)
    bypass = [entry for entry in map(_bypass, entries) if entry is not None]
    return ProxySettings(https, http, tuple(bypass))


def _first(environ: Mapping[str, str], name: str) -> tuple[str, str]:
    for variable in (name, name.lower()):
        if environ.get(variable):
            return variable, environ[variable]
    return name, ""


def _proxy(environ: Mapping[str, str], name: str) -> Proxy | None:
    variable, value = _first(environ, name)
    if not value:
        return None
    url = value if "://" in value else f"http://{value}"
    parts = urllib.parse.urlsplit(url)
    try:
        port = parts.port or DEFAULT_PORTS["http"]
    except ValueError:
        port = None
    if parts.scheme.lower() != "http" or not parts.hostname or port is None:
        raise RegistryError(
            f"{variable} is {_redacted(url)!r}, which is not a proxy ws can use (ws speaks "
            "plain HTTP to a proxy, and tunnels HTTPS through it)",
            fix=f"set {variable} to http://host:port (with credentials, "
            "http://user:password@host:port), or unset it for ws",
        )
    credentials = None
    if parts.username is not None:
        user = urllib.parse.unquote(parts.username)
        password = urllib.parse.unquote(parts.password or "")
        credentials = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
    return Proxy(parts.hostname, port, variable, credentials)


def _redacted(url: str) -> str:
    """url with any user:password@ replaced, so a message never shows credentials."""
    return re.sub(r"^([^:/]*://)?.*@", r"\1***@", url)


def _bypass(entry: str) -> _Bypass | None:
    """One NO_PROXY entry as Go's httpproxy reads it; None for an empty or malformed one."""
    if "/" in entry:
        try:
            return _Bypass(network=ipaddress.ip_network(entry, strict=False))
        except ValueError:
            return None
    host, port = _split_host_port(entry)
    ip = _ip(host)
    if ip is not None:
        return _Bypass(network=ipaddress.ip_network(ip), port=port)
    host = host.removeprefix("*")
    if not host or host == ".":
        return None
    exact = not host.startswith(".")
    return _Bypass(domain=host if not exact else f".{host}", exact=exact, port=port)


def _split_host_port(entry: str) -> tuple[str, str]:
    if entry.startswith("[") and "]" in entry:
        host, _, rest = entry[1:].partition("]")
        return host, rest.removeprefix(":")
    if entry.count(":") == 1:
        host, _, port = entry.partition(":")
        return host, port
    return entry, ""


def _ip(host: str) -> _IP | None:
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def build_opener(
    registry: str,
    proxies: ProxySettings | None,
    dog: Watchdog,
    refuse_redirect: Callable[[str], NoReturn],
) -> urllib.request.OpenerDirector:
    """An opener whose sockets dog can shut, whose requests take the proxy proxies choose
    (none if None) and whose redirects obey allowed_url; refuse_redirect raises for a
    redirect that does not."""
    return urllib.request.build_opener(
        _Proxies(proxies or ProxySettings()),
        _HTTPHandler(dog),
        _HTTPSHandler(dog),
        _Redirects(registry, refuse_redirect),
    )


class Watchdog:
    """Shuts every socket it watches at its deadline: per-read timeouts alone let a server
    that sends a byte every few seconds hold the connection for ever. Use as a context
    manager: the clock runs from entry."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.ends = time.monotonic() + seconds
        self.expired = False
        self.sockets: list[socket.socket] = []
        self.lock = threading.Lock()
        self.timer = threading.Timer(seconds, self.expire)
        self.timer.daemon = True

    def watch(self, sock: socket.socket) -> None:
        with self.lock:
            self.sockets.append(sock)
            if self.expired:
                _shut(sock)

    def expire(self) -> None:
        with self.lock:
            self.expired = True
            for sock in self.sockets:
                _shut(sock)

    def __enter__(self) -> Watchdog:
        self.ends = time.monotonic() + self.seconds
        self.timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.timer.cancel()

    def remaining(self) -> float:
        return self.ends - time.monotonic()

    def over(self) -> bool:
        return self.expired or self.remaining() <= 0


def _shut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


def _watched(base: type[http.client.HTTPConnection], dog: Watchdog) -> Any:
    """A connection factory for urllib's do_open whose sockets the watchdog can shut."""

    def make(host: str, **kwargs: Any) -> http.client.HTTPConnection:
        connection = base(host, **kwargs)
        # http.client's own hook for opening the socket, which a proxy's CONNECT then uses.
        create = connection._create_connection  # type: ignore[attr-defined]  # see above
        connect = connection.connect

        def watched_create(*args: Any) -> socket.socket:
            sock = create(*args)
            dog.watch(sock)  # before a proxy's CONNECT answer is read from it
            return sock

        def watched_connect() -> None:
            connect()
            dog.watch(connection.sock)  # the TLS socket now wrapping it

        connection._create_connection = watched_create  # type: ignore[attr-defined]  # as above
        connection.connect = watched_connect  # type: ignore[method-assign]  # one instance only
        return connection

    return make


class _Proxies(urllib.request.ProxyHandler):
    """Sends each request (redirects too) through the proxy settings choose for its URL, or
    directly. A ProxyHandler so that build_opener adds no default one, which would read the
    environment."""

    def __init__(self, settings: ProxySettings) -> None:
        super().__init__({})
        self.settings = settings

    def http_open(self, req: urllib.request.Request) -> None:
        proxy = self.settings.proxy_for(req.full_url)
        if proxy is None:
            return
        if proxy.credentials:
            # Unredirected: a redirect that goes direct must not carry it; urllib moves it
            # from the request to the CONNECT for https.
            req.add_unredirected_header("Proxy-Authorization", f"Basic {proxy.credentials}")
        req.set_proxy(proxy.address, "http")

    https_open = http_open


class _HTTPHandler(urllib.request.HTTPHandler):
    def __init__(self, dog: Watchdog) -> None:
        super().__init__()
        self.dog = dog

    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(_watched(http.client.HTTPConnection, self.dog), req)


class _HTTPSHandler(urllib.request.HTTPSHandler):
    """HTTPS with a context made per request, only when one is made. HTTPSHandler's own
    __init__ is skipped: it makes a context up front (about 25 ms of reading CA files), which
    a loopback registry never needs. It stays an HTTPSHandler so that build_opener adds no
    default one beside it, whose connections the watchdog would not see."""

    def __init__(self, dog: Watchdog) -> None:
        urllib.request.AbstractHTTPHandler.__init__(self)
        self.dog = dog

    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        context = ssl.create_default_context()
        return self.do_open(_watched(http.client.HTTPSConnection, self.dog), req, context=context)


class _Redirects(urllib.request.HTTPRedirectHandler):
    """Follows a redirect only to HTTPS, or to plain HTTP on loopback from a loopback registry."""

    def __init__(self, registry: str, refuse: Callable[[str], NoReturn]) -> None:
        super().__init__()
        self.registry = registry
        self.refuse = refuse

    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: Any,
        code: int,
        msg: str,
        headers: http.client.HTTPMessage,
        newurl: str,
    ) -> urllib.request.Request | None:
        if not allowed_url(self.registry, newurl):
            self.refuse(newurl)
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def allowed_url(registry: str, url: str) -> bool:
    """Whether ws may send a request for registry to url: HTTPS anywhere, plain HTTP only
    to a loopback host and only when the registry itself is on loopback."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme == "https":
        return bool(parts.hostname)
    if parts.scheme != "http":
        return False
    return _is_loopback(_host_of(registry)) and _is_loopback(parts.hostname or "")


def base_url(registry: str) -> str:
    """scheme://registry: plain HTTP for loopback hosts, HTTPS for everything else."""
    scheme = "http" if _is_loopback(_host_of(registry)) else "https"
    return f"{scheme}://{registry}"


def _host_of(registry: str) -> str:
    if registry.startswith("["):
        return registry[1 : registry.find("]")]
    return registry.partition(":")[0]


def _is_loopback(host: str) -> bool:
    return host.lower() in LOOPBACK_HOSTS

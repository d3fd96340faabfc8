"""HTTP for the registry client: where it may go (HTTPS; plain HTTP only on loopback) and an
overall deadline per exchange, which per-read timeouts alone do not give."""

from __future__ import annotations

import contextlib
import http.client
import socket
import ssl
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from typing import Any, NoReturn

LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


def build_opener(
    registry: str,
    proxies: Mapping[str, str] | None,
    dog: Watchdog,
    refuse_redirect: Callable[[str], NoReturn],
) -> urllib.request.OpenerDirector:
    """An opener whose sockets dog can shut and whose redirects obey allowed_url;
    refuse_redirect raises for a redirect that does not."""
    return urllib.request.build_opener(
        urllib.request.ProxyHandler(dict(proxies or {})),
        _HTTPHandler(dog),
        _HTTPSHandler(dog),
        _Redirects(registry, refuse_redirect),
    )


class Watchdog:
    """Shuts a session's sockets at its deadline: per-read timeouts alone let a server that
    sends a byte every few seconds hold the connection for ever."""

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

    def remaining(self) -> float:
        return self.ends - time.monotonic()


def _shut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


def _watched(base: type[http.client.HTTPConnection], dog: Watchdog) -> Any:
    """A connection factory for urllib's do_open whose sockets the watchdog can shut."""

    def make(host: str, **kwargs: Any) -> http.client.HTTPConnection:
        connection = base(host, **kwargs)
        connect = connection.connect

        def watched_connect() -> None:
            connect()
            dog.watch(connection.sock)

        connection.connect = watched_connect  # type: ignore[method-assign]  # one instance only
        return connection

    return make


class _HTTPHandler(urllib.request.HTTPHandler):
    def __init__(self, dog: Watchdog) -> None:
        super().__init__()
        self.dog = dog

    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(_watched(http.client.HTTPConnection, self.dog), req)


class _HTTPSHandler(urllib.request.HTTPSHandler):
    def __init__(self, dog: Watchdog) -> None:
        super().__init__(context=ssl.create_default_context())
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

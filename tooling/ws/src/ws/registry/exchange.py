"""One request to a registry and its answer, for every client of ws's: the opener of
transport.py (where a request may go, the deadline, the proxy), the body read up to a limit,
and a failure to reach the registry turned into one RegistryError saying whom to blame.
Bearer challenges and token answers are read here too, the same for every client."""

from __future__ import annotations

import json
import re
import socket
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.message import Message
from http.client import HTTPException
from typing import NoReturn

from ws import __version__
from ws.errors import RegistryError
from ws.printable import printable
from ws.registry.transport import Proxy, ProxySettings, Watchdog, build_opener

RETRY = "check the registry is healthy and run again"
MANIFEST_LIMIT = 4 * 1024 * 1024  # the distribution spec's manifest size ceiling
TOKEN_LIMIT = 1024 * 1024
_WITH_CREDENTIALS = "http://user:password@host:port"
_PARAM = re.compile(r'([A-Za-z_][\w-]*)=(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))')


@dataclass(frozen=True)
class Response:
    status: int
    reason: str
    headers: Message
    body: bytes


class Exchange:
    """The HTTP side of one call to registry: what names the call in every message (e.g.
    "cannot resolve IMAGE"); dog is the call's deadline; refuse_redirect raises for a
    redirect transport.allowed_url forbids."""

    def __init__(
        self,
        registry: str,
        what: str,
        *,
        timeout: float,
        proxies: ProxySettings | None,
        dog: Watchdog,
        refuse_redirect: Callable[[str], NoReturn],
    ) -> None:
        self.registry = registry
        self.what = what
        self.timeout = timeout
        self.proxies = proxies or ProxySettings()
        self.dog = dog
        self.opener = build_opener(registry, self.proxies, dog, refuse_redirect)

    def send(
        self,
        method: str,
        url: str,
        limit: int,
        headers: Mapping[str, str],
        *,
        private: Mapping[str, str] | None = None,
        data: bytes | None = None,
    ) -> Response:
        """The answer to method url, its body read up to limit + 1 bytes (so a caller sees
        an oversized one). private headers (credentials) are not sent along a redirect."""
        # S310: every URL here is http(s), built by base_url or checked by allowed_url.
        request = urllib.request.Request(url, data=data, method=method)  # noqa: S310
        request.add_header("User-Agent", f"ws/{__version__}")
        for name, value in headers.items():
            request.add_header(name, value)
        for name, value in (private or {}).items():
            request.add_unredirected_header(name, value)
        try:
            response = self._exchange(request, limit)
        except (urllib.error.URLError, OSError, HTTPException) as e:
            self.check_deadline()
            proxy = self.proxies.proxy_for(url)
            if proxy is not None:
                raise self._unreachable_through(url, proxy, e) from e
            raise self._unreachable(url, e) from e
        self.check_deadline()
        return response

    def _exchange(self, request: urllib.request.Request, limit: int) -> Response:
        timeout = max(0.001, min(self.timeout, self.dog.remaining()))
        try:
            with self.opener.open(request, timeout=timeout) as answer:
                body = answer.read(limit + 1)
                return Response(answer.status, answer.reason, answer.headers, body)
        except urllib.error.HTTPError as e:
            if e.fp is not None:
                e.close()
            return Response(e.code, str(e.reason), e.headers, b"")

    def check_deadline(self) -> None:
        if self.dog.over():
            self.fail(
                f"{self.registry} was still answering when the {self.dog.seconds:g} s "
                "deadline ran out",
                RETRY,
            )

    def fail(self, problem: str, fix: str) -> NoReturn:
        raise RegistryError(f"{self.what}: {problem}", fix=fix)

    def _unreachable(self, url: str, error: Exception) -> RegistryError:
        reason = error.reason if isinstance(error, urllib.error.URLError) else error
        if isinstance(error, HTTPException):
            reason = f"the answer is not valid HTTP ({type(error).__name__})"
        host = urllib.parse.urlsplit(url).netloc
        return RegistryError(
            printable(f"{self.what}: cannot reach {host} ({_bare(url)}): {reason}"),
            fix="check the registry is running and its address is right",
        )

    def _unreachable_through(self, url: str, proxy: Proxy, error: Exception) -> RegistryError:
        """The failure of a request sent through proxy, blaming the proxy when it was at
        fault. Only the proxy is connected to, so a refused connection or an unknown name is
        the proxy's; a CONNECT it answers with an error arrives as http.client's OSError text."""
        reason = error.reason if isinstance(error, urllib.error.URLError) else error
        parts = urllib.parse.urlsplit(url)
        host = parts.hostname or ""
        via = f"the proxy {proxy} (from {proxy.variable})"
        direct = f"or list {host} in NO_PROXY to connect to it directly"
        refused = re.match(r"Tunnel connection failed: (\d+)", str(reason))
        if isinstance(reason, ConnectionRefusedError | socket.gaierror):
            problem = f"cannot reach {via}: {reason}"
            fix = f"check the proxy is running and {proxy.variable} is right, {direct}"
        elif refused:
            problem = f"{via} refused to connect to {parts.netloc}: {reason}"
            fix = f"check the proxy lets you reach {host}, {direct}"
            if refused[1] == "407":
                fix = f"the proxy wants credentials: set {proxy.variable} to {_WITH_CREDENTIALS}"
                if proxy.credentials:
                    fix = f"the proxy refused the credentials in {proxy.variable}: check them"
        else:
            problem = f"cannot reach {parts.netloc} ({_bare(url)}) through {via}: {reason}"
            fix = f"check the registry is running and its address is right, {direct}"
        return RegistryError(printable(f"{self.what}: {problem}"), fix=fix)


def _bare(url: str) -> str:
    """url without its query: an upload location's query is the registry's state, not for
    messages."""
    return urllib.parse.urlsplit(url)._replace(query="", fragment="").geturl()


def challenges(response: Response) -> dict[str, dict[str, str]]:
    """The WWW-Authenticate challenges of a 401, by lower-case scheme: their parameters."""
    found: dict[str, dict[str, str]] = {}
    for value in response.headers.get_all("WWW-Authenticate") or []:
        scheme, _, params = value.strip().partition(" ")
        found.setdefault(
            scheme.lower(),
            {
                key.lower(): re.sub(r"\\(.)", r"\1", quoted) if quoted else bare
                for key, quoted, bare in _PARAM.findall(params)
            },
        )
    return found


def token_from(body: bytes) -> str | None:
    """The token in a token service's JSON answer, None when there is none."""
    try:
        data = json.loads(body)
    except ValueError:
        return None
    token = data.get("token") or data.get("access_token") if isinstance(data, dict) else None
    return token if isinstance(token, str) and token else None

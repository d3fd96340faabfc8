"""Opening a BuildKit session on the engine and serving it: `POST /session` with `Upgrade:
h2c` (the engine answers 101), after which the engine is the HTTP/2 and gRPC *client* on that
connection and ws the server of the session's services. The build request names the session
by its id (the `session` query parameter), and the engine calls back while the build runs.

The connection is ws's own (docker-py has no session): to the same endpoint docker-py uses,
a unix socket, TCP with the endpoint's TLS, or `ssh HOST docker system dial-stdio` as the
docker CLI runs it. gRPC and HTTP/2 are grpclib's (on h2); ws writes only the HTTP/1.1
upgrade request. The services run on an asyncio loop in a thread of the session's own, so
the builds keep docker-py's blocking calls.

The build request does not wait for the session: BuildKit waits for a session the build
names (up to 5 s) when a step first needs it. ws starts it (`start`) once the engine has
taken the build, so importing grpclib, h2 and protobuf (about 35 ms) and the upgrade overlap
the engine's work instead of ws's own: a Python thread importing takes the interpreter from
the one preparing the request. A session that could not open is the run's error once the
build is over (`check`).
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import threading
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ws import proc
from ws.docker.builds.endpoint import DEFAULT_TCP_PORT, Endpoint, Tls
from ws.errors import DockerUnavailable

if TYPE_CHECKING:
    from grpclib._typing import IServable

    from ws.docker.session.plan import Offer

# What a session serves: its handlers (grpclib servables) and the gRPC method paths the engine
# is told of. Called in the session's thread, which imports the gRPC stack.
Serving = Callable[[], tuple[Sequence["IServable"], Sequence[str]]]

SESSION_NAME = "ws"
LOCAL_HOST = "api.moby.localhost"  # the docker CLI's Host header towards a socket
OPEN_TIMEOUT = 30.0  # seconds for the engine to answer the upgrade (an ssh login included)
_MAX_HEAD = 64 * 1024
SESSION_FIX = (
    "check that the engine answers `docker version`; ws opens a BuildKit session "
    "(POST /session) for every build, as the docker CLI does"
)


class Session:
    """A session on endpoint's engine serving what `serving` returns: use as a context manager
    around the builds naming `id`, and `start` it once a build is under way; `check` says
    whether it opened."""

    def __init__(self, endpoint: Endpoint, api_version: str, serving: Serving) -> None:
        self.id = uuid.uuid4().hex
        self._endpoint = endpoint
        self._api_version = api_version
        self._serving = serving
        self._opened: Future[None] = Future()
        self._lock = threading.Lock()  # orders close() against the loop's start
        self._closing = False
        self._started = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, name=f"ws-session-{self.id}", daemon=True)
        self._ssh: proc.Running | None = None

    @classmethod
    def offering(cls, endpoint: Endpoint, api_version: str, offer: Offer) -> Session:
        """A session serving offer (its secrets, ssh agent and registry logins)."""

        def serving() -> tuple[Sequence[IServable], Sequence[str]]:
            from ws.docker.session import services

            return services.handlers(offer), services.methods(offer)

        return cls(endpoint, api_version, serving)

    def __enter__(self) -> Session:
        return self

    def start(self) -> None:
        """Open the session (in its thread; returns at once). Again: nothing more."""
        with self._lock:
            if not self._closing and not self._started:
                self._started = True
                self._thread.start()

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def raise_failure(self) -> None:
        """Raise why the session could not open, if it has failed by now (never waits)."""
        if self._opened.done() and (error := self._opened.exception()) is not None:
            raise error

    def check(self) -> None:
        """Wait until the session is open, or raise why it could not open; nothing for a
        session never started."""
        if not self._started:
            return
        try:
            self._opened.result(timeout=OPEN_TIMEOUT + 5)
        except TimeoutError as e:
            raise DockerUnavailable(
                f"{self._endpoint}: the engine did not take ws's build session within "
                f"{OPEN_TIMEOUT:.0f} s",
                fix=SESSION_FIX,
            ) from e

    def close(self) -> None:
        with self._lock:
            self._closing = True
            loop, stop = self._loop, self._stop
        if loop is not None and stop is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(stop.set)
            except RuntimeError:
                pass  # the loop closed meanwhile: the session is over already
        # A thread still importing the gRPC stack has dialled nothing: it sees _closing and
        # ends by itself, and a build that never needed the session does not wait for it.
        if loop is not None and self._thread.is_alive():
            self._thread.join(timeout=10)
        if self._ssh is not None:
            self._ssh.stop()
            self._ssh = None

    # ------------------------------------------------------------ the session's thread

    def _run(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as e:
            if not self._opened.done():
                self._opened.set_exception(e)

    async def _serve(self) -> None:
        from grpclib.server import Server

        handlers, methods = self._serving()
        with self._lock:
            if self._closing:  # closed before it opened: the builds are over
                raise DockerUnavailable(f"{self._endpoint}: the build session was closed")
            self._loop = asyncio.get_running_loop()
            self._stop = stop = asyncio.Event()
        server = Server(handlers)
        # grpclib serves the sockets it listens on; this connection is one ws dialled, so
        # its protocol is made as Server.start makes one for an accepted connection.
        upgrade = _Upgrade(self._request(methods), server._protocol_factory)
        try:
            transport = await asyncio.wait_for(self._connect(lambda: upgrade), OPEN_TIMEOUT)
            await asyncio.wait_for(upgrade.answered, OPEN_TIMEOUT)
        except (OSError, ssl.SSLError, TimeoutError, ConnectionError) as e:
            raise DockerUnavailable(
                f"{self._endpoint}: could not open a build session: {e}", fix=SESSION_FIX
            ) from e
        self._opened.set_result(None)
        try:
            await stop.wait()
        finally:
            transport.close()

    def _request(self, methods: Sequence[str]) -> bytes:
        host = self._endpoint.host
        parts = urlsplit(host)
        lines = [
            f"POST /v{self._api_version}/session HTTP/1.1",
            f"Host: {parts.netloc if host.startswith('tcp://') else LOCAL_HOST}",
            "User-Agent: ws",
            "Connection: Upgrade",
            "Upgrade: h2c",
            f"X-Docker-Expose-Session-Uuid: {self.id}",
            f"X-Docker-Expose-Session-Name: {SESSION_NAME}",
            f"X-Docker-Expose-Session-Sharedkey: {SESSION_NAME}",
            *(f"X-Docker-Expose-Session-Grpc-Method: {m}" for m in methods),
        ]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("ascii")

    async def _connect(self, factory: Callable[[], asyncio.Protocol]) -> asyncio.BaseTransport:
        loop = asyncio.get_running_loop()
        host = self._endpoint.host
        parts = urlsplit(host)
        if host.startswith("unix://"):
            transport, _ = await loop.create_unix_connection(factory, parts.path)
        elif host.startswith("tcp://"):
            context = tls_context(self._endpoint.tls)
            transport, _ = await loop.create_connection(
                factory,
                parts.hostname or "",
                parts.port or DEFAULT_TCP_PORT,
                ssl=context,
                server_hostname=parts.hostname if context is not None else None,
            )
        else:
            ours, theirs = socket.socketpair()
            try:
                self._ssh = proc.start_on_socket(dial_stdio_argv(host), theirs)
            finally:
                theirs.close()
            transport, _ = await loop.create_connection(factory, sock=ours)
        return transport


def dial_stdio_argv(host: str) -> list[str]:
    """The ssh command line reaching an ssh:// engine, as docker-py and the docker CLI run it."""
    parts = urlsplit(host)
    argv = ["ssh"]
    if parts.username:
        argv += ["-l", parts.username]
    if parts.port:
        argv += ["-p", str(parts.port)]
    return [*argv, "--", parts.hostname or "", "docker system dial-stdio"]


def tls_context(tls: Tls | None) -> ssl.SSLContext | None:
    """The TLS towards a tcp:// engine that docker-py's TLSConfig sets up for endpoint."""
    if tls is None:
        return None
    context = ssl.create_default_context(cafile=str(tls.ca) if tls.ca else None)
    if not tls.verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if tls.cert is not None:
        context.load_cert_chain(str(tls.cert[0]), str(tls.cert[1]))
    return context


def _content_length(head: bytes) -> int:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length" and value.strip().isdigit():
            return int(value.strip())
    return 0


class _Upgrade(asyncio.Protocol):
    """Sends the upgrade request, reads the engine's answer, and on 101 hands the connection
    (with any bytes that came after the answer) to the HTTP/2 server protocol."""

    def __init__(self, request: bytes, serve: Callable[[], asyncio.Protocol]) -> None:
        self._request = request
        self._serve = serve
        self._buffer = b""
        self._transport: asyncio.Transport | None = None
        self.answered: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: Any) -> None:
        self._transport = transport
        transport.write(self._request)

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        head, found, rest = self._buffer.partition(b"\r\n\r\n")
        if not found:
            if len(self._buffer) > _MAX_HEAD:
                self._fail("an answer to the upgrade with no end to its headers")
            return
        status = head.split(b"\r\n", 1)[0].decode("latin-1")
        if status.split(" ")[1:2] != ["101"]:
            if len(rest) < min(_content_length(head), _MAX_HEAD):
                return  # the error's text is still on its way
            body = rest.decode("utf-8", "replace").strip()[:300]
            self._fail(f"the engine answered {status!r}" + (f": {body}" if body else ""))
            return
        assert self._transport is not None  # noqa: S101 -- data comes after connection_made
        protocol = self._serve()
        self._transport.set_protocol(protocol)
        protocol.connection_made(self._transport)
        if rest:
            protocol.data_received(rest)
        self.answered.set_result(None)

    def _fail(self, why: str) -> None:
        if not self.answered.done():
            self.answered.set_exception(ConnectionError(why))
        if self._transport is not None:
            self._transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.answered.done():
            self.answered.set_exception(
                ConnectionError(f"the engine closed the connection: {exc or 'no answer'}")
            )

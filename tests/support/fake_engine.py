"""A loopback HTTP server that answers the few Engine API requests ws makes as a broken or
hostile engine would: the real engine cannot be made to send a list for /version, a junk
ApiVersion or build events that are not objects; this server can, over a real socket, so ws's
handling of each is tested through docker-py and requests as they run for a real engine.

Built like tests/support/fake_registry.py, on the same quiet server (quiet_http.py) on
127.0.0.1: one answer per kind of request, every request recorded.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from tests.support.quiet_http import QuietHandler, QuietServer

# "/v1.41/images/x/json" -> "/images/x/json": the answer does not depend on the API version.
_VERSIONED = re.compile(r"^/v[0-9]+\.[0-9]+(?=/)")


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes
    content_type: str = "application/json"


def answer(status: int, data: Any) -> Answer:
    """An answer whose body is data as JSON (bytes as they are)."""
    return Answer(status, data if isinstance(data, bytes) else json.dumps(data).encode())


def events(*items: Any) -> Answer:
    """A 200 stream of JSON lines, as /build and /images/create send them."""
    lines = [item if isinstance(item, bytes) else json.dumps(item).encode() for item in items]
    return Answer(200, b"\n".join(lines) + b"\n")


LINUX = {"ApiVersion": "1.41", "Os": "linux", "Version": "20.10.24"}


@dataclass
class Answers:
    """What the engine says; the defaults are a sound engine that holds every image and
    builds nothing."""

    version: Answer = field(default_factory=lambda: answer(200, LINUX))
    inspect: Answer = field(default_factory=lambda: answer(200, {"Id": "sha256:" + "1" * 64}))
    build: Answer = field(default_factory=lambda: events({"stream": "nothing to do\n"}))
    pull: Answer = field(default_factory=lambda: events({"status": "pulled"}))
    push: Answer = field(default_factory=lambda: events({"aux": {"Digest": "sha256:" + "2" * 64}}))
    other: Answer = field(default_factory=lambda: answer(404, {"message": "page not found"}))
    session: Answer | None = None  # None: take the session (101), as the engine does
    # Hold the session's 101 until a build request came, and the build's events until the
    # session was taken (as a step waits for the session it needs).
    session_after_build: bool = False


class FakeEngine:
    """Start with `with FakeEngine() as engine:`; engine.host is "tcp://127.0.0.1:PORT"."""

    def __init__(self, answers: Answers | None = None) -> None:
        self.answers = answers or Answers()
        self.seen: list[tuple[str, str]] = []  # (method, path without the API version)
        self.build_seen = threading.Event()
        self.session_taken = threading.Event()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.engine = self
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def host(self) -> str:
        return f"tcp://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> FakeEngine:
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


class _Server(QuietServer):
    engine: FakeEngine


class _Handler(QuietHandler):
    def do_POST(self) -> None:
        self._read_body()
        self._answer()

    def _switch(self) -> None:
        """Take a BuildKit session as the engine does (101, then HTTP/2 with ws as the
        server), and keep quiet on it: the fake engine never calls back. ("101", "/session")
        goes into what the engine saw when it answers."""
        assert isinstance(self.server, _Server)
        engine = self.server.engine
        if engine.answers.session_after_build:
            engine.build_seen.wait(timeout=10)
        engine.seen.append(("101", "/session"))
        self.send_response(101)
        self.send_header("Connection", "Upgrade")
        self.send_header("Upgrade", "h2c")
        self.end_headers()
        self.wfile.flush()
        engine.session_taken.set()
        self.close_connection = True
        while self.rfile.read1(65536):  # until ws closes the session
            pass

    def _read_body(self) -> None:
        """Read the request body (a build context), chunked or not, before answering."""
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            while size := int(self.rfile.readline().strip() or b"0", 16):
                self.rfile.read(size + 2)
            self.rfile.readline()
        else:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _answer(self) -> None:
        assert isinstance(self.server, _Server)
        engine = self.server.engine
        path = _VERSIONED.sub("", self.path.partition("?")[0])
        engine.seen.append((self.command, path))
        chosen = engine.answers.other
        if path == "/session" and engine.answers.session is None:
            self._switch()
            return
        if path == "/session" and engine.answers.session is not None:
            chosen = engine.answers.session
        if path == "/version":
            chosen = engine.answers.version
        elif path.startswith("/images/") and path.endswith("/json"):
            chosen = engine.answers.inspect
        elif path == "/build":
            engine.build_seen.set()
            chosen = engine.answers.build
        elif path == "/images/create":
            chosen = engine.answers.pull
        elif path.startswith("/images/") and path.endswith("/push"):
            chosen = engine.answers.push
        self.send_response(chosen.status)
        self.send_header("Content-Type", chosen.content_type)
        self.send_header("Content-Length", str(len(chosen.body)))
        self.end_headers()
        if path == "/build" and engine.answers.session_after_build:
            self.wfile.flush()
            engine.session_taken.wait(timeout=10)
        if self.command != "HEAD":
            self.wfile.write(chosen.body)

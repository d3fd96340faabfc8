"""The loopback HTTP servers of the tests' fakes: threaded, silent, and calm when a client
hangs up mid-answer (the tests of timeouts and refusals do it on purpose)."""

from __future__ import annotations

import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class QuietServer(ThreadingHTTPServer):
    daemon_threads = True  # a stalled handler must not hold up shutdown

    def handle_error(self, request: object, client_address: object) -> None:
        """A client that hung up mid-answer is no error of the server's; anything else is
        printed as socketserver does."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)  # type: ignore[arg-type]


class QuietHandler(BaseHTTPRequestHandler):
    """Answers GET, HEAD, POST and PUT with _answer(), over HTTP/1.1, logging nothing."""

    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: pytest would show every request on stderr."""

    def do_GET(self) -> None:
        self._answer()

    def do_HEAD(self) -> None:
        self._answer()

    def do_POST(self) -> None:
        self._answer()

    def do_PUT(self) -> None:
        self._answer()

    def _answer(self) -> None:
        raise NotImplementedError

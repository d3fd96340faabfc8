"""A small JSON-over-HTTP service: GET /report for word reports, GET /health for probes."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib.metadata import version
from types import FrameType
from typing import Any
from urllib.parse import parse_qs, urlsplit

from example_core import slugify
from example_report import build_report

DEFAULT_PORT = 8080
# Inside a container the service must be reachable from outside its own loopback.
DEFAULT_HOST = "0.0.0.0"  # noqa: S104
_STARTED = time.monotonic()


def _uptime() -> str:
    seconds = int(time.monotonic() - _STARTED)
    try:
        import humanize  # pyright: ignore[reportMissingImports] - the optional extra
    except ImportError:
        return f"{seconds} seconds"
    return humanize.naturaldelta(seconds)


class Handler(BaseHTTPRequestHandler):
    """Routes GET requests to the JSON endpoints."""

    server_version = "example-service"

    def do_GET(self) -> None:  # the name http.server dispatches GET to
        url = urlsplit(self.path)
        query = {key: values[-1] for key, values in parse_qs(url.query).items()}
        if url.path == "/health":
            self._send(HTTPStatus.OK, health())
        elif url.path == "/report":
            self._send(*report(query))
        elif url.path == "/":
            self._send(HTTPStatus.OK, {"endpoints": ["/health", "/report?text=...&title=&top=3"]})
        else:
            self._send(HTTPStatus.NOT_FOUND, {"error": f"no such path: {url.path}"})

    def _send(self, status: HTTPStatus, body: dict[str, Any]) -> None:
        payload = json.dumps(body).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


def health() -> dict[str, Any]:
    """What GET /health answers."""
    return {"status": "ok", "version": version("example-service"), "uptime": _uptime()}


def report(query: dict[str, str]) -> tuple[HTTPStatus, dict[str, Any]]:
    """What GET /report answers for the query parameters ``text``, ``title`` and ``top``."""
    text = query.get("text", "")
    if not text.strip():
        return HTTPStatus.BAD_REQUEST, {"error": "give the text to report on: /report?text=..."}
    try:
        top = int(query.get("top", "3"))
        result = build_report(text, title=query.get("title", ""), top=top)
    except ValueError as e:
        return HTTPStatus.BAD_REQUEST, {"error": f"top must be a whole number >= 0 ({e})"}
    body = result.as_dict()
    body["id"] = slugify(f"{result.slug} {result.stats.words} words")
    return HTTPStatus.OK, body


def make_server(host: str, port: int) -> ThreadingHTTPServer:
    """Bind the service to ``host``:``port`` (port 0 picks a free one); call serve_forever()."""
    return ThreadingHTTPServer((host, port), Handler)


def _stop(signum: int, frame: FrameType | None) -> None:
    # As PID 1 in a container SIGTERM is ignored unless handled, so `docker stop` would hang.
    raise SystemExit(0)


def main() -> None:
    """Entry point of the ``example-service`` script: serve on $HOST:$PORT until stopped."""
    raw_port = os.environ.get("PORT", str(DEFAULT_PORT))
    if not raw_port.isdigit() or not 0 < int(raw_port) < 65536:
        sys.exit(f"example-service: PORT must be a number from 1 to 65535, got {raw_port!r}")
    server = make_server(os.environ.get("HOST", DEFAULT_HOST), int(raw_port))
    signal.signal(signal.SIGTERM, _stop)
    print(f"example-service listening on port {server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()

"""Loopback services that ask for a login: a real pypiserver with an htpasswd file (passlib
writes it), and a registry in front of the loopback one that wants basic auth."""

from __future__ import annotations

import base64
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

from passlib.handlers.sha2_crypt import sha256_crypt

from tests.support.quiet_http import QuietHandler, QuietServer

UPSTREAM = "http://127.0.0.1:5000"  # the tests' loopback registry (tooling/engine.sh)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# pypiserver, with bcrypt hidden: passlib 1.7.4 (its last release) fails on import with
# bcrypt 5, which paramiko brings ("password cannot be longer than 72 bytes"); the htpasswd
# file here uses sha256_crypt.
_SERVE = (
    "import sys; sys.modules['bcrypt'] = None; sys.argv[0] = 'pypi-server'; "
    "from pypiserver.__main__ import main; sys.exit(main())"
)


class PrivateIndex:
    """`pypi-server run` on 127.0.0.1 serving folder, every request behind basic auth."""

    def __init__(self, folder: Path, username: str, password: str) -> None:
        self.folder = folder
        self.username = username
        self.htpasswd = folder.parent / f"{folder.name}.htpasswd"
        self.port = free_port()
        self.set_password(password)
        argv = [sys.executable, "-c", _SERVE, "run", "-i", "127.0.0.1", "-p", str(self.port), "-P"]
        argv += [str(self.htpasswd), "-a", "download,list,update", "--disable-fallback"]
        self.log = folder.parent / f"{folder.name}.log"
        with self.log.open("wb") as log:
            self._process = subprocess.Popen([*argv, str(folder)], stdout=log, stderr=log)
        self._wait()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/simple"

    def set_password(self, password: str) -> None:
        """A new password for the user (pypiserver reads the file again when it changes)."""
        self.password = password
        self.htpasswd.write_text(f"{self.username}:{sha256_crypt.hash(password)}\n")

    def _wait(self) -> None:
        for _ in range(100):
            if self._process.poll() is not None:
                raise RuntimeError(f"pypi-server exited: {self.log.read_text()}")
            try:
                urllib.request.urlopen(self.url + "/", timeout=1).close()  # noqa: S310 -- loopback
                return
            except urllib.error.HTTPError as e:
                if e.code == 401:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"pypi-server did not answer: {self.log.read_text()}")

    def close(self) -> None:
        self._process.terminate()
        self._process.wait(timeout=10)


class AuthRegistry:
    """127.0.0.1:<port>, a registry wanting a basic-auth login, forwarding what it lets
    through to the loopback registry; it records the user of each request (None: anonymous)."""

    def __init__(self, username: str, password: str) -> None:
        self.expected = "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()
        self.requests: list[tuple[str, bool]] = []  # (path, authorised)
        registry = self

        class Handler(QuietHandler):
            def _answer(self) -> None:
                registry.forward(self)

        self._server = QuietServer(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def forward(self, handler: QuietHandler) -> None:
        authorised = handler.headers.get("Authorization") == self.expected
        self.requests.append((handler.path, authorised))
        if not authorised:
            handler.send_response(401)
            handler.send_header("WWW-Authenticate", 'Basic realm="ws-test"')
            handler.send_header("Docker-Distribution-API-Version", "registry/2.0")
            handler.send_header("Content-Length", "0")
            handler.end_headers()
            return
        url = UPSTREAM + handler.path  # always the loopback registry
        request = urllib.request.Request(url, method=handler.command)  # noqa: S310 -- http only
        accept = handler.headers.get_all("Accept") or []
        if accept:
            request.add_header("Accept", ", ".join(accept))
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        try:
            answer = opener.open(request, timeout=60)
        except urllib.error.HTTPError as e:
            answer = e
        with answer:
            body = answer.read() if handler.command != "HEAD" else b""
            handler.send_response(answer.status or 502)
            for name, value in answer.headers.items():
                if name.lower() not in ("transfer-encoding", "connection", "content-length"):
                    handler.send_header(name, value)
            length = answer.headers.get("Content-Length") or str(len(body))
            handler.send_header(
                "Content-Length", length if handler.command == "HEAD" else str(len(body))
            )
            handler.end_headers()
            handler.wfile.write(body)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

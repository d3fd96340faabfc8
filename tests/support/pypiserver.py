"""A real pypiserver (the PyPI package) on a free loopback port: an index tests upload to
and install from, offline. Uploads need a password (htpasswd made with passlib); reads don't."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

USER = "uploader"
PASSWORD = "s3cret-upload"  # noqa: S105 -- a throwaway password for a loopback test server
# passlib (which pypiserver uses for htpasswd) breaks on bcrypt 4.1 and later, which paramiko
# brings: hiding bcrypt keeps passlib to the scheme the htpasswd file is in. That is Apache's
# MD5 (apr_md5_crypt), cheap to check: sha256_crypt's 535,000 rounds cost about 0.35 s on
# every upload request, which would dominate what the benchmark measures.
_MAIN = (
    "import sys; sys.modules['bcrypt'] = None; "
    "from pypiserver.__main__ import main; sys.argv[0] = 'pypi-server'; main()"
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_htpasswd(path: Path, user: str = USER, password: str = PASSWORD) -> Path:
    code = (
        "import sys; sys.modules['bcrypt'] = None\n"
        "from passlib.apache import HtpasswdFile\n"
        f"h = HtpasswdFile({str(path)!r}, new=True, default_scheme='apr_md5_crypt')\n"
        f"h.set_password({user!r}, {password!r}); h.save()\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    return path


class PyPIServer:
    """pypi-server run on 127.0.0.1:port, serving and storing packages in folder."""

    def __init__(self, folder: Path, port: int | None = None) -> None:
        self.folder = folder / "packages"
        self.folder.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        htpasswd = write_htpasswd(folder / "htpasswd")
        argv = ["run", "-i", "127.0.0.1", "-p", str(self.port), "-a", "update"]
        argv += ["-P", str(htpasswd), "--disable-fallback", str(self.folder)]
        self._log = (folder / "server.log").open("wb")
        self._proc = subprocess.Popen(
            [sys.executable, "-c", _MAIN, *argv], stdout=self._log, stderr=subprocess.STDOUT
        )
        self._wait_ready()

    @property
    def url(self) -> str:
        """The simple API."""
        return f"http://127.0.0.1:{self.port}/simple/"

    @property
    def upload_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def files(self) -> list[str]:
        return sorted(p.name for p in self.folder.iterdir())

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"pypiserver exited {self._proc.returncode}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("pypiserver did not start within 20 s")

    def stop(self) -> None:
        self._proc.terminate()
        try:
            self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        self._log.close()


@pytest.fixture
def pypiserver(tmp_path: Path) -> Iterator[PyPIServer]:
    """A fresh pypiserver for one test, stopped after it."""
    server = PyPIServer(tmp_path / "pypiserver")
    yield server
    server.stop()

"""A second real `docker-registry` (as tooling/engine.sh starts one) on a free loopback port,
demanding Basic credentials from an htpasswd file: for tests of ws's logins against the
real thing. Its data lives in the test's folder; it is stopped when the test ends."""

from __future__ import annotations

import shutil
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.support.fake_registry import closed_port

START_TIMEOUT = 20.0


@contextmanager
def htpasswd_registry(folder: Path, user: str, password: str) -> Iterator[str]:
    """Start a registry wanting user:password; yields its host ("127.0.0.1:PORT")."""
    program = shutil.which("docker-registry")
    if program is None:
        pytest.skip("docker-registry is not installed (run tooling/engine.sh)")
    bcrypt = pytest.importorskip("bcrypt")  # the dev group has it, through paramiko
    folder.mkdir(parents=True, exist_ok=True)
    hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4)).decode()
    (folder / "htpasswd").write_text(f"{user}:{hashed}\n")
    host = f"127.0.0.1:{closed_port()}"
    config = folder / "registry.yml"
    config.write_text(
        "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\n"
        f"storage:\n  filesystem:\n    rootdirectory: {folder / 'data'}\n"
        f"auth:\n  htpasswd:\n    realm: ws-test\n    path: {folder / 'htpasswd'}\n"
        f"http:\n  addr: {host}\n  secret: ws-test-only\n"
    )
    with (folder / "registry.log").open("wb") as log:
        server = subprocess.Popen([program, "serve", str(config)], stdout=log, stderr=log)
    try:
        _wait_for(host, server, folder / "registry.log")
        yield host
    finally:
        server.terminate()
        server.wait(timeout=10)


def _wait_for(host: str, server: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"docker-registry exited at start-up:\n{log.read_text()}")
        try:
            opener.open(f"http://{host}/v2/", timeout=1)
        except urllib.error.HTTPError as e:
            if e.code == 401:  # up, and wanting credentials
                return
        except OSError:
            pass
        time.sleep(0.1)
    pytest.fail(f"docker-registry did not answer within {START_TIMEOUT:g} s:\n{log.read_text()}")

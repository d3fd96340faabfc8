"""A real sshd on loopback for tests (its keys, config and log in a folder of the test's):
root's key login only. tooling/engine.sh installs it and makes its privilege-separation
folder. Used for ssh:// engines and for git over ssh."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

SSHD = Path("/usr/sbin/sshd")


@dataclass(frozen=True)
class Sshd:
    port: int
    folder: Path
    log: Path

    @property
    def host(self) -> str:
        return f"ssh://root@127.0.0.1:{self.port}"

    def ssh_program(self, known_hosts: Path) -> Path:
        """A folder for PATH whose `ssh` is the system's with a config trusting known_hosts."""
        config = self.folder / f"config-{known_hosts.name}"
        config.write_text(
            "Host 127.0.0.1\n"
            f"  IdentityFile {self.folder / 'id'}\n  IdentitiesOnly yes\n"
            f"  UserKnownHostsFile {known_hosts}\n  GlobalKnownHostsFile /dev/null\n"
            "  StrictHostKeyChecking yes\n  BatchMode yes\n"
        )
        bin_dir = self.folder / f"bin-{known_hosts.name}"
        bin_dir.mkdir(exist_ok=True)
        program = bin_dir / "ssh"
        program.write_text(f'#!/bin/sh\nexec {shutil.which("ssh")} -F {config} "$@"\n')
        program.chmod(0o755)
        return bin_dir

    def known_hosts(self, key: Path, name: str) -> Path:
        path = self.folder / name
        path.write_text(f"[127.0.0.1]:{self.port} {key.read_text()}")
        return path

    def sessions(self) -> int:
        return self.log.read_text().count("Accepted publickey for root")


def _keygen(path: Path) -> None:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_for(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"sshd exited: {log.read_text()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    pytest.fail(f"sshd did not listen on 127.0.0.1:{port}: {log.read_text()}")


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sshd]:
    """sshd on 127.0.0.1, root's key login only; tooling/engine.sh installs it and makes
    its privilege-separation folder."""
    if not SSHD.exists() or shutil.which("ssh") is None or not Path("/run/sshd").is_dir():
        pytest.skip("no sshd, ssh or /run/sshd here: run tooling/engine.sh")
    folder = tmp_path_factory.mktemp("sshd")
    for key in ("host", "id", "stranger"):
        _keygen(folder / key)
    shutil.copy(folder / "id.pub", folder / "authorized_keys")
    port = _free_port()
    config = folder / "sshd_config"
    config.write_text(
        f"ListenAddress 127.0.0.1:{port}\nHostKey {folder / 'host'}\n"
        f"AuthorizedKeysFile {folder / 'authorized_keys'}\nPidFile {folder / 'sshd.pid'}\n"
        "UsePAM no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n"
        "PermitRootLogin prohibit-password\nStrictModes no\nLogLevel VERBOSE\n"
    )
    log = folder / "sshd.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(SSHD), "-D", "-e", "-f", str(config)], stdout=out, stderr=subprocess.STDOUT
        )
    try:
        _wait_for(port, process, log)
        yield Sshd(port, folder, log)
    finally:
        process.terminate()
        process.wait(timeout=10)

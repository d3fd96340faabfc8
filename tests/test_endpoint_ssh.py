"""An ssh:// engine, as the docker CLI reaches it: ws has docker-py run the ssh program, which
runs `docker system dial-stdio` on the far side. A real sshd on loopback (its keys, config and
log in the test's folder) leads to this machine's engine; the ssh program ws runs is one that
reads the test's ssh config, as a user's reads theirs."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import docker
import pytest
from ws.docker.builds.endpoint import client_arguments, resolve
from ws.docker.builds.engine import connect
from ws.errors import DockerUnavailable
from ws.locks.sync import LockOptions

from tests.support.image_fixtures import MakeWorkspace
from tests.support.imagebuild import Made, build
from tests.support.images import run_image

SSHD = Path("/usr/sbin/sshd")
MEMBERS = {"remote": {"extra": '[tool.ws.docker]\ncommand = ["true"]\n'}}


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


@pytest.fixture(scope="module")
def root(image_workspace: MakeWorkspace) -> Path:
    return image_workspace("ssh-build", MEMBERS)


def test_an_ssh_host_runs_the_ssh_program(tmp_path: Path) -> None:
    endpoint = resolve({"DOCKER_HOST": "ssh://builder@127.0.0.1:2222"}, tmp_path)

    arguments = client_arguments(endpoint)

    assert arguments["base_url"] == "ssh://builder@127.0.0.1:2222"
    assert arguments["use_ssh_client"] is True  # the ssh program and its config, as the CLI
    assert "tls" not in arguments


@pytest.mark.docker
def test_an_image_builds_through_an_ssh_engine(
    engine: docker.DockerClient,
    made: Made,
    root: Path,
    lock_options: LockOptions,
    sshd: Sshd,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    trusted = sshd.known_hosts(sshd.folder / "host.pub", "known_hosts")
    monkeypatch.setenv("PATH", f"{sshd.ssh_program(trusted)}:{os.environ['PATH']}")
    before = sshd.sessions()

    client = connect(resolve({"DOCKER_HOST": sshd.host}, root / "no-config"))
    # docker-py logs in anew for every request: connecting asks the engine's version once
    assert sshd.sessions() == before + 1
    try:
        engine_at = resolve({"DOCKER_HOST": sshd.host}, root / "no-config")
        (image,), _ = build(client, made, root, ["remote"], lock_options, endpoint=engine_at)
    finally:
        client.close()

    assert sshd.sessions() > before + 1, "the build did not go through sshd"
    local = engine.images.get(image.image_id)  # the far side's engine is this machine's
    assert local.labels["ws.member"] == "remote"
    assert run_image(engine, image.image_id, ["id", "-un"], made.label) == "app\n"


@pytest.mark.docker
def test_a_host_key_ssh_does_not_trust_is_one_error_saying_what_to_try(
    sshd: Sshd, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    wrong = sshd.known_hosts(sshd.folder / "stranger.pub", "wrong_known_hosts")
    monkeypatch.setenv("PATH", f"{sshd.ssh_program(wrong)}:{os.environ['PATH']}")
    before = sshd.sessions()

    with pytest.raises(DockerUnavailable) as caught:
        connect(resolve({"DOCKER_HOST": sshd.host}, tmp_path), timeout=20)

    assert caught.value.message.startswith(f"no Docker engine answers at {sshd.host} ")
    assert caught.value.fix is not None
    assert f"ssh -p {sshd.port} root@127.0.0.1 docker version" in caught.value.fix
    assert sshd.sessions() == before


def test_ssh_without_paramiko_names_the_extra_and_a_way_round(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "paramiko", None)  # what an install without the extra has
    env = {"DOCKER_HOST": "ssh://builder@127.0.0.1", "DOCKER_API_VERSION": "1.41"}

    with pytest.raises(DockerUnavailable) as caught:
        connect(resolve(env, tmp_path))

    assert "docker-py imports paramiko" in caught.value.message
    assert "'ws-monorepo[ssh]'" in (caught.value.fix or "")
    assert "DOCKER_HOST=unix:///tmp/docker.sock" in (caught.value.fix or "")

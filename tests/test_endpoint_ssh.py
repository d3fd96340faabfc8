"""An ssh:// engine, as the docker CLI reaches it: ws has docker-py run the ssh program, which
runs `docker system dial-stdio` on the far side. A real sshd on loopback (its keys, config and
log in the test's folder) leads to this machine's engine; the ssh program ws runs is one that
reads the test's ssh config, as a user's reads theirs."""

from __future__ import annotations

import os
import sys
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
from tests.support.sshd import Sshd

MEMBERS = {"remote": {"extra": '[tool.ws.docker]\ncommand = ["true"]\n'}}


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

"""ws docker build with an index that wants a login (a real pypiserver with an htpasswd file)
and a base image on a registry that wants one: the logins reach the build through ws's
BuildKit session, as secrets, and nowhere else — no layer, history, config or output holds
them; a changed password keeps the dependency layer, a missing login is one error before any
build, a refused one is said as such, and the base image is pulled without a pre-pull."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import shutil
import tarfile
from collections.abc import Iterator
from pathlib import Path

import docker
import docker.errors
import pytest
from typer.testing import CliRunner
from ws.cli.app import app
from ws.docker.builds.endpoint import DEFAULT_SOCKET, Endpoint
from ws.docker.session.indexes import Where
from ws.docker.session.plan import Access
from ws.locks.sync import LockOptions, sync_locks
from ws.workspace.members import load_workspace

from tests.support.buildctx import tar_of
from tests.support.files import make_workspace
from tests.support.imagebuild import INSTALLED, Made, as_root, build
from tests.support.images import PYTHON_IMAGE, commit_workspace, generate, root_docker_config
from tests.support.private_index import AuthRegistry, PrivateIndex
from tests.support.pyindex import LocalIndex
from tests.support.wheels import write_wheel

USER = "builder"
PASSWORD = "s3cret-Hunter2-7c1e"  # noqa: S105 -- the test index's password, searched for
VARIABLES = ("UV_INDEX_PRIVATE_FEED_USERNAME", "UV_INDEX_PRIVATE_FEED_PASSWORD")
DEPENDENCY_STEP = "--no-install-local"


@pytest.fixture(scope="module")
def private(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateIndex]:
    folder = tmp_path_factory.mktemp("private") / "packages"
    folder.mkdir()
    write_wheel(folder, "secretpkg", "1.0")
    write_wheel(folder, "secretpkg", "1.1")
    index = PrivateIndex(folder, USER, PASSWORD)
    yield index
    index.close()


def _members(private_url: str, pin: str = "==1.0") -> dict[str, dict[str, object]]:
    return {
        "svc": {
            "dependencies": [f"secretpkg{pin}"],
            "files": {"src/svc/__init__.py": "def main() -> None:\n    print('ok')\n"},
            "extra": '[project.scripts]\nsvc = "svc:main"\n\n'
            '[tool.uv.sources]\nsecretpkg = { index = "private-feed" }\n\n'
            '[tool.ws.docker]\ncommand = ["svc"]\n',
        }
    }


def _index_table(url: str) -> str:
    return f'[[tool.uv.index]]\nname = "private-feed"\nurl = "{url}"\nexplicit = true\n'


def _login_env(lock_options: LockOptions, password: str = PASSWORD) -> dict[str, str]:
    return {**lock_options.env, VARIABLES[0]: USER, VARIABLES[1]: password}


@pytest.fixture(scope="module")
def template(
    tmp_path_factory: pytest.TempPathFactory,
    pyindex: LocalIndex,
    private: PrivateIndex,
    lock_options: LockOptions,
    registry: str,
) -> Path:
    root = tmp_path_factory.mktemp("secrets") / "ws"
    extra = root_docker_config(registry) + "\n" + _index_table(private.url)
    make_workspace(root, _members(private.url), index_url=pyindex.url, root_extra=extra)
    locks = LockOptions(uv=lock_options.uv, env=_login_env(lock_options))
    sync_locks(load_workspace(root), None, locks)
    _pin(root)
    generate(root)
    commit_workspace(root)
    return root


def _pin(root: Path) -> None:
    from ws.docker.generate.config import load_root_config
    from ws.docker.pin.pins import pin_images

    ws = load_workspace(root)
    pin_images(ws.pyproject, load_root_config(ws))


@pytest.fixture
def workspace(template: Path, tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    shutil.copytree(template, root, symlinks=True)
    return root


def _access(tmp_path: Path, env: dict[str, str], netrc: Path | None = None) -> Access:
    return Access(
        where=Where(env, netrc or tmp_path / "no-netrc"),
        ssh_agent=None,
        known_hosts=(),
        docker_config=tmp_path / "docker-config",
    )


def _cli(root: Path, env: dict[str, str], *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(
        app, ["--root", str(root), "docker", "build", "svc", *args], env=env
    )
    return result.exit_code, result.output


def _cli_env(tmp_path: Path, lock_options: LockOptions, **more: str) -> dict[str, str]:
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    cleared = dict.fromkeys((*VARIABLES, "NETRC", "SSH_AUTH_SOCK", "DOCKER_HOST"))
    return {**lock_options.env, **cleared, "HOME": str(home), **more}  # type: ignore[dict-item]


def _image_bytes(client: docker.DockerClient, image: str) -> bytes:
    """Everything of the image the engine can show: its saved tar (every layer, its config),
    its history without truncation, and its inspection."""
    saved = b"".join(client.images.get(image).save(named=False))
    layers = []
    with tarfile.open(fileobj=io.BytesIO(saved)) as tar:
        for member in tar.getmembers():
            handle = tar.extractfile(member)
            if handle is not None:
                data = handle.read()
                if member.name.endswith("layer.tar"):
                    layers += _files(data)
                layers.append(data)
    history = json.dumps(client.api.history(image)).encode()
    inspected = json.dumps(client.api.inspect_image(image)).encode()
    return b"\n".join([saved, *layers, history, inspected])


def _files(layer: bytes) -> list[bytes]:
    with tarfile.open(fileobj=io.BytesIO(layer)) as tar:
        handles = [tar.extractfile(member) for member in tar.getmembers() if member.isfile()]
        return [handle.read() for handle in handles if handle is not None]


def _forms(secret: str) -> list[bytes]:
    basic = base64.b64encode(f"{USER}:{secret}".encode())
    return [secret.encode(), basic, base64.b64encode(secret.encode())]


@pytest.mark.docker
def test_a_login_from_uv_variables_builds_and_leaves_no_trace(
    engine: docker.DockerClient,
    made: Made,
    workspace: Path,
    lock_options: LockOptions,
    tmp_path: Path,
) -> None:
    env = _cli_env(tmp_path, lock_options, **{VARIABLES[0]: USER, VARIABLES[1]: PASSWORD})
    code, output = _cli(workspace, env)
    assert code == 0, output
    image = next(line.split()[0] for line in output.splitlines() if ":0.1.0" in line)
    assert "secretpkg==1.0" in as_root(engine, image, f'python3 -c "{INSTALLED}"', made)
    everything = _image_bytes(engine, image)
    for form in _forms(PASSWORD):
        assert form not in everything
        assert form.decode() not in output
    # ws's own files: the generated ones and its records hold no login either
    for path in workspace.rglob("*"):
        if path.is_file() and ".git" not in path.parts:
            assert PASSWORD.encode() not in path.read_bytes(), path
    engine.images.remove(image, force=True)


@pytest.mark.docker
def test_a_netrc_alone_is_enough(
    engine: docker.DockerClient,
    made: Made,
    workspace: Path,
    lock_options: LockOptions,
    private: PrivateIndex,
    tmp_path: Path,
) -> None:
    netrc = tmp_path / "netrc"
    netrc.write_text(f"machine 127.0.0.1\n  login {USER}\n  password {PASSWORD}\n")
    env = _cli_env(tmp_path, lock_options, NETRC=str(netrc))
    images, lines = build(
        engine,
        made,
        workspace,
        ["svc"],
        lock_options,
        no_cache=True,  # the dependency step runs, and must reach the index
        access=_access(tmp_path, env, netrc),
        endpoint=Endpoint(DEFAULT_SOCKET, "the tests"),
    )
    deps = next(s for s in images[0].steps if DEPENDENCY_STEP in s.instruction)
    assert not deps.cached
    assert any("secretpkg==1.0" in line for _m, line in lines)
    assert not any(PASSWORD in line for _m, line in lines)


@pytest.mark.docker
def test_without_a_login_one_error_names_the_index_and_where_uv_looks(
    workspace: Path,
    lock_options: LockOptions,
    tmp_path: Path,
) -> None:
    code, output = _cli(workspace, _cli_env(tmp_path, lock_options))

    assert code == 1
    assert "'private-feed'" in output and "packages/svc/uv.lock" in output
    assert f"{VARIABLES[0]} and {VARIABLES[1]}" in output
    assert f"machine 127.0.0.1` entry in {tmp_path / 'home' / '.netrc'}" in output
    assert "[deps" not in output  # nothing went to the engine
    assert "Traceback" not in output


@pytest.mark.docker
def test_a_refused_login_is_said_as_such_and_masked(
    workspace: Path,
    lock_options: LockOptions,
    tmp_path: Path,
) -> None:
    wrong = "not-the-password-5d2a"
    env = _cli_env(tmp_path, lock_options, **{VARIABLES[0]: USER, VARIABLES[1]: wrong})
    code, output = _cli(workspace, env, "--no-cache")

    assert code == 1
    # pypiserver answers a wrong password with 403 (and no password with 401)
    refused = (
        f"127.0.0.1 answered 403 Forbidden to the login from {VARIABLES[0]} and {VARIABLES[1]}"
    )
    assert f"error: svc: the index at {refused}, in the uv sync of stage deps" in output
    assert wrong not in output


@pytest.mark.docker
def test_a_new_password_keeps_the_dependency_layer_and_a_new_lock_does_not(
    engine: docker.DockerClient,
    made: Made,
    workspace: Path,
    lock_options: LockOptions,
    private: PrivateIndex,
    pyindex: LocalIndex,
    tmp_path: Path,
) -> None:
    def deps_cached(env: dict[str, str]) -> bool:
        images, _ = build(
            engine,
            made,
            workspace,
            ["svc"],
            lock_options,
            access=_access(tmp_path, env),
            endpoint=Endpoint(DEFAULT_SOCKET, "the tests"),
        )
        return next(s for s in images[0].steps if DEPENDENCY_STEP in s.instruction).cached

    deps_cached(_login_env(lock_options))  # the layer exists, whatever ran before
    new = "another-password-91bb"
    private.set_password(new)
    try:
        assert deps_cached(_login_env(lock_options, new))  # secrets are no cache keys

        pyproject = workspace / "packages/svc/pyproject.toml"
        pyproject.write_text(pyproject.read_text().replace("secretpkg==1.0", "secretpkg==1.1"))
        locks = LockOptions(uv=lock_options.uv, env=_login_env(lock_options, new))
        sync_locks(load_workspace(workspace), None, locks)
        generate(workspace)
        commit_workspace(workspace, "secretpkg 1.1")
        assert not deps_cached(_login_env(lock_options, new))
    finally:
        private.set_password(PASSWORD)


@pytest.mark.docker
def test_a_base_image_behind_a_registry_login_builds_without_a_pre_pull(
    engine: docker.DockerClient,
    made: Made,
    workspace: Path,
    lock_options: LockOptions,
    tmp_path: Path,
) -> None:
    guarded = AuthRegistry("puller", "registry-pass-3e9f")
    try:
        pyproject = workspace / "pyproject.toml"
        text = pyproject.read_text()
        pinned = next(line for line in text.splitlines() if line.startswith("python-image"))
        digest = pinned.split("@")[1].rstrip('"')
        moved = f"{guarded.host}/python:3.11-slim@{digest}"
        pyproject.write_text(text.replace(pinned, f'python-image = "{moved}"'))
        generate(workspace)
        commit_workspace(workspace, "the base image behind a login")
        _login_config(tmp_path, guarded.host, "puller", "registry-pass-3e9f")
        env = _login_env(lock_options)
        images, lines = build(
            engine,
            made,
            workspace,
            ["svc"],
            lock_options,
            access=_access(tmp_path, env),
            endpoint=Endpoint(DEFAULT_SOCKET, "the tests"),
        )

        assert images[0].image_id
        assert any(ok for _path, ok in guarded.requests), guarded.requests
        assert not any(line.startswith("pulling") for _m, line in lines)
        with pytest.raises(docker.errors.ImageNotFound):  # BuildKit pulled it, not the API
            engine.images.get(moved)
        assert PYTHON_IMAGE  # the loopback seed the proxy serves
    finally:
        guarded.close()


# Asks the forwarded agent for its keys (SSH_AGENTC_REQUEST_IDENTITIES) and prints how many
# it holds and the sha256 of the first key's public blob.
_ASK_AGENT = """
import hashlib, os, socket, struct
s = socket.socket(socket.AF_UNIX); s.connect(os.environ["SSH_AUTH_SOCK"])
s.sendall(struct.pack(">IB", 1, 11))
size = struct.unpack(">I", s.recv(4))[0]
data = b""
while len(data) < size:
    data += s.recv(size - len(data))
count = struct.unpack(">I", data[1:5])[0]
blob_size = struct.unpack(">I", data[5:9])[0]
print("agent", data[0], count, hashlib.sha256(data[9:9 + blob_size]).hexdigest())
"""


def _encoded(script: str) -> str:
    return base64.b64encode(script.encode()).decode()


@pytest.mark.docker
def test_the_ssh_agent_is_forwarded_and_no_key_enters_a_layer(
    engine: docker.DockerClient, made: Made, tmp_path: Path
) -> None:
    import subprocess

    from ws.docker.builds.engine import build as engine_build
    from ws.docker.session.channel import Session
    from ws.docker.session.plan import Offer

    key = tmp_path / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    agent = tmp_path / "agent.sock"
    started = subprocess.run(
        ["ssh-agent", "-a", str(agent)], check=True, capture_output=True, text=True
    )
    pid = next(part for part in started.stdout.split(";") if "SSH_AGENT_PID=" in part)
    env = {"SSH_AUTH_SOCK": str(agent)}
    try:
        subprocess.run(["ssh-add", str(key)], check=True, env=env, capture_output=True)
        public = base64.b64decode(key.with_suffix(".pub").read_text().split()[1])
        dockerfile = (
            f"FROM {PYTHON_IMAGE}\n"
            "RUN --mount=type=ssh python3 -c "
            f"'import base64; exec(base64.b64decode(\"{_encoded(_ASK_AGENT)}\"))'\n"
        )
        context = tar_of({"Dockerfile": dockerfile.encode()})
        offer = Offer(ssh_agent=str(agent))
        session = Session.offering(
            Endpoint(DEFAULT_SOCKET, "the tests"),
            engine.api.api_version,
            offer,
        )
        lines: list[str] = []
        params = {"dockerfile": "Dockerfile", "networkmode": "host", "nocache": "1"}
        params["labels"] = json.dumps(made.label)
        with session:
            image_id, _ = engine_build(
                engine,
                "agent",
                context,
                {**params, "session": session.id},
                lambda _m, line: lines.append(line),
                answered=session.start,
            )
        assert f"agent 12 1 {hashlib.sha256(public).hexdigest()}" in lines
        private = key.read_text().encode()
        assert private not in _image_bytes(engine, image_id)
    finally:
        subprocess.run(["kill", pid.split("=")[1]], check=False)


@pytest.mark.docker
def test_a_cache_behind_a_registry_login_is_taken_through_the_session(
    engine: docker.DockerClient,
    made: Made,
    workspace: Path,
    lock_options: LockOptions,
    registry: str,
    tmp_path: Path,
) -> None:
    env = _login_env(lock_options)
    access = _access(tmp_path, env)
    where = Endpoint(DEFAULT_SOCKET, "the tests")
    build(
        engine, made, workspace, ["svc"], lock_options, cache_to="ci", access=access, endpoint=where
    )
    guarded = AuthRegistry("puller", "registry-pass-3e9f")
    try:
        pyproject = workspace / "pyproject.toml"
        behind = f"{guarded.host}/{registry.split('/', 1)[1]}"  # the same repositories
        pyproject.write_text(pyproject.read_text().replace(f'"{registry}"', f'"{behind}"'))
        generate(workspace)
        commit_workspace(workspace, "the cache behind a login")
        _login_config(tmp_path, guarded.host, "puller", "registry-pass-3e9f")

        (image,), lines = build(
            engine,
            made,
            workspace,
            ["svc"],
            lock_options,
            cache_from=("ci",),
            access=access,
            endpoint=where,
        )
    finally:
        guarded.close()

    assert image.image_id
    assert not any("to take a cache from" in line for _m, line in lines), lines
    assert any(f"importing cache manifest from {behind}/svc:ci" in line for _m, line in lines)
    manifests = [path for path, ok in guarded.requests if ok and "/manifests/ci" in path]
    assert manifests, guarded.requests


def _login_config(tmp_path: Path, host: str, username: str, password: str) -> None:
    config = tmp_path / "docker-config"
    config.mkdir(exist_ok=True)
    login = base64.b64encode(f"{username}:{password}".encode()).decode()
    (config / "config.json").write_text(json.dumps({"auths": {host: {"auth": login}}}))

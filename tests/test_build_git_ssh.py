"""A member whose lock takes a package from git over ssh (a bare repository behind the tests'
loopback sshd): `ws docker build` forwards the host's ssh agent and the host key ssh knows
here into the `uv sync` steps through its BuildKit session; the image installs the package,
and no key is in any layer. Without an agent, one error before the build."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest
from typer.testing import CliRunner
from ws.cli.app import app
from ws.docker.builds.endpoint import DEFAULT_SOCKET, Endpoint
from ws.docker.session.indexes import Where
from ws.docker.session.plan import Access
from ws.locks.sync import LockOptions, sync_locks
from ws.workspace.members import load_workspace

from tests.support.files import UV_BUILD_REQUIRES, make_workspace
from tests.support.gitrepo import init_repo
from tests.support.imagebuild import INSTALLED, Made, as_root, build, cli_build
from tests.support.images import PYTHON_IMAGE, UV_IMAGE, commit_workspace, generate
from tests.support.loopback_images import unique_repository
from tests.support.pyindex import LocalIndex
from tests.support.sshd import Sshd

# Debian 12's git (with its helpers: a local clone runs git-upload-pack) and ssh client, as
# the seed image is Debian 12
HOST_TOOLS = ("/usr/bin/git", "/usr/bin/git-upload-pack", "/usr/lib/git-core", "/usr/bin/ssh")


@pytest.fixture(scope="module")
def python_with_git(engine: docker.DockerClient, made: Made) -> str:
    """The seed Python image with this machine's git and ssh client (the same Debian release,
    whose libraries the seed image has), pushed to the loopback registry: uv needs both to
    fetch a git source over ssh, and no Debian mirror is needed to add them."""
    context = io.BytesIO()
    dockerfile = f"FROM {PYTHON_IMAGE}\nCOPY usr/ /usr/\n".encode()
    with tarfile.open(fileobj=context, mode="w") as tar:
        info = tarfile.TarInfo("Dockerfile")
        info.size = len(dockerfile)
        tar.addfile(info, io.BytesIO(dockerfile))
        for tool in HOST_TOOLS:
            tar.add(tool, arcname=tool.lstrip("/"))
    context.seek(0)
    ref = f"{unique_repository('python-git')}:3.11"
    params = {"dockerfile": "Dockerfile", "networkmode": "host", "t": ref}
    # the module's label, so that the image goes with the module's others
    cli_build(engine, "python-git", context, {**params, "labels": json.dumps(made.label)})
    engine.images.push(ref)
    return ref


@pytest.fixture(scope="module")
def bare_repository(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A bare repository holding the package gitdep 0.3.0 (built with uv_build)."""
    work = tmp_path_factory.mktemp("gitdep") / "work"
    repo = init_repo(work)
    repo.commit_files(
        {
            "pyproject.toml": '[project]\nname = "gitdep"\nversion = "0.3.0"\n'
            'requires-python = ">=3.11"\n\n[build-system]\n'
            f'requires = ["{UV_BUILD_REQUIRES}"]\nbuild-backend = "uv_build"\n',
            "src/gitdep/__init__.py": "ANSWER = 42\n",
        },
        "gitdep 0.3.0",
    )
    bare = work.parent / "gitdep.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(work), str(bare)], check=True)
    return bare


@pytest.fixture(scope="module")
def agent(sshd: Sshd, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """An ssh agent holding the key sshd lets in."""
    socket = tmp_path_factory.mktemp("agent") / "agent.sock"
    started = subprocess.run(
        ["ssh-agent", "-a", str(socket)], check=True, capture_output=True, text=True
    )
    pid = next(p for p in started.stdout.split(";") if "SSH_AGENT_PID=" in p).split("=")[1]
    try:
        env = {"SSH_AUTH_SOCK": str(socket)}
        subprocess.run(
            ["ssh-add", str(sshd.folder / "id")], check=True, env=env, capture_output=True
        )
        yield socket
    finally:
        subprocess.run(["kill", pid], check=False)


@pytest.fixture(scope="module")
def workspace(
    tmp_path_factory: pytest.TempPathFactory,
    pyindex: LocalIndex,
    lock_options: LockOptions,
    sshd: Sshd,
    bare_repository: Path,
    python_with_git: str,
) -> Path:
    root = tmp_path_factory.mktemp("git-ssh") / "ws"
    url = f"ssh://root@127.0.0.1:{sshd.port}{bare_repository}"
    members = {
        "svc": {
            "dependencies": ["gitdep"],
            "files": {"src/svc/__init__.py": "def main() -> None:\n    print('ok')\n"},
            "extra": '[project.scripts]\nsvc = "svc:main"\n\n'
            f'[tool.uv.sources]\ngitdep = {{ git = "{url}", branch = "main" }}\n\n'
            '[tool.ws.docker]\ncommand = ["svc"]\n',
        }
    }
    extra = f'[tool.ws.docker]\npython-image = "{python_with_git}"\nuv-image = "{UV_IMAGE}"\n'
    make_workspace(root, members, index_url=pyindex.url, root_extra=extra)
    trusted = sshd.known_hosts(sshd.folder / "host.pub", "known_hosts")
    path = f"{sshd.ssh_program(trusted)}:{lock_options.env.get('PATH', '')}"
    locks = LockOptions(uv=lock_options.uv, env={**lock_options.env, "PATH": path})
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


@pytest.mark.docker
def test_a_git_source_over_ssh_installs_with_the_agent_forwarded(
    engine: docker.DockerClient,
    made: Made,
    workspace: Path,
    lock_options: LockOptions,
    sshd: Sshd,
    agent: Path,
    tmp_path: Path,
) -> None:
    lock = (workspace / "packages/svc/uv.lock").read_text()
    assert f'git = "ssh://127.0.0.1:{sshd.port}' in lock  # uv keeps no user in the lock
    before = sshd.sessions()
    access = Access(
        where=Where(lock_options.env, tmp_path / "no-netrc"),
        ssh_agent=str(agent),
        known_hosts=(sshd.folder / "known_hosts",),
        docker_config=tmp_path / "docker-config",
    )
    (image,), _ = build(
        engine,
        made,
        workspace,
        ["svc"],
        lock_options,
        access=access,
        endpoint=Endpoint(DEFAULT_SOCKET, "the tests"),
        no_cache=True,
    )

    assert sshd.sessions() > before, "the build did not fetch over ssh"
    assert "gitdep==0.3.0" in as_root(engine, image.image_id, f'python3 -c "{INSTALLED}"', made)
    saved = b"".join(engine.images.get(image.image_id).save(named=False))
    key = (sshd.folder / "id").read_text()
    body = "".join(key.splitlines()[1:-1])  # the key's base64, however a layer wraps it
    assert key.encode() not in saved and body[:40].encode() not in saved


@pytest.mark.docker
def test_without_an_agent_one_error_before_the_build(
    workspace: Path, lock_options: LockOptions, tmp_path: Path
) -> None:
    env = {**lock_options.env, "HOME": str(tmp_path), "SSH_AUTH_SOCK": None}
    argv = ["--root", str(workspace), "docker", "build", "svc"]
    result = CliRunner().invoke(app, argv, env=env)  # type: ignore[arg-type]

    assert result.exit_code == 1
    assert "packages/svc/uv.lock installs from git over ssh, and no ssh agent" in result.output
    assert "ssh-add" in result.output
    assert "[deps" not in result.output
    assert shutil.which("ssh-agent")

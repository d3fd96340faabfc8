"""Workspaces with image members for Docker build tests and the build benchmark."""

from __future__ import annotations

import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ws.docker.generate.config import load_config, load_root_config
from ws.docker.generate.files import generated_files, write_generated
from ws.docker.pin.pins import pin_images
from ws.locks.sync import LockOptions, sync_locks
from ws.workspace.graph import build_graph
from ws.workspace.members import load_workspace

from tests.support.files import make_workspace
from tests.support.gitrepo import GitRepo, init_repo

PYTHON_IMAGE = "localhost:5000/python:3.11-slim"
UV_IMAGE = "localhost:5000/astral-sh/uv:0.13.9"
# Where the source of each image member answers from: the test greps images for these.
OTHER_MARKER = "OTHER-MEMBER-SOURCE-7f3a"

_SVC_APP = """
import alpha
import beta
import lib

import svc


def main() -> None:
    print(f"svc {svc.__version__} lib {lib.__version__} beta {beta.__version__} "
          f"alpha {alpha.__version__} says {lib.greet('docker')}")
"""

_LIB = """
__version__ = "0.2.0"


def greet(name: str) -> str:
    return f"hello {name}"
"""

_OTHER = f'''
__version__ = "0.1.0"
MARKER = "{OTHER_MARKER}"


def main() -> None:
    print(MARKER)
'''


def image_members() -> dict[str, dict[str, Any]]:
    """svc (image) -> lib -> delta -> gamma; svc -> beta -> alpha; svc's dev group has devtool;
    other (image) stands apart with epsilon."""
    return {
        "svc": {
            "dependencies": ["lib", "beta>=1.0"],
            "dependency-groups": {"dev": ["devtool"]},
            "files": {"src/svc/app.py": _SVC_APP},
            "extra": '[project.scripts]\nsvc = "svc.app:main"\n\n'
            '[tool.ws.docker]\ncommand = ["svc"]\n',
        },
        "lib": {
            "version": "0.2.0",
            "dependencies": ["delta"],
            "files": {"src/lib/__init__.py": _LIB},
        },
        "other": {
            "dependencies": ["epsilon"],
            "files": {"src/other/__init__.py": _OTHER},
            "extra": '[project.scripts]\nother = "other:main"\n\n'
            '[tool.ws.docker]\ncommand = ["other"]\n',
        },
    }


def root_docker_config(registry: str | None) -> str:
    lines = [
        "[tool.ws.docker]",
        f'python-image = "{PYTHON_IMAGE}"',
        f'uv-image = "{UV_IMAGE}"',
    ]
    if registry:
        lines.append(f'registry = "{registry}"')
    return "\n".join(lines) + "\n"


GITIGNORE = ".ws/\n.venv/\n__pycache__/\n.env\n"


def commit_workspace(root: Path, message: str = "workspace") -> GitRepo:
    """git init root if needed and commit everything; the repository."""
    repo = GitRepo(root) if (root / ".git").exists() else init_repo(root)
    (root / ".gitignore").write_text(GITIGNORE, encoding="utf-8")
    repo.commit_all(message, allow_empty=True)
    return repo


def docker_answers() -> str | None:
    """None when `docker info` answers, else why not (for pytest.skip)."""
    try:
        done = subprocess.run(
            ["docker", "info", "--format", "{{.ServerVersion}}"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"docker info failed: {e}"
    if done.returncode != 0:
        return f"no Docker engine: {done.stderr.strip()} (start one: tooling/engine.sh)"
    return None


def remove_labelled(client: Any, label: str, extra_ids: Sequence[str] = ()) -> None:
    """Remove the containers and images carrying label, then the ids in extra_ids (the
    intermediate images builds left, newest first), ignoring ones gone or still in use."""
    import docker.errors  # only tests with an engine import docker

    for container in client.containers.list(all=True, filters={"label": label}):
        container.remove(force=True)
    ids = [image.id for image in client.images.list(all=True, filters={"label": label})]
    for image_id in [*ids, *extra_ids]:
        try:
            client.images.remove(image_id, force=True)
        except docker.errors.NotFound:
            pass
        except docker.errors.APIError:
            pass  # a parent of an image someone else still uses: the engine keeps it


def run_image(client: Any, image: str, command: list[str], label: Mapping[str, str]) -> str:
    """stdout of command in image, without a network; the container is removed."""
    out = client.containers.run(
        image,
        command,
        network_mode="none",
        remove=True,
        labels=dict(label),
        stdout=True,
        stderr=False,
    )
    return out.decode("utf-8")


def generate(root: Path) -> None:
    """`ws docker generate` for every image member of the workspace at root."""
    ws = load_workspace(root)
    graph = build_graph(ws)
    write_generated(root, generated_files(ws, graph, load_config(ws)))


def prepare_workspace(
    root: Path,
    index_url: str,
    locks: LockOptions,
    *,
    registry: str | None = None,
    members: Mapping[str, Mapping[str, Any]] | None = None,
) -> GitRepo:
    """The image workspace at root, ready to build: member locks, base images pinned
    through the loopback registry, Docker files generated, all committed."""
    make_workspace(
        root,
        image_members() if members is None else members,
        index_url=index_url,
        root_extra=root_docker_config(registry),
    )
    ws = load_workspace(root)
    sync_locks(ws, None, locks)
    pin_images(ws.pyproject, load_root_config(ws))
    generate(root)
    return commit_workspace(root)

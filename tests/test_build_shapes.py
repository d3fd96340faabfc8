"""Real engine builds (BuildKit) of the workspace shapes issue 9 names: a root that is itself
the service, built from its own member lock (uv.member.lock); and a member whose build reads
files outside it and whose version comes from a git tag, built without .git in the context
(and by a plain docker build, with the documented default version). And those of issue 17:
a setuptools project outside the members, named by a path source, that several members
install."""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest
from typer.testing import CliRunner
from ws.cli.app import app
from ws.docker.generate.config import load_root_config
from ws.docker.pin.pins import pin_images
from ws.locks.sync import LockOptions, sync_locks
from ws.workspace.members import load_workspace

from tests.support.dockerfile import parse_dockerfile
from tests.support.files import (
    PATH_SOURCE_TREE,
    ROOT_PATH_SOURCES,
    UV_BUILD_REQUIRES,
    build_file_tree,
    make_workspace,
)
from tests.support.gitrepo import GitRepo
from tests.support.imagebuild import INSTALLED, Made, as_root, build, plain_build
from tests.support.images import commit_workspace, generate, root_docker_config, run_image
from tests.support.pyindex import LocalIndex

ROOT_PROJECT = f"""
command = ["app"]
expose = [8080]

[project]
name = "app"
version = "1.0"
requires-python = ">=3.11"
readme = "README.md"
license = {{ file = "LICENSE" }}
dependencies = ["core", "beta"]

[project.optional-dependencies]
fast = ["delta"]

[project.scripts]
app = "app:main"

[dependency-groups]
dev = ["app[fast]", "devtool"]

[tool.uv.sources]
core = {{ workspace = true }}

[build-system]
requires = ["{UV_BUILD_REQUIRES}"]
build-backend = "uv_build"
"""
ROOT_APP = """\
import importlib.metadata as m

import core


def main() -> None:
    print("app", m.version("app"), "core", core.__version__, "beta", m.version("beta"))
"""


WORKER = {
    "dependencies": ["app"],
    "files": {"src/worker/__init__.py": "import app\n\ndef main():\n    app.main()\n"},
    "extra": '[project.scripts]\nworker = "worker:main"\n\n'
    '[tool.uv.sources]\napp = { workspace = true }\n\n[tool.ws.docker]\ncommand = ["worker"]',
}


def locked(path: Path) -> dict[str, str]:
    """name -> version of every package in a lock (members without a version left out)."""
    lock = tomllib.loads(path.read_text(encoding="utf-8"))
    return {p["name"]: p["version"] for p in lock["package"] if "version" in p}


def prepare(root: Path, locks: LockOptions) -> GitRepo:
    ws = load_workspace(root)
    sync_locks(ws, None, locks)
    pin_images(ws.pyproject, load_root_config(ws))
    generate(root)
    return commit_workspace(root, "locked and generated")


@pytest.fixture(scope="module")
def root_service(
    tmp_path_factory: pytest.TempPathFactory,
    pyindex: LocalIndex,
    lock_options: LockOptions,
    registry: str,
) -> Path:
    """A root project (with readme, license, an extra and a dev group installing itself)
    depending on the member core; a member worker depending on it; cli in neither closure."""
    root = tmp_path_factory.mktemp("root-service") / "ws"
    make_workspace(
        root,
        {"core": {"version": "0.3.0", "dependencies": ["alpha"]}, "cli": {}, "worker": WORKER},
        index_url=pyindex.url,
        root_extra=root_docker_config(registry) + ROOT_PROJECT,
    )
    build_file_tree(
        root,
        {"src/app/__init__.py": ROOT_APP, "README.md": "# app\n", "LICENSE": "MIT\n"},
    )
    prepare(root, lock_options)
    return root


@pytest.mark.docker
def test_the_root_project_image_builds_from_its_member_lock(
    engine: docker.DockerClient, made: Made, root_service: Path, lock_options: LockOptions
) -> None:
    dockerfile = parse_dockerfile((root_service / "Dockerfile").read_text())
    for stage in ("deps", "builder"):
        assert ("uv.member.lock", "/app/uv.lock") in dockerfile[stage].mounts
        assert ("Dockerfile.pyproject.toml", "/app/pyproject.toml") in dockerfile[stage].mounts
    assert not {".", "uv.lock", "pyproject.toml"} & dockerfile.sources, "never the whole root"

    (image,), _ = build(engine, made, root_service, ["app"], lock_options)

    member_lock = locked(root_service / "uv.member.lock")
    answer = run_image(engine, image.image_id, ["app"], made.label)
    assert answer == f"app 1.0 core 0.3.0 beta {member_lock['beta']}\n"
    installed = run_image(engine, image.image_id, ["python", "-c", INSTALLED], made.label)
    expected = {"alpha": member_lock["alpha"], "beta": member_lock["beta"]}
    assert installed.split() == sorted(
        [*(f"{n}=={v}" for n, v in expected.items()), "app==1.0", "core==0.3.0"]
    ), "no dev group, no extra, nothing of cli"
    inspected = engine.images.get(image.image_id).attrs["Config"]
    assert inspected["Cmd"] == ["app"] and "8080/tcp" in inspected["ExposedPorts"]
    assert image.refs[0].endswith("/app:1.0")
    sent = set(image.context.members)
    assert {"uv.member.lock", "Dockerfile.pyproject.toml", "README.md", "LICENSE"} <= sent
    assert "src/app/__init__.py" in sent
    assert not {"uv.lock", "pyproject.toml"} & sent, "the root's own lock and pyproject stay out"
    assert not any(p.startswith("packages/cli") for p in sent)


# The repository's own root Dockerfile, as speaches has one beside its root project.
USERS_DOCKERFILE = "FROM scratch\nCOPY . /srv\n"


@pytest.fixture(scope="module")
def placed_root(
    tmp_path_factory: pytest.TempPathFactory,
    pyindex: LocalIndex,
    lock_options: LockOptions,
    registry: str,
) -> Path:
    """root_service's shape with a root Dockerfile of the user's own: the root project's
    generated files go where `dockerfile` says."""
    root = tmp_path_factory.mktemp("placed-root") / "ws"
    make_workspace(
        root,
        {"core": {"version": "0.3.0", "dependencies": ["alpha"]}},
        index_url=pyindex.url,
        root_extra=root_docker_config(registry)
        + 'dockerfile = "docker/app.Dockerfile"\n'
        + ROOT_PROJECT,
    )
    build_file_tree(
        root,
        {
            "src/app/__init__.py": ROOT_APP,
            "README.md": "# app\n",
            "LICENSE": "MIT\n",
            "Dockerfile": USERS_DOCKERFILE,
            "docker/compose.yml": "services: {}\n",
        },
    )
    prepare(root, lock_options)
    return root


@pytest.mark.docker
def test_the_root_project_image_builds_from_the_dockerfile_its_setting_places(
    engine: docker.DockerClient, made: Made, placed_root: Path, lock_options: LockOptions
) -> None:
    assert (placed_root / "Dockerfile").read_text() == USERS_DOCKERFILE, "the user's, as it was"
    checked = CliRunner().invoke(app, ["--root", str(placed_root), "docker", "generate", "--check"])
    assert checked.exit_code == 0, checked.output
    (image,), _ = build(engine, made, placed_root, ["app"], lock_options)

    member_lock = locked(placed_root / "uv.member.lock")
    answer = run_image(engine, image.image_id, ["app"], made.label)
    assert answer == f"app 1.0 core 0.3.0 beta {member_lock['beta']}\n"
    sent = set(image.context.members)
    assert {"docker/app.Dockerfile", "docker/app.Dockerfile.pyproject.toml"} <= sent
    assert not {"Dockerfile", "docker/compose.yml", "pyproject.toml"} & sent
    plain = plain_build(engine, placed_root, "docker/app.Dockerfile", made.label)
    assert run_image(engine, plain, ["app"], made.label) == answer, "BuildKit reads it too"


SERVER = {
    "dependencies": ["core"],
    "files": {
        "src/server/__init__.py": "import core\n\n"
        "def main():\n    print('server', core.__version__)\n",
        "Dockerfile": USERS_DOCKERFILE,  # the member's own, as postmodern-mono's server has
    },
    "extra": '[project.scripts]\nserver = "server:main"\n\n'
    '[tool.ws.docker]\ncommand = ["server"]\ndockerfile = "ws.Dockerfile"',
}


@pytest.mark.docker
def test_a_member_with_its_own_dockerfile_builds_from_the_one_its_setting_places(
    engine: docker.DockerClient,
    made: Made,
    tmp_path: Path,
    pyindex: LocalIndex,
    lock_options: LockOptions,
    registry: str,
) -> None:
    root = make_workspace(
        tmp_path / "ws",
        {"core": {"version": "0.3.0", "dependencies": ["alpha"]}, "server": SERVER},
        index_url=pyindex.url,
        root_extra=root_docker_config(registry),
    )
    prepare(root, lock_options)

    (image,), _ = build(engine, made, root, ["server"], lock_options)

    assert (root / "packages/server/Dockerfile").read_text() == USERS_DOCKERFILE
    assert run_image(engine, image.image_id, ["server"], made.label) == "server 0.3.0\n"
    sent = set(image.context.members)
    assert "packages/server/ws.Dockerfile" in sent
    assert "packages/server/Dockerfile" not in sent
    plain = plain_build(engine, root, "packages/server/ws.Dockerfile", made.label)
    assert run_image(engine, plain, ["server"], made.label) == "server 0.3.0\n"


# An in-tree build backend that honours what setuptools does and setuptools-scm does: its
# dependencies from the files [tool.setuptools.dynamic] names, its version from
# SETUPTOOLS_SCM_PRETEND_VERSION(_FOR_DYN), else from `git describe`; it also bakes in a
# banner read from a file outside the member (declared in build-files).
SCM_BACKEND = '''
"""setuptools' dynamic files and setuptools-scm's pretend version, without either."""
import base64, hashlib, os, pathlib, subprocess, tomllib, zipfile

_WHEEL = "Wheel-Version: 1.0\\nGenerator: scmback\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n"


def _version():
    for var in ("SETUPTOOLS_SCM_PRETEND_VERSION_FOR_DYN", "SETUPTOOLS_SCM_PRETEND_VERSION"):
        if os.environ.get(var):
            return os.environ[var]
    describe = ["git", "describe", "--tags", "--abbrev=0"]
    try:
        out = subprocess.run(describe, capture_output=True, text=True)
    except OSError:
        raise RuntimeError("no git and no SETUPTOOLS_SCM_PRETEND_VERSION") from None
    if out.returncode:
        raise RuntimeError(f"git describe failed: {out.stderr}")
    return out.stdout.strip().lstrip("v")


def _dependencies():
    config = tomllib.loads(pathlib.Path("pyproject.toml").read_text())
    files = config["tool"]["setuptools"]["dynamic"]["dependencies"]["file"]
    return [d for f in files for d in pathlib.Path(f).read_text().split()]


def _metadata():
    lines = ["Metadata-Version: 2.1", "Name: dyn", f"Version: {_version()}"]
    return "\\n".join(lines + [f"Requires-Dist: {d}" for d in _dependencies()]) + "\\n"


def _dist_info():
    return f"dyn-{_version()}.dist-info"


def prepare_metadata_for_build_wheel(directory, config_settings=None):
    info = pathlib.Path(directory) / _dist_info()
    info.mkdir(parents=True, exist_ok=True)
    (info / "METADATA").write_text(_metadata())
    (info / "WHEEL").write_text(_WHEEL)
    return info.name


def _record(name, data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}\\n"


def build_wheel(directory, config_settings=None, metadata_directory=None):
    banner = pathlib.Path("../../shared/banner.txt").read_text().strip()
    module = (
        "import importlib.metadata as m\\n"
        f"BANNER = {banner!r}\\n"
        "def main():\\n"
        "    print(BANNER, m.version('dyn'), ' '.join(sorted(m.requires('dyn'))))\\n"
    )
    info = _dist_info()
    files = {
        "dyn/__init__.py": module.encode(),
        f"{info}/METADATA": _metadata().encode(),
        f"{info}/WHEEL": _WHEEL.encode(),
        f"{info}/entry_points.txt": b"[console_scripts]\\ndyn = dyn:main\\n",
    }
    name = f"dyn-{_version()}-py3-none-any.whl"
    with zipfile.ZipFile(pathlib.Path(directory) / name, "w") as whl:
        record = ""
        for path, data in files.items():
            whl.writestr(path, data)
            record += _record(path, data)
        whl.writestr(f"{info}/RECORD", record + f"{info}/RECORD,,\\n")
    return name


def get_requires_for_build_wheel(config_settings=None):
    return []


get_requires_for_build_editable = get_requires_for_build_wheel
prepare_metadata_for_build_editable = prepare_metadata_for_build_wheel
build_editable = build_wheel
'''
DYN_PYPROJECT = """
[project]
name = "dyn"
requires-python = ">=3.11"
dynamic = ["version", "dependencies"]

[tool.uv.sources]
core = { workspace = true }

[tool.setuptools.dynamic]
dependencies = { file = ["../../shared/deps.txt"] }

[tool.setuptools_scm]

[tool.ws.docker]
command = ["dyn"]
build-files = ["../../shared/banner.txt"]

[build-system]
requires = []
build-backend = "scmback"
backend-path = ["."]
"""


@pytest.fixture(scope="module")
def git_versioned(
    tmp_path_factory: pytest.TempPathFactory,
    pyindex: LocalIndex,
    lock_options: LockOptions,
    registry: str,
) -> tuple[Path, GitRepo]:
    """dyn: dependencies from ../../shared/deps.txt, a banner from ../../shared/banner.txt,
    its version from the tag v2.5.0, one commit behind HEAD."""
    root = tmp_path_factory.mktemp("git-versioned") / "ws"
    make_workspace(
        root,
        {"core": {"version": "0.3.0", "dependencies": ["alpha"]}},
        index_url=pyindex.url,
        root_extra=root_docker_config(registry),
    )
    build_file_tree(
        root,
        {
            "shared/deps.txt": "core\ngamma\n",
            "shared/banner.txt": "made with a file outside the member\n",
            "shared/unrelated.txt": "in no image\n",
            "packages/dyn/pyproject.toml": DYN_PYPROJECT,
            "packages/dyn/scmback.py": SCM_BACKEND,
        },
    )
    repo = commit_workspace(root, "dyn")
    repo.git("tag", "v2.5.0")
    return root, prepare(root, lock_options)


@pytest.mark.docker
def test_a_git_versioned_member_reading_outside_files_builds_without_git(
    engine: docker.DockerClient,
    made: Made,
    git_versioned: tuple[Path, GitRepo],
    lock_options: LockOptions,
    registry: str,
) -> None:
    root, repo = git_versioned
    builder = parse_dockerfile((root / "packages/dyn/Dockerfile").read_text())["builder"]
    assert ("shared/banner.txt", "/app/shared/banner.txt") in builder.mounts
    assert ("shared/deps.txt", "/app/shared/deps.txt") in builder.mounts
    assert [arg.args for arg in builder.of("ARG")] == ["WS_GIT_VERSION=0.0.0+unknown"]
    assert [env.args for env in builder.of("ENV")] == [
        'SETUPTOOLS_SCM_PRETEND_VERSION="${WS_GIT_VERSION}"'
    ]

    (image,), _ = build(engine, made, root, ["dyn"], lock_options)

    # What dyn's own backend gives this checkout (`git describe --tags --abbrev=0`), as
    # `uv build` runs it: not setuptools-scm's default scheme, which it does not follow.
    version = "2.5.0"
    assert repo.git("describe", "--tags") != "v2.5.0", "HEAD is one commit past the tag"
    assert image.refs[0] == f"{registry}/dyn:{version}", "tagged with the version its backend gave"
    assert image.warnings == ()
    labels = engine.images.get(image.image_id).labels
    assert labels["org.opencontainers.image.version"] == version, "the label says it too"
    answer = run_image(engine, image.image_id, ["dyn"], made.label)
    assert answer == f"made with a file outside the member {version} core gamma\n"
    installed = run_image(engine, image.image_id, ["python", "-c", INSTALLED], made.label)
    assert f"dyn=={version}" in installed.split()
    sent = set(image.context.members)
    assert {"shared/deps.txt", "shared/banner.txt", "packages/dyn/scmback.py"} <= sent
    assert "shared/unrelated.txt" not in sent
    assert not any(p == ".git" or p.startswith(".git/") for p in sent)


@pytest.mark.docker
def test_a_member_image_whose_closure_holds_the_root_project(
    engine: docker.DockerClient, made: Made, root_service: Path, lock_options: LockOptions
) -> None:
    pyproject = tomllib.loads(
        (root_service / "packages/worker/Dockerfile.pyproject.toml").read_text()
    )
    assert pyproject["project"]["name"] == "app"
    assert pyproject["tool"]["uv"]["workspace"]["members"] == ["packages/core", "packages/worker"]

    (image,), _ = build(engine, made, root_service, ["worker"], lock_options)

    member_lock = locked(root_service / "packages/worker/uv.lock")
    answer = run_image(engine, image.image_id, ["worker"], made.label)
    assert answer == f"app 1.0 core 0.3.0 beta {member_lock['beta']}\n"
    installed = run_image(engine, image.image_id, ["python", "-c", INSTALLED], made.label)
    assert [line.split("==")[0] for line in installed.split()] == [
        "alpha", "app", "beta", "core", "worker"
    ]  # fmt: skip
    sent = set(image.context.members)
    assert {"README.md", "LICENSE", "src/app/__init__.py"} <= sent
    assert not {"uv.lock", "uv.member.lock", "pyproject.toml", "Dockerfile.pyproject.toml"} & sent


@pytest.mark.docker
def test_a_plain_docker_build_gets_the_documented_default_version(
    engine: docker.DockerClient, made: Made, git_versioned: tuple[Path, GitRepo]
) -> None:
    root, _ = git_versioned
    image_id = plain_build(engine, root, "packages/dyn/Dockerfile", made.label)
    answer = run_image(engine, image_id, ["dyn"], made.label)
    assert answer == "made with a file outside the member 0.0.0+unknown core gamma\n"
    labels = engine.images.get(image_id).labels
    assert labels["org.opencontainers.image.version"] == "0.0.0+unknown"


# A generated API client outside the members, as such generators write it: a setup.py, its
# package, and a dependency; setuptools writes its .egg-info beside setup.py when it builds.
CLIENT_SETUP = """\
from setuptools import setup

setup(name="api-client", version="1.4.0", packages=["api_client"], install_requires=["gamma"])
"""
CLIENT_MODULE = 'def ping() -> str:\n    return "pong"\n'
CLIENT_SOURCE = '[tool.uv.sources.api-client]\npath = "../../clients/api"\n'
CALLER = {
    "dependencies": ["api-client", "tool"],
    "files": {"src/caller/__init__.py": "import api_client\n\ndef main():\n"
              "    print('caller', api_client.ping())\n"},
    "extra": '[project.scripts]\ncaller = "caller:main"\n\n[tool.ws.docker]\ncommand = ["caller"]',
}  # fmt: skip


@pytest.fixture(scope="module")
def setuptools_index() -> Iterator[LocalIndex]:
    """The default catalogue and a real setuptools wheel (virtualenv's, a dev dependency)."""
    from virtualenv.seed.wheels.embed import get_embed_wheel  # only here

    wheel = get_embed_wheel("setuptools", "3.11")
    assert wheel is not None, "virtualenv embeds a setuptools wheel for Python 3.11"
    with LocalIndex() as index:
        index.add_file(Path(str(wheel.path)))
        yield index


@pytest.fixture(scope="module", params=["non-editable", "editable"])
def path_client(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    setuptools_index: LocalIndex,
    lock_options: LockOptions,
    registry: str,
) -> Path:
    """caller (an image) and tool (a library) both install clients/api, a setuptools
    project named by a path source, not a workspace member; as uv's default, or declared
    editable = true, as a checkout for development declares it."""
    root = tmp_path_factory.mktemp("path-client") / "ws"
    source = CLIENT_SOURCE + ("editable = true\n" if request.param == "editable" else "")
    caller = {**CALLER, "extra": f"{CALLER['extra']}\n\n{source}"}
    tool = {"dependencies": ["api-client"], "extra": source}
    make_workspace(
        root,
        {"caller": caller, "tool": tool},
        index_url=setuptools_index.url,
        root_extra=root_docker_config(registry),
    )
    build_file_tree(
        root,
        {"clients/api/setup.py": CLIENT_SETUP, "clients/api/api_client/__init__.py": CLIENT_MODULE},
    )
    prepare(root, lock_options)
    return root


@pytest.mark.docker
def test_a_setuptools_path_source_builds_into_the_image(
    engine: docker.DockerClient, made: Made, path_client: Path, lock_options: LockOptions
) -> None:
    (image,), _ = build(engine, made, path_client, ["caller"], lock_options)

    assert run_image(engine, image.image_id, ["caller"], made.label) == "caller pong\n"
    installed = run_image(engine, image.image_id, ["python", "-c", INSTALLED], made.label)
    assert [line.split("==")[0] for line in installed.split()] == [
        "api-client", "caller", "gamma", "tool"
    ]  # fmt: skip
    listing = "ls /app; ls /app/.venv/lib/python3.11/site-packages"
    found = as_root(engine, image.image_id, listing, made).split()
    assert "clients" not in found, "the client's sources stay out of the image"
    assert "api_client" in found, "installed as a package, not a link to its sources"


@pytest.fixture(scope="module")
def root_sources(
    tmp_path_factory: pytest.TempPathFactory,
    pyindex: LocalIndex,
    lock_options: LockOptions,
    registry: str,
) -> Path:
    """a (an image) installs liba, a root path source that needs libc by its own path
    source; libb, a root path source too, nobody installs."""
    root = tmp_path_factory.mktemp("root-sources") / "ws"
    user = {
        "dependencies": ["liba"],
        "files": {"src/a/__init__.py": "import liba, libc\n\ndef main():\n"
                  "    print(liba.NAME, libc.NAME)\n"},
        "extra": '[project.scripts]\na = "a:main"\n\n[tool.ws.docker]\ncommand = ["a"]',
    }  # fmt: skip
    make_workspace(
        root,
        {"a": user, "b": {"extra": '[tool.ws.docker]\ncommand = ["b"]'}},
        index_url=pyindex.url,
        root_extra=root_docker_config(registry) + ROOT_PATH_SOURCES,
    )
    build_file_tree(root, PATH_SOURCE_TREE)
    prepare(root, lock_options)
    return root


@pytest.mark.docker
def test_an_image_installs_the_path_sources_it_mounts_and_only_those(
    engine: docker.DockerClient, made: Made, root_sources: Path, lock_options: LockOptions
) -> None:
    (image,), _ = build(engine, made, root_sources, ["a"], lock_options)

    assert run_image(engine, image.image_id, ["a"], made.label) == "liba libc\n"
    installed = run_image(engine, image.image_id, ["python", "-c", INSTALLED], made.label)
    assert [line.split("==")[0] for line in installed.split()] == ["a", "liba", "libc"]
    sent = {p.split("/")[1] for p in image.context.members if p.startswith("libs/")}
    assert sent == {"liba", "libc"}, "libb, declared at the root too, stays out"


# An in-tree backend whose version comes from a VERSION file beside it, as hatch's `path`
# source or setuptools' `attr` do: dynamic, and not from git, so only a build tells it.
FILE_BACKEND = '''
"""A version from the VERSION file: what no lock and no `uv version` can tell."""
import base64, hashlib, pathlib, zipfile

_WHEEL = "Wheel-Version: 1.0\\nGenerator: fileback\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n"


def _version():
    return pathlib.Path("VERSION").read_text().strip()


def _info():
    return f"filever-{_version()}.dist-info"


def _files():
    return {
        "filever/__init__.py": b"def main():\\n    print('filever')\\n",
        f"{_info()}/METADATA": f"Metadata-Version: 2.1\\nName: filever\\nVersion: {_version()}\\n"
        .encode(),
        f"{_info()}/WHEEL": _WHEEL.encode(),
        f"{_info()}/entry_points.txt": b"[console_scripts]\\nfilever = filever:main\\n",
    }


def prepare_metadata_for_build_wheel(directory, config_settings=None):
    info = pathlib.Path(directory) / _info()
    info.mkdir(parents=True, exist_ok=True)
    for name in ("METADATA", "WHEEL"):
        (info / name).write_bytes(_files()[f"{_info()}/{name}"])
    return info.name


def build_wheel(directory, config_settings=None, metadata_directory=None):
    name = f"filever-{_version()}-py3-none-any.whl"
    with zipfile.ZipFile(pathlib.Path(directory) / name, "w") as whl:
        record = ""
        for path, data in _files().items():
            whl.writestr(path, data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
            record += f"{path},sha256={digest.decode()},{len(data)}\\n"
        whl.writestr(f"{_info()}/RECORD", record + f"{_info()}/RECORD,,\\n")
    return name


def get_requires_for_build_wheel(config_settings=None):
    return []


get_requires_for_build_editable = get_requires_for_build_wheel
prepare_metadata_for_build_editable = prepare_metadata_for_build_wheel
build_editable = build_wheel
'''
FILEVER_PYPROJECT = """
[project]
name = "filever"
requires-python = ">=3.11"
dynamic = ["version"]

[tool.ws.docker]
command = ["filever"]

[build-system]
requires = []
build-backend = "fileback"
backend-path = ["."]
"""
EXTRAS_SVC = {
    "optional-dependencies": {"fast": ["gamma"], "slow": ["delta"]},
    "files": {"src/svc/__init__.py": "def main():\n    print('svc')\n"},
    "extra": '[project.scripts]\nsvc = "svc:main"\n\n'
    '[tool.ws.docker]\ncommand = ["svc"]\nextras = ["fast"]',
}


@pytest.fixture(scope="module")
def extras_and_file_version(
    tmp_path_factory: pytest.TempPathFactory,
    pyindex: LocalIndex,
    lock_options: LockOptions,
    registry: str,
) -> Path:
    """svc asks for its extra fast (gamma) and not slow (delta); filever's version is read
    from a file by its backend."""
    root = tmp_path_factory.mktemp("extras") / "ws"
    make_workspace(
        root, {"svc": EXTRAS_SVC}, index_url=pyindex.url, root_extra=root_docker_config(registry)
    )
    build_file_tree(
        root,
        {
            "packages/filever/pyproject.toml": FILEVER_PYPROJECT,
            "packages/filever/fileback.py": FILE_BACKEND,
            "packages/filever/VERSION": "3.1.4\n",
        },
    )
    prepare(root, lock_options)
    return root


@pytest.mark.docker
def test_an_image_installs_the_extras_it_asks_for_and_no_other(
    engine: docker.DockerClient,
    made: Made,
    extras_and_file_version: Path,
    lock_options: LockOptions,
) -> None:
    root = extras_and_file_version
    assert {"gamma", "delta"} <= set(locked(root / "packages/svc/uv.lock")), "both in the lock"

    (image,), _ = build(engine, made, root, ["svc"], lock_options)

    installed = run_image(engine, image.image_id, ["python", "-c", INSTALLED], made.label)
    assert [line.split("==")[0] for line in installed.split()] == ["gamma", "svc"]
    assert image.refs[0].endswith("/svc:0.1.0") and image.warnings == ()


@pytest.mark.docker
def test_a_dynamic_version_not_from_git_is_said_to_be_unknown(
    engine: docker.DockerClient,
    made: Made,
    extras_and_file_version: Path,
    lock_options: LockOptions,
) -> None:
    root = extras_and_file_version

    (image,), _ = build(engine, made, root, ["filever"], lock_options)

    installed = run_image(engine, image.image_id, ["python", "-c", INSTALLED], made.label)
    assert installed.split() == ["filever==3.1.4"]
    (ref,) = image.refs
    assert ":3.1.4" not in ref
    (warning,) = image.warnings
    assert warning.startswith("filever's version is dynamic and does not come from git tags")
    assert f":{ref.rsplit(':', 1)[1]} and not with a version; pass --tag VERSION" in warning
    result = CliRunner().invoke(app, ["--root", str(root), "docker", "build", "filever"])
    made_by_cli = result.output.split("filever: ", 1)[-1].split()[0]
    try:
        assert result.exit_code == 0, result.output
        assert f"warning: {warning}\n" in result.output
    finally:  # the command line labels nothing for the module's cleanup
        engine.images.remove(made_by_cli, force=True)

"""Versions from git tags: which backends take one, the version each member's real backend
gives a real git checkout (the same as `uv build`'s, whatever the backend's own settings), and
the Dockerfile lines and build argument that hand it to the backends in an image built
without .git."""

from __future__ import annotations

import shutil
from pathlib import Path

import docker
import pytest
from ws import git
from ws.docker.builds.images import (
    ImageVersions,
    image_refs,
    image_version,
    plan_images,
    version_args,
)
from ws.docker.generate.config import load_config, load_root_config
from ws.docker.generate.files import generated_files
from ws.docker.generate.gitversion import (
    DEFAULT_VERSION,
    PDM,
    SETUPTOOLS_SCM,
    UV_DYNAMIC,
    VERSION_ARG,
    version_overrides,
)
from ws.docker.pin.pins import pin_images
from ws.locks.sync import LockOptions, sync_locks
from ws.proc import run
from ws.workspace.graph import build_graph
from ws.workspace.members import load_workspace

from tests.support.backend_wheels import backend_index
from tests.support.files import build_file_tree, make_workspace
from tests.support.gitrepo import GitRepo, init_repo
from tests.support.imagebuild import Made, build
from tests.support.images import commit_workspace, generate, root_docker_config, run_image
from tests.support.pyindex import LocalIndex

__all__ = ["backend_index"]  # a fixture: imported for pytest to find

ROOT_DOCKER = f"""
[tool.ws.docker]
python-image = "localhost:5000/python:3.11-slim@sha256:{"a" * 64}"
uv-image = "localhost:5000/astral-sh/uv:0.13.9@sha256:{"b" * 64}"
"""
HATCH_VCS = '[tool.hatch.version]\nsource = "vcs"'
SCM_TABLE = "[tool.setuptools_scm]"
PDM_SCM = '[tool.pdm.version]\nsource = "scm"'
UV_DYNAMIC_HATCH = '[tool.hatch.version]\nsource = "uv-dynamic-versioning"'


def workspace(tmp: Path, lib_extra: str = "", *, svc_extra: str = "") -> Path:
    """svc (an image) -> lib; lib's version dynamic, configured by lib_extra."""
    members = {
        "lib": {"extra": lib_extra},
        "svc": {
            "dependencies": ["lib"],
            "extra": f'[tool.ws.docker]\ncommand = ["svc"]\n{svc_extra}',
        },
        "other": {"extra": '[tool.ws.docker]\ncommand = ["other"]'},
    }
    root = make_workspace(tmp / "ws", members, root_extra=ROOT_DOCKER)
    path = root / "packages/lib/pyproject.toml"
    path.write_text(path.read_text().replace('version = "0.1.0"', 'dynamic = ["version"]'))
    return root


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (SCM_TABLE, (SETUPTOOLS_SCM,)),
        (HATCH_VCS, (SETUPTOOLS_SCM,)),
        (PDM_SCM, (PDM,)),
        (UV_DYNAMIC_HATCH, (UV_DYNAMIC,)),
        ('[tool.uv-dynamic-versioning]\nvcs = "git"', (UV_DYNAMIC,)),
        ('[tool.hatch.version]\npath = "src/lib/__init__.py"', ()),
        ("", ()),
    ],
)
def test_which_backends_take_their_version_from_git(
    tmp_path: Path, extra: str, expected: tuple[str, ...]
) -> None:
    ws = load_workspace(workspace(tmp_path, extra))
    assert version_overrides(ws.members["lib"]) == expected
    assert version_overrides(ws.members["svc"]) == (), "a static version asks nothing of git"


def test_setuptools_scm_in_the_build_requirements_is_enough(tmp_path: Path) -> None:
    root = workspace(tmp_path)
    path = root / "packages/lib/pyproject.toml"
    path.write_text(path.read_text().replace('requires = ["', 'requires = ["setuptools_scm>=8", "'))
    assert version_overrides(load_workspace(root).members["lib"]) == (SETUPTOOLS_SCM,)


def test_the_builder_stage_feeds_the_version_argument_to_the_backends(tmp_path: Path) -> None:
    root = workspace(tmp_path, f"{HATCH_VCS}\n\n{PDM_SCM}")
    ws = load_workspace(root)
    files = generated_files(ws, build_graph(ws), load_config(ws))
    lines = files["packages/svc/Dockerfile"].splitlines()
    builder = lines[lines.index("FROM deps AS builder") :]
    arg = builder.index(f"ARG {VERSION_ARG}={DEFAULT_VERSION}")
    assert builder[arg + 1 : arg + 3] == [
        f'ENV {PDM}="${{{VERSION_ARG}}}" \\',
        f'    {SETUPTOOLS_SCM}="${{{VERSION_ARG}}}"',
    ]
    assert [line for line in builder[1:arg] if not line.startswith("#")] == [], (
        "the stage's first instruction: a new version re-runs only the install of the members"
    )
    run = builder[arg + 3 : next(i for i, line in enumerate(builder) if "uv sync" in line) + 1]
    assert run[0].startswith("RUN --mount=type=cache,")
    assert run[-1].strip() == "uv sync --frozen --no-dev --no-editable --package svc \\"
    assert {"packages/lib", "packages/svc"} <= {
        line.split("source=")[1].split(",")[0] for line in run if "type=bind" in line
    }, "the members' sources reach the install as mounts, in no layer"
    assert "ARG " not in files["packages/svc/Dockerfile"].split("FROM deps AS builder")[0]
    assert VERSION_ARG not in files["packages/other/Dockerfile"], "other's closure: no git"


# Two members whose backends each have a setting of their own that setuptools-scm's defaults do
# not follow: setuptools-scm counting from its own tags (tag_regex, git_describe_command), and
# uv-dynamic-versioning writing its own format. Each is an image printing its version.
SCM_PYPROJECT = """
[project]
name = "scm"
dynamic = ["version"]
requires-python = ">=3.11"

[project.scripts]
scm = "scm:main"

[build-system]
requires = ["setuptools>=80", "setuptools-scm>=8"]
build-backend = "setuptools.build_meta"

[tool.setuptools]
packages = ["scm"]

[tool.setuptools_scm]
root = "../.."
tag_regex = "^scm-v(?P<version>.+)$"
git_describe_command = "git describe --dirty --tags --long --match scm-v*"

[tool.ws.docker]
command = ["scm"]
"""
UDV_PYPROJECT = """
[project]
name = "udv"
dynamic = ["version"]
requires-python = ">=3.11"

[project.scripts]
udv = "udv:main"

[build-system]
requires = ["hatchling", "uv-dynamic-versioning"]
build-backend = "hatchling.build"

[tool.hatch.version]
source = "uv-dynamic-versioning"

[tool.hatch.build.targets.wheel]
packages = ["udv"]

[tool.uv-dynamic-versioning]
format = "{base}.post{distance}+x{commit}"

[tool.ws.docker]
command = ["udv"]
"""
MAIN = "import importlib.metadata\n\ndef main():\n    print(importlib.metadata.version({!r}))\n"


def backends_workspace(
    root: Path, index_url: str, root_extra: str, locks: LockOptions, *, pin: bool = False
) -> GitRepo:
    """scm and udv, and app needing both, locked and generated; scm's tag scm-v3.1.0 two
    commits behind HEAD, the plain v1.0.0 (which setuptools-scm's default query would take)
    one behind."""
    sources = "[tool.uv.sources]\nscm = { workspace = true }\nudv = { workspace = true }"
    app = {
        "dependencies": ["scm", "udv"],
        "extra": f'{sources}\n[tool.ws.docker]\ncommand = ["app"]',
    }
    make_workspace(root, {"app": app}, index_url=index_url, root_extra=root_extra)
    files = {f"packages/{n}/{n}/__init__.py": MAIN.format(n) for n in ("scm", "udv")}
    files |= {"packages/scm/pyproject.toml": SCM_PYPROJECT}
    files |= {"packages/scm/.gitignore": "build/\n*.egg-info/\n"}  # setuptools writes both
    files |= {"packages/udv/pyproject.toml": UDV_PYPROJECT}
    build_file_tree(root, files)
    repo = commit_workspace(root, "members")
    repo.git("tag", "scm-v3.1.0")
    (root / "README.md").write_text("a workspace\n")
    repo.commit_all("readme")
    repo.git("tag", "v1.0.0")
    ws = load_workspace(root)
    sync_locks(ws, None, locks)
    if pin:  # the loopback registry's base images, by digest
        pin_images(ws.pyproject, load_root_config(ws))
    generate(root)
    commit_workspace(root, "locked and generated")
    return repo


def uv_build_version(root: Path, name: str, locks: LockOptions, out: Path) -> str:
    """What `uv build` names the member's wheel: the version its backend gives, as uv runs it."""
    argv = [locks.uv, "build", "--package", name, "--wheel", "-o", str(out / name)]
    run(argv, cwd=root, env=locks.env)
    (wheel,) = (out / name).glob("*.whl")
    return wheel.name.split("-")[1]


@pytest.fixture(scope="module")
def backends(
    tmp_path_factory: pytest.TempPathFactory, backend_index: LocalIndex, lock_options: LockOptions
) -> tuple[Path, GitRepo, dict[str, str]]:
    """The workspace, its repository, and each member's version as `uv build` gives it."""
    root = tmp_path_factory.mktemp("backends") / "ws"
    repo = backends_workspace(root, backend_index.url, ROOT_DOCKER, lock_options)
    out = tmp_path_factory.mktemp("uv-build")
    built = {name: uv_build_version(root, name, lock_options, out) for name in ("scm", "udv")}
    return root, repo, built


def test_each_image_gets_the_version_its_own_backend_gives(
    backends: tuple[Path, GitRepo, dict[str, str]], lock_options: LockOptions
) -> None:
    root, repo, built = backends
    sha = repo.git("rev-parse", "HEAD")
    assert built["scm"] == f"3.1.1.dev2+g{sha[:7]}", "setuptools-scm's scm-v tags, not v1.0.0"
    assert built["udv"] == f"1.0.0.post1+x{sha[:7]}", "uv-dynamic-versioning's own format"
    ws = load_workspace(root)
    images = plan_images(ws, load_config(ws), ["app", "scm", "udv"])
    for leftover in ("packages/scm/build", "packages/scm/scm.egg-info", "packages/scm/src"):
        for path in [root / leftover, *(root / leftover).glob("*.egg-info")]:
            if path.name in ("build", "scm.egg-info") or path.suffix == ".egg-info":
                shutil.rmtree(path, ignore_errors=True)  # what the fixture's own uv build left
    versions = version_args(ws, images, lock_options)
    leftovers = [*(root / "packages/scm").rglob("*.egg-info"), root / "packages/scm/build"]
    assert not [p for p in leftovers if p.exists()], "asking for a version leaves no file"
    assert versions.args == {
        "app": {VERSION_ARG: built["scm"]},  # the first of its closure: one argument for both
        "scm": {VERSION_ARG: built["scm"]},
        "udv": {VERSION_ARG: built["udv"]},
    }
    assert versions.warnings == {
        "app": (
            f"udv's backend gives it {built['udv']}, but the image installs it as "
            f"{built['scm']} (scm's): one build argument feeds every git-versioned member "
            "of an image",
        ),
        "scm": (),
        "udv": (),
    }


@pytest.mark.docker
def test_the_image_tag_label_and_metadata_say_the_backends_version(
    tmp_path_factory: pytest.TempPathFactory,
    engine: docker.DockerClient,
    made: Made,
    backend_index: LocalIndex,
    lock_options: LockOptions,
    registry: str,
) -> None:
    root = tmp_path_factory.mktemp("backend-images") / "ws"
    config = root_docker_config(registry)
    backends_workspace(root, backend_index.url, config, lock_options, pin=True)
    out = tmp_path_factory.mktemp("uv-build")
    built = {name: uv_build_version(root, name, lock_options, out) for name in ("scm", "udv")}

    images, _ = build(engine, made, root, ["scm", "udv"], lock_options)

    for image in images:
        version = built[image.member]
        assert image.refs[0] == f"{registry}/{image.member}:{version.replace('+', '-')}"
        assert image.warnings == ()
        labels = engine.images.get(image.image_id).labels
        assert labels["org.opencontainers.image.version"] == version
        assert run_image(engine, image.image_id, [image.member], made.label) == f"{version}\n"


def test_a_version_no_backend_can_give_is_a_warning_and_no_version_tag(
    tmp_path: Path, lock_options: LockOptions
) -> None:
    root = workspace(tmp_path, SCM_TABLE)  # lib builds with uv_build: no version from git
    init_repo(root).commit_all("first")
    ws = load_workspace(root)
    config = load_config(ws)
    versions = version_args(ws, plan_images(ws, config, ["svc", "other"]), lock_options)
    assert versions.args == {}, "no version but a computed one: the Dockerfile's default stays"
    (warning,) = versions.warnings["svc"]
    assert warning.startswith(
        f"lib's version could not be computed, so the image installs it as {DEFAULT_VERSION}: "
    ), "svc's own version is static: its image keeps its version tag"
    assert "uv build --package lib --wheel` failed" in warning
    assert version_args(ws, plan_images(ws, config, ["other"]), lock_options) == ImageVersions()


def test_an_image_whose_own_version_no_backend_gives_gets_the_revision_tag_alone(
    tmp_path: Path, lock_options: LockOptions
) -> None:
    root = workspace(tmp_path, f'{SCM_TABLE}\n\n[tool.ws.docker]\ncommand = ["lib"]')
    init_repo(root).commit_all("first")
    ws = load_workspace(root)
    config = load_config(ws)
    versions = version_args(ws, plan_images(ws, config, ["lib"]), lock_options)
    assert image_version(ws.members["lib"], versions) is None
    (warning,) = versions.warnings["lib"]
    assert warning.startswith(
        f"lib's version could not be computed, so the image installs it as {DEFAULT_VERSION} "
        "and the image is not tagged with a version: `uv build --package lib --wheel` failed"
    )
    revision = git.revision(root)
    assert config.root is not None
    refs = image_refs(ws, config.root, "lib", revision, (), None)
    assert [str(r) for r in refs] == [f"lib:{revision.tag}"], "no version tag: ws guesses none"

"""Versions from git tags: which backends take one, the version setuptools-scm's defaults give
a checkout (computed here from real git repositories), and the Dockerfile lines and build
argument that hand it to the backends in an image built without .git."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from ws.docker.builds.images import plan_images, version_args
from ws.docker.generate.config import load_config
from ws.docker.generate.files import generated_files
from ws.docker.generate.gitversion import (
    DEFAULT_VERSION,
    PDM,
    SETUPTOOLS_SCM,
    UV_DYNAMIC,
    VERSION_ARG,
    describe_version,
    scm_version,
    tag_version,
    version_overrides,
)
from ws.errors import GitError
from ws.workspace.graph import build_graph
from ws.workspace.members import load_workspace

from tests.support.files import make_workspace
from tests.support.gitrepo import init_repo

ROOT_DOCKER = f"""
[tool.ws.docker]
python-image = "localhost:5000/python:3.11-slim@sha256:{"a" * 64}"
uv-image = "localhost:5000/astral-sh/uv:0.13.9@sha256:{"b" * 64}"
"""
TODAY = date(2026, 3, 7)
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


def test_ws_docker_build_passes_the_version_only_where_the_dockerfile_takes_it(
    tmp_path: Path,
) -> None:
    root = workspace(tmp_path, SCM_TABLE)
    repo = init_repo(root)
    repo.commit_all("first")
    repo.git("tag", "v1.4.0")
    ws = load_workspace(root)
    config = load_config(ws)
    args = version_args(ws, plan_images(ws, config, ["svc", "other"]), TODAY)
    assert args == {"svc": {VERSION_ARG: "1.4.0"}}
    assert version_args(ws, plan_images(ws, config, ["other"]), TODAY) == {}, "no git asked"


def test_the_version_of_a_checkout_as_setuptools_scm_computes_it(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "repo", {"a.txt": "1\n"})
    sha = repo.git("rev-parse", "--short=7", "HEAD")
    assert describe_version(repo.path, TODAY) == f"0.1.dev1+g{sha}", "no tag: from 0.0"
    repo.git("tag", "v1.2.3")
    assert describe_version(repo.path, TODAY) == "1.2.3"
    (repo.path / "a.txt").write_text("2\n")
    assert describe_version(repo.path, TODAY) == f"1.2.4.dev0+g{sha}.d20260307"
    (repo.path / "new.txt").write_text("untracked files do not count\n")
    repo.git("checkout", "a.txt")
    assert describe_version(repo.path, TODAY) == "1.2.3"
    repo.git("add", "new.txt")
    repo.git("commit", "-q", "-m", "second")
    repo.commit_all("third", allow_empty=True)
    head = repo.git("rev-parse", "--short=7", "HEAD")
    assert describe_version(repo.path, TODAY) == f"1.2.4.dev2+g{head}"
    repo.git("tag", "release-2.0rc1")
    assert describe_version(repo.path, TODAY) == "2.0rc1"


@pytest.mark.parametrize(
    ("tag", "distance", "node", "dirty", "expected"),
    [
        ("v1.0", 0, "gabc", False, "1.0"),
        ("1.0", 3, "gabc", False, "1.1.dev3+gabc"),
        ("1.0.9", 1, "gabc", True, "1.0.10.dev1+gabc.d20260307"),
        ("2.0rc1", 2, "gabc", False, "2.0rc2.dev2+gabc"),
        ("3.0.dev0", 4, "gabc", False, "3.0.dev4+gabc"),
        ("0.0", 5, None, True, "0.1.dev5+d20260307"),
        ("pkg-V4.1", 1, "gabc", False, "4.2.dev1+gabc"),
    ],
)
def test_guess_next_dev_with_node_and_date(
    tag: str, distance: int, node: str | None, dirty: bool, expected: str
) -> None:
    assert scm_version(tag, distance, node, dirty, TODAY) == expected


def test_a_tag_that_names_no_version_is_a_clear_error() -> None:
    with pytest.raises(GitError, match="names no version") as caught:
        tag_version("1.2.x")
    assert "fix:" in str(caught.value)

"""Files a member's build reads outside its folder: found where build backends declare them (or
declared in build-files), bind-mounted by the builder stage at the same paths and let into the
whitelists; one clear error for a path outside the root, a missing file or a secret."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from ws.docker.generate.config import load_config
from ws.docker.generate.dockerignore import DockerIgnore
from ws.docker.generate.files import generated_files
from ws.errors import ConfigError
from ws.workspace.graph import build_graph
from ws.workspace.members import load_workspace

from tests.support.dockerfile import Read, parse_dockerfile
from tests.support.files import build_file_tree, make_workspace

ROOT_DOCKER = f"""
[tool.ws.docker]
python-image = "localhost:5000/python:3.11-slim@sha256:{"a" * 64}"
uv-image = "localhost:5000/astral-sh/uv:0.13.9@sha256:{"b" * 64}"
"""
IMAGE = '[tool.ws.docker]\ncommand = ["svc"]\n'
MEMBER_FOLDER = re.compile(r"packages/[^/]+")


def workspace(
    tmp: Path,
    extra: str = "",
    files: dict[str, str] | None = None,
    project: str = "",
    members: dict[str, dict[str, Any]] | None = None,
) -> Path:
    """svc (an image) with extra TOML, project lines added to its [project], files at the root."""
    svc = {"dependencies": ["core"], "extra": IMAGE + extra}
    root = make_workspace(tmp / "ws", {"core": {}, "svc": svc, **(members or {})},
                          root_extra=ROOT_DOCKER)  # fmt: skip
    if project:
        path = root / "packages/svc/pyproject.toml"
        text = path.read_text().replace('name = "svc"\n', f'name = "svc"\n{project}\n', 1)
        path.write_text(text)
    build_file_tree(root, files or {})
    return root


def files_of(root: Path) -> dict[str, str]:
    ws = load_workspace(root)
    return generated_files(ws, build_graph(ws), load_config(ws))


def builder_mounts(dockerfile: str) -> list[Read]:
    """The builder stage's bind mounts besides the image pyproject, the lock and the member
    folders: the files the builds read outside the members."""
    builder = parse_dockerfile(dockerfile)["builder"]
    assert builder.copies == [], "the builder stage mounts what it reads, it copies nothing"
    return [
        (source, target)
        for source, target in builder.mounts
        if target not in ("/app/pyproject.toml", "/app/uv.lock")
        and not MEMBER_FOLDER.fullmatch(source)
    ]


def mounts_of(root: Path, image: str = "svc") -> list[Read]:
    return builder_mounts(files_of(root)[f"packages/{image}/Dockerfile"])


@pytest.mark.parametrize(
    ("extra", "project", "files", "mounted"),
    [
        ('[tool.hatch.version]\npath = "../../VERSION.py"', "", ["VERSION.py"], ["VERSION.py"]),
        (
            '[tool.hatch.build.force-include]\n"../../shared/data" = "svc/data"',
            "",
            ["shared/data/a.json"],
            ["shared/data"],
        ),
        (
            '[tool.hatch.build.targets.wheel.force-include]\n"../../NOTICE" = "svc/NOTICE"',
            "",
            ["NOTICE"],
            ["NOTICE"],
        ),
        (
            '[tool.setuptools.dynamic]\nversion = { file = "../../VERSION" }',
            "",
            ["VERSION"],
            ["VERSION"],
        ),
        (
            '[tool.setuptools.dynamic]\ndependencies = { file = ["../../req/base.txt", "o.txt"] }',
            "",
            ["req/base.txt"],
            ["req/base.txt"],
        ),
        ('[tool.pdm.version]\nsource = "file"\npath = "../../V.py"', "", ["V.py"], ["V.py"]),
        ("", 'readme = "../../README.md"', ["README.md"], ["README.md"]),
        ("", 'readme = { file = "../../docs/R.rst" }', ["docs/R.rst"], ["docs/R.rst"]),
        ("", 'license = { file = "../../LICENSE" }', ["LICENSE"], ["LICENSE"]),
        (
            "",
            'license-files = ["../../LICENSES/*.txt", "LICENSE"]',
            ["LICENSES/MIT.txt", "LICENSES/BSD.txt"],
            ["LICENSES/BSD.txt", "LICENSES/MIT.txt"],
        ),
        ('build-files = ["../../shared/deps.txt"]', "", ["shared/deps.txt"], ["shared/deps.txt"]),
        ("", 'readme = "README.md"', ["packages/svc/README.md"], []),
    ],
)
def test_files_a_backend_reads_outside_the_member_are_mounted_and_let_in(
    tmp_path: Path, extra: str, project: str, files: list[str], mounted: list[str]
) -> None:
    planted = {path: "x\n" for path in [*files, "unrelated.txt"]}
    root = workspace(tmp_path, extra, planted, project)
    generated = files_of(root)
    dockerfile = generated["packages/svc/Dockerfile"]
    assert builder_mounts(dockerfile) == [(path, f"/app/{path}") for path in mounted]
    deps = {source for source, _ in parse_dockerfile(dockerfile)["deps"].reads}
    assert not deps & set(mounted), "the dependency install does not read them"
    whitelist = DockerIgnore.from_text(generated["packages/svc/Dockerfile.dockerignore"])
    assert [p for p in files if not whitelist.excluded(p)] == files
    assert whitelist.excluded("unrelated.txt")


def test_every_closure_member_brings_its_files_once(tmp_path: Path) -> None:
    core = {"extra": '[tool.hatch.version]\npath = "../../VERSION"', "files": {}}
    other = {"extra": '[tool.hatch.version]\npath = "../../OTHER"'}
    extra = '[tool.hatch.version]\npath = "../../VERSION"\n'
    root = workspace(tmp_path, extra, {"VERSION": "1\n", "OTHER": "2\n"},
                     members={"core": core, "other": other})  # fmt: skip
    assert mounts_of(root) == [("VERSION", "/app/VERSION")], "other is not in svc's closure"


def test_a_library_declares_build_files_without_getting_an_image(tmp_path: Path) -> None:
    core = {"extra": '[tool.ws.docker]\nbuild-files = ["../../shared/core.txt"]'}
    root = workspace(tmp_path, files={"shared/core.txt": "x\n"}, members={"core": core})
    generated = files_of(root)
    assert "packages/core/Dockerfile" not in generated
    assert builder_mounts(generated["packages/svc/Dockerfile"]) == [
        ("shared/core.txt", "/app/shared/core.txt")
    ]


def test_a_file_inside_another_closure_member_is_not_mounted_twice(tmp_path: Path) -> None:
    extra = '[tool.hatch.version]\npath = "../core/src/core/__init__.py"'
    root = workspace(tmp_path, extra)
    assert mounts_of(root) == [], "packages/core is mounted whole already"


def test_a_folder_holding_a_file_keeps_one_mount(tmp_path: Path) -> None:
    extra = (
        '[tool.hatch.version]\npath = "../../shared/v.py"\n\n'
        '[tool.hatch.build.force-include]\n"../../shared" = "svc/shared"'
    )
    root = workspace(tmp_path, extra, {"shared/v.py": "x\n"})
    assert mounts_of(root) == [("shared", "/app/shared")]


def test_a_member_uv_does_not_build_reads_nothing(tmp_path: Path) -> None:
    svc = {"package": False, "dependencies": ["core"]}
    svc["extra"] = IMAGE + '[tool.hatch.version]\npath = "../../missing.py"'
    root = make_workspace(tmp_path / "ws", {"core": {}, "svc": svc}, root_extra=ROOT_DOCKER)
    assert mounts_of(root) == []


@pytest.mark.parametrize(
    ("extra", "files", "key", "problem"),
    [
        (
            '[tool.hatch.version]\npath = "../../../VERSION"',
            [],
            "tool.hatch.version.path",
            "lies outside the workspace root",
        ),
        (
            '[tool.hatch.build.force-include]\n"/etc/hosts" = "hosts"',
            [],
            "tool.hatch.build.force-include",
            "lies outside the workspace root",
        ),
        (
            '[tool.setuptools.dynamic]\nversion = { file = "../../NOPE" }',
            [],
            "tool.setuptools.dynamic.version.file",
            "which does not exist",
        ),
        (
            '[tool.hatch.build.force-include]\n"../../.env" = "svc/.env"',
            [".env"],
            "tool.hatch.build.force-include",
            "a file no image may hold",
        ),
        (
            '[tool.hatch.build.force-include]\n"../../deploy/id_rsa" = "svc/key"',
            ["deploy/id_rsa"],
            "tool.hatch.build.force-include",
            "a file no image may hold",
        ),
        (
            '[tool.hatch.version]\npath = "../../pyproject.toml"',
            [],
            "tool.hatch.version.path",
            "would overwrite the image's own /app/pyproject.toml",
        ),
        (
            '[tool.hatch.build.force-include]\n"../../packages" = "svc/all"',
            [],
            "tool.hatch.build.force-include",
            "would overwrite the member packages/core",
        ),
        (
            '[tool.hatch.version]\npath = "../../a b.py"',
            ["a b.py"],
            "tool.hatch.version.path",
            "cannot be copied safely",
        ),
    ],
)
def test_a_build_file_that_cannot_be_copied_is_one_clear_error(
    tmp_path: Path, extra: str, files: list[str], key: str, problem: str
) -> None:
    root = workspace(tmp_path, extra, {path: "x\n" for path in files})
    with pytest.raises(ConfigError) as caught:
        files_of(root)
    message = str(caught.value)
    assert message.startswith(str(root / "packages/svc/pyproject.toml") + ": ")
    assert f"`{key}`" in message and problem in message
    assert "\n  fix: " in message

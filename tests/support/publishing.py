"""A workspace of libraries to publish, in a real git repository, and ways to read what a
real index received: for the `ws publish` tests."""

from __future__ import annotations

import json
import tarfile
import zipfile
from collections.abc import Mapping
from email.parser import BytesParser
from pathlib import Path
from typing import Any

from typer.testing import CliRunner
from ws.cli.app import app

from tests.support.files import UV_BUILD_REQUIRES
from tests.support.gitrepo import GitRepo, git_env, init_repo
from tests.support.pyindex import hermetic_uv_env
from tests.support.pypiserver import PASSWORD, USER, PyPIServer


def library(name: str, deps: list[str], tail: str = "", version: str = "1.0.0") -> dict[str, str]:
    """A publishable member: licence, readme, requires-python, a module; deps on the
    siblings base and mid come through workspace sources."""
    pyproject = "\n".join(
        [
            "[project]",
            f'name = "{name}"',
            f'version = "{version}"',
            f'description = "The {name} library"',
            'readme = "README.md"',
            'license = "MIT"',
            'requires-python = ">=3.11"',
            f"dependencies = {json.dumps(deps)}",
            tail,
            "",
            "[tool.uv.sources]",
            "base = { workspace = true }",
            "mid = { workspace = true }",
            "",
            "[build-system]",
            f'requires = ["{UV_BUILD_REQUIRES}"]',
            'build-backend = "uv_build"',
            "",
        ]
    )
    return {
        f"packages/{name}/pyproject.toml": pyproject,
        f"packages/{name}/README.md": f"# {name}\n\nA library.\n",
        f"packages/{name}/src/{name}/__init__.py": f'NAME = "{name}"\n',
    }


# base <- mid (with an extra asking base[speed] under a marker) <- top (asks base too)
MID_EXTRA = "[project.optional-dependencies]\nfast = [\"base[speed] ; python_version >= '3.8'\"]"


def libraries(**tails: str) -> dict[str, str]:
    files: dict[str, str] = {}
    files |= library("base", ["alpha>=1.0"], tails.get("base", ""))
    files |= library("mid", ["base"], tails.get("mid", MID_EXTRA))
    files |= library("top", ["mid", "base>=0.5"], tails.get("top", ""))
    return files


def root_pyproject(third_party: str, server: PyPIServer, extra: str = "") -> str:
    """Third-party packages from the tests' loopback index; releases to pypiserver `pub`."""
    return f"""\
        [tool.uv.workspace]
        members = ["packages/*"]

        [[tool.uv.index]]
        name = "local"
        url = "{third_party}"
        default = true

        [[tool.uv.index]]
        name = "pub"
        url = "{server.url}"
        publish-url = "{server.upload_url}"
        explicit = true
        {extra}
        """


def make_repo(
    path: Path, third_party: str, server: PyPIServer, files: Mapping[str, str]
) -> GitRepo:
    tree = {"pyproject.toml": root_pyproject(third_party, server), ".gitignore": ".venv\n"}
    return init_repo(path, {**tree, **files})


def publish_env(cache: Path, **more: str) -> dict[str, str]:
    """The hermetic uv environment, git's test identity, and pypiserver's upload password."""
    env = hermetic_uv_env(cache) | git_env()
    return env | {"UV_PUBLISH_USERNAME": USER, "UV_PUBLISH_PASSWORD": PASSWORD} | more


def ws_publish(root: Path, env: Mapping[str, str], *args: str) -> Any:
    """`ws publish --index pub ARGS` in-process; the result's .json is the report, if any."""
    argv = ["--root", str(root), "publish", "--index", "pub", *args]
    result = CliRunner().invoke(app, argv, env=dict(env), catch_exceptions=False)
    return result


def report(result: Any) -> dict[str, Any]:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def actions(data: Mapping[str, Any]) -> dict[str, str]:
    return {f["filename"]: f["action"] for m in data["members"] for f in m["files"]}


def wheel_metadata(path: Path) -> Any:
    with zipfile.ZipFile(path) as archive:
        name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        return BytesParser().parsebytes(archive.read(name))


def sdist_metadata(path: Path) -> tuple[Any, str]:
    """An sdist's PKG-INFO and the pyproject.toml it carries."""
    top = path.name.removesuffix(".tar.gz")
    with tarfile.open(path) as archive:
        pkg_info = archive.extractfile(f"{top}/PKG-INFO")
        pyproject = archive.extractfile(f"{top}/pyproject.toml")
        assert pkg_info is not None and pyproject is not None
        return BytesParser().parsebytes(pkg_info.read()), pyproject.read().decode()


def requires(metadata: Any) -> list[str]:
    return sorted(metadata.get_all("Requires-Dist") or [])

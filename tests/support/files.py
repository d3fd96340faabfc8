"""Write file trees and whole uv workspaces for tests."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from packaging.requirements import Requirement

from tests.support.wheels import module_name, normalize_name

# The build backend every generated member uses; uv builds it in-process, without a download.
UV_BUILD_REQUIRES = "uv_build>=0.9,<0.14"

_MEMBER_KEYS = frozenset(
    {
        "version",
        "dependencies",
        "optional-dependencies",
        "dependency-groups",
        "requires-python",
        "package",
        "files",
        "extra",
    }
)


def build_file_tree(root: Path, files: Mapping[str, str]) -> Path:
    """Write files (relative posix path -> text, dedented) under root; return root."""
    root.mkdir(parents=True, exist_ok=True)
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return root


def toml_str(value: str) -> str:
    """A TOML basic string (JSON's escapes are valid TOML)."""
    return json.dumps(value)


def toml_array(values: Iterable[str]) -> str:
    return "[" + ", ".join(toml_str(v) for v in values) + "]"


def make_workspace(
    root: Path,
    members: Mapping[str, Mapping[str, Any]],
    *,
    index_url: str | None = None,
    requires_python: str = ">=3.11",
    root_extra: str = "",
) -> Path:
    """Write a uv workspace with a virtual root and one member per entry under packages/.

    The root pyproject.toml declares ``[tool.uv.workspace] members = ["packages/*"]`` and, when
    index_url is given, ``[[tool.uv.index]] name = "local"`` with that URL as the default index.
    root_extra is TOML text appended to the root pyproject as is.

    Each member is ``name -> spec`` (every key optional; a bare ``{}`` is a valid member)::

        {
            "version": "0.1.0",                          # default "0.1.0"
            "dependencies": ["lib", "beta>=1.0"],        # [project] dependencies
            "optional-dependencies": {"cli": ["gamma"]}, # extras
            "dependency-groups": {"dev": ["devtool"]},   # PEP 735 groups
            "requires-python": ">=3.11",                 # default: make_workspace's requires_python
            "package": True,  # False: no build-system, [tool.uv] package = false, no src/
            "files": {"tests/test_x.py": "..."},         # more files, relative to the member
            "extra": "[tool.ws]\\n...",                   # TOML text appended to the pyproject
        }

    A requirement naming another member (in any of the three lists) gets a
    ``[tool.uv.sources] name = { workspace = true }`` entry. A packaged member builds with
    uv_build and has ``src/<module>/__init__.py`` defining ``__version__``. Returns root.
    """
    names = {normalize_name(name) for name in members}
    root_toml = '[tool.uv.workspace]\nmembers = ["packages/*"]\n'
    if index_url is not None:
        root_toml += (
            f'\n[[tool.uv.index]]\nname = "local"\nurl = {toml_str(index_url)}\ndefault = true\n'
        )
    if root_extra:
        root_toml += "\n" + textwrap.dedent(root_extra).strip() + "\n"
    build_file_tree(root, {"pyproject.toml": root_toml})
    for name, spec in members.items():
        unknown = set(spec) - _MEMBER_KEYS
        if unknown:
            raise ValueError(f"member {name}: unknown keys {sorted(unknown)}")
        _write_member(root / "packages" / name, name, spec, names, requires_python)
    return root


def _write_member(
    path: Path,
    name: str,
    spec: Mapping[str, Any],
    workspace_names: set[str],
    requires_python: str,
) -> None:
    version = spec.get("version", "0.1.0")
    packaged = spec.get("package", True)
    files: dict[str, str] = {
        "pyproject.toml": _member_pyproject(name, spec, workspace_names, requires_python)
    }
    if packaged:
        files[f"src/{module_name(name)}/__init__.py"] = f'__version__ = "{version}"\n'
    files.update(spec.get("files", {}))
    build_file_tree(path, files)


def _member_pyproject(
    name: str, spec: Mapping[str, Any], workspace_names: set[str], requires_python: str
) -> str:
    deps: list[str] = list(spec.get("dependencies", []))
    extras: Mapping[str, list[str]] = spec.get("optional-dependencies", {})
    groups: Mapping[str, list[str]] = spec.get("dependency-groups", {})
    lines = [
        "[project]",
        f"name = {toml_str(name)}",
        f"version = {toml_str(spec.get('version', '0.1.0'))}",
        f"requires-python = {toml_str(spec.get('requires-python', requires_python))}",
        f"dependencies = {toml_array(deps)}",
    ]
    if extras:
        lines += ["", "[project.optional-dependencies]"]
        lines += [f"{toml_str(extra)} = {toml_array(reqs)}" for extra, reqs in extras.items()]
    if groups:
        lines += ["", "[dependency-groups]"]
        lines += [f"{toml_str(group)} = {toml_array(reqs)}" for group, reqs in groups.items()]
    every = [
        *deps,
        *(r for reqs in extras.values() for r in reqs),
        *(r for reqs in groups.values() for r in reqs),
    ]
    lines += _sources(every, workspace_names)
    if spec.get("package", True):
        lines += [
            "",
            "[build-system]",
            f"requires = [{toml_str(UV_BUILD_REQUIRES)}]",
            'build-backend = "uv_build"',
        ]
    else:
        lines += ["", "[tool.uv]", "package = false"]
    text = "\n".join(lines) + "\n"
    if spec.get("extra"):
        text += "\n" + textwrap.dedent(spec["extra"]).strip() + "\n"
    return text


def _sources(requirements: Iterable[str], workspace_names: set[str]) -> list[str]:
    local = sorted(
        {
            normalize_name(Requirement(req).name)
            for req in requirements
            if normalize_name(Requirement(req).name) in workspace_names
        }
    )
    if not local:
        return []
    return ["", "[tool.uv.sources]", *(f"{dep} = {{ workspace = true }}" for dep in local)]


def path_source_project(
    folder: str, name: str, dependencies: Iterable[str] = (), sources: str = ""
) -> dict[str, str]:
    """The files of a uv_build project at folder, outside the members, that a `path` source
    names; sources: its own [tool.uv.sources] lines. Its module says its name."""
    text = (
        f'[project]\nname = {toml_str(name)}\nversion = "1.0"\n'
        f'requires-python = ">=3.11"\ndependencies = {toml_array(dependencies)}\n\n'
        f'[build-system]\nrequires = ["{UV_BUILD_REQUIRES}"]\nbuild-backend = "uv_build"\n'
    )
    if sources:
        text += f"\n[tool.uv.sources]\n{sources}\n"
    module = module_name(name)
    return {
        f"{folder}/pyproject.toml": text,
        f"{folder}/src/{module}/__init__.py": f"NAME = {toml_str(name)}\n",
    }


# Path sources as a workspace of example projects declares them, at the root: liba and libb,
# and libc, which only liba names, by a path source of its own. A member requiring liba
# installs liba and libc; libb nobody installs.
ROOT_PATH_SOURCES = (
    '[tool.uv.sources]\nliba = { path = "libs/liba" }\nlibb = { path = "libs/libb" }\n'
)
PATH_SOURCE_TREE = {
    **path_source_project("libs/liba", "liba", ["libc"], 'libc = { path = "../libc" }'),
    **path_source_project("libs/libb", "libb"),
    **path_source_project("libs/libc", "libc"),
}

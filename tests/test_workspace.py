"""The workspace model: members as uv expands them, sources, edges, and bad input."""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

import pytest
from ws.errors import ConfigError, WorkspaceNotFound
from ws.workspace.members import Dependency, find_root, load_workspace

from tests.support.files import build_file_tree, make_workspace

ROOT = """
[tool.uv.workspace]
members = ["packages/*"]
"""


def member(name: str, deps: str = "[]", extra: str = "") -> str:
    return f'[project]\nname = "{name}"\nversion = "1.0"\ndependencies = {deps}\n{extra}'


def test_members_edges_and_kinds(tmp_path: Path) -> None:
    make_workspace(
        tmp_path,
        {
            "lib": {},
            "Other_Lib": {"version": "2.0"},
            "app": {
                "dependencies": ["lib", "beta>=1"],
                "optional-dependencies": {"extra1": ["other-lib"]},
                "dependency-groups": {"dev": ["lib", "devtool"]},
            },
        },
    )
    ws = load_workspace(tmp_path)
    assert list(ws.members) == ["app", "lib", "other-lib"]
    app = ws.members["app"]
    assert app.rel == PurePosixPath("packages/app")
    assert app.dependencies == (
        Dependency("lib", "runtime"),
        Dependency("other-lib", "extra", "extra1"),
        Dependency("lib", "group", "dev"),
    )
    assert ws.members["other-lib"].version == "2.0"
    assert ws.member("Other.Lib").name == "other-lib"


def test_root_sources_are_inherited_and_member_sources_win(tmp_path: Path) -> None:
    build_file_tree(
        tmp_path,
        {
            "pyproject.toml": ROOT + "[tool.uv.sources]\nlib = { workspace = true }\n",
            "packages/lib/pyproject.toml": member("lib"),
            "packages/app/pyproject.toml": member("app", '["lib"]'),
            "packages/pinned/pyproject.toml": member(
                "pinned", '["lib"]', '[tool.uv.sources]\nlib = { path = "../lib" }\n'
            ),
        },
    )
    ws = load_workspace(tmp_path)
    assert ws.members["app"].dependencies == (Dependency("lib", "runtime"),)
    assert ws.members["pinned"].dependencies == ()


def test_exclude_globs_virtual_root_and_root_project(tmp_path: Path) -> None:
    build_file_tree(
        tmp_path,
        {
            "pyproject.toml": member("rooted")
            + '\n[tool.uv.workspace]\nmembers = ["packages/*", "libs/**/x"]\n'
            + 'exclude = ["packages/skip*"]\n',
            "packages/a/pyproject.toml": member("a"),
            "packages/skipme/README": "no pyproject, but excluded",
            "packages/.hidden/README": "hidden folders are skipped, as uv does",
            "libs/deep/x/pyproject.toml": member("x"),
        },
    )
    ws = load_workspace(tmp_path)
    assert {n: str(m.rel) for n, m in ws.members.items()} == {
        "a": "packages/a",
        "rooted": ".",
        "x": "libs/deep/x",
    }


@pytest.mark.parametrize(
    ("extra", "package"),
    [
        ("", False),  # uv: no [build-system] and no setting is a virtual project (not built)
        ("[tool.uv]\npackage = true\n", True),
        ('[build-system]\nrequires = ["hatchling"]\nbuild-backend = "hatchling.build"\n', True),
        ('[build-system]\nrequires = ["hatchling"]\n[tool.uv]\npackage = false\n', False),
    ],
)
def test_package_is_what_uv_builds(tmp_path: Path, extra: str, package: bool) -> None:
    """As uv reads it: `tool.uv.package` when set, else whether a [build-system] is declared
    (the uv.lock source is then `virtual`, as for mcp's structured-output-lowlevel example)."""
    build_file_tree(
        tmp_path,
        {
            "pyproject.toml": ROOT,
            "packages/a/pyproject.toml": f'[project]\nname = "a"\nversion = "1"\n{extra}',
        },
    )
    assert load_workspace(tmp_path).members["a"].package is package


def test_package_false_and_dynamic_version(tmp_path: Path) -> None:
    build_file_tree(
        tmp_path,
        {
            "pyproject.toml": ROOT,
            "packages/a/pyproject.toml": '[project]\nname = "a"\ndynamic = ["version"]\n'
            "[tool.uv]\npackage = false\n",
        },
    )
    a = load_workspace(tmp_path).members["a"]
    assert (a.version, a.version_label, a.package) == (None, "dynamic", False)


def test_find_root_walks_up(tmp_path: Path) -> None:
    make_workspace(tmp_path, {"lib": {}})
    assert find_root(tmp_path / "packages" / "lib" / "src") == tmp_path.resolve()


def test_no_workspace(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n')
    with pytest.raises(WorkspaceNotFound, match="no uv workspace found"):
        find_root(tmp_path)


def test_invalid_toml_names_file_line_and_column(tmp_path: Path) -> None:
    build_file_tree(tmp_path, {"pyproject.toml": ROOT, "packages/a/pyproject.toml": "[project\n"})
    with pytest.raises(ConfigError) as err:
        load_workspace(tmp_path)
    message = str(err.value)
    assert f"{tmp_path / 'packages/a/pyproject.toml'}:1:" in message
    assert "invalid TOML" in message
    assert err.value.line == 1


def test_member_without_pyproject(tmp_path: Path) -> None:
    build_file_tree(tmp_path, {"pyproject.toml": ROOT, "packages/a/README.md": "hi"})
    with pytest.raises(ConfigError, match="has no pyproject.toml") as err:
        load_workspace(tmp_path)
    assert "exclude" in str(err.value)


def test_glob_matching_nothing_warns(tmp_path: Path) -> None:
    build_file_tree(
        tmp_path,
        {
            "pyproject.toml": '[tool.uv.workspace]\nmembers = ["packages/*", "libz/*"]\n',
            "packages/a/pyproject.toml": member("a"),
        },
    )
    ws = load_workspace(tmp_path)
    assert list(ws.members) == ["a"]
    assert len(ws.warnings) == 1 and "'libz/*' matches nothing" in ws.warnings[0]


def test_member_outside_root(tmp_path: Path) -> None:
    build_file_tree(
        tmp_path / "ws",
        {"pyproject.toml": '[tool.uv.workspace]\nmembers = ["../x"]\n'},
    )
    with pytest.raises(ConfigError, match="reaches outside the workspace root"):
        load_workspace(tmp_path / "ws")


def test_member_symlinked_out_of_root(tmp_path: Path) -> None:
    build_file_tree(tmp_path / "elsewhere", {"pyproject.toml": member("x")})
    build_file_tree(tmp_path / "ws", {"pyproject.toml": ROOT})
    (tmp_path / "ws/packages").mkdir()
    os.symlink(tmp_path / "elsewhere", tmp_path / "ws/packages/x")
    with pytest.raises(ConfigError, match="outside the workspace root"):
        load_workspace(tmp_path / "ws")


def test_two_members_with_one_name(tmp_path: Path) -> None:
    build_file_tree(
        tmp_path,
        {
            "pyproject.toml": ROOT,
            "packages/a/pyproject.toml": member("same_name"),
            "packages/b/pyproject.toml": member("Same-Name"),
        },
    )
    with pytest.raises(ConfigError, match="two workspace members are named 'same-name'"):
        load_workspace(tmp_path)


def test_workspace_source_naming_no_member(tmp_path: Path) -> None:
    build_file_tree(
        tmp_path,
        {
            "pyproject.toml": ROOT,
            "packages/a/pyproject.toml": member(
                "a", '["ghost"]', "[tool.uv.sources]\nghost = { workspace = true }\n"
            ),
        },
    )
    with pytest.raises(ConfigError, match="no workspace member is named 'ghost'") as err:
        load_workspace(tmp_path)
    assert str(tmp_path / "packages/a/pyproject.toml") in str(err.value)


def test_invalid_requirement(tmp_path: Path) -> None:
    build_file_tree(
        tmp_path, {"pyproject.toml": ROOT, "packages/a/pyproject.toml": member("a", '["b >>> 1"]')}
    )
    with pytest.raises(ConfigError, match="project.dependencies` holds an invalid requirement"):
        load_workspace(tmp_path)


def test_unknown_member_lookup(tmp_path: Path) -> None:
    make_workspace(tmp_path, {"lib": {}})
    with pytest.raises(ConfigError, match="no workspace member named 'nope'"):
        load_workspace(tmp_path).member("nope")

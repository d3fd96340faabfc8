"""ws.checks.sources: which files are a member's package sources, and each import's context."""

from __future__ import annotations

from pathlib import Path

import pytest
from ws.checks.sources import Context, file_imports, member_layout

from tests.support.files import build_file_tree

IMPORTS = """\
from __future__ import annotations

import os, json.decoder as jd
from typing import TYPE_CHECKING
import typing

from . import sibling
from .. import parent
from pkg.sub import name, other
from star import *

if TYPE_CHECKING:
    import typed_only
    try:
        import typed_and_guarded
    except ImportError:
        pass
else:
    import runtime_else

if typing.TYPE_CHECKING:
    import typed_by_attribute

try:
    import optional
except (ModuleNotFoundError, OSError):
    import fallback
else:
    import after_optional

try:
    import not_guarded
except KeyError:
    pass


def lazy():
    import inside_function


class Holder:
    import inside_class
"""


def test_each_import_is_read_with_its_context(tmp_path: Path) -> None:
    path = build_file_tree(tmp_path, {"m.py": IMPORTS}) / "m.py"
    got = [(i.line, i.module, i.dotted, i.context.value) for i in file_imports(path)]
    assert got == [
        (3, "os", "os", "runtime"),
        (3, "json.decoder", "json.decoder", "runtime"),
        (4, "typing", "typing.TYPE_CHECKING", "runtime"),
        (5, "typing", "typing", "runtime"),
        (9, "pkg.sub", "pkg.sub.name", "runtime"),
        (9, "pkg.sub", "pkg.sub.other", "runtime"),
        (10, "star", "star", "runtime"),
        (13, "typed_only", "typed_only", "type-checking"),
        (15, "typed_and_guarded", "typed_and_guarded", "type-checking"),
        (19, "runtime_else", "runtime_else", "runtime"),
        (22, "typed_by_attribute", "typed_by_attribute", "type-checking"),
        (25, "optional", "optional", "guarded"),
        (27, "fallback", "fallback", "runtime"),
        (29, "after_optional", "after_optional", "runtime"),
        (32, "not_guarded", "not_guarded", "runtime"),
        (38, "inside_function", "inside_function", "runtime"),
        (42, "inside_class", "inside_class", "runtime"),
    ]
    assert all(isinstance(i.context, Context) for i in file_imports(path))


def test_a_file_that_is_not_python_raises_syntax_error(tmp_path: Path) -> None:
    path = build_file_tree(tmp_path, {"bad.py": "import (\n"}) / "bad.py"
    with pytest.raises(SyntaxError):
        file_imports(path)


UV_BUILD = '[build-system]\nrequires = ["uv_build"]\nbuild-backend = "uv_build"\n'
HATCH = '[build-system]\nrequires = ["hatchling"]\nbuild-backend = "hatchling.build"\n'


def layout_of(folder: Path, pyproject: dict, skip: frozenset[Path] = frozenset()):
    layout = member_layout(folder, pyproject, skip)
    rel = lambda paths: sorted(p.relative_to(folder).as_posix() for p in paths)  # noqa: E731
    return layout, rel(layout.sources), rel(layout.others)


def test_a_src_layout_ships_its_package_and_not_its_tests(tmp_path: Path) -> None:
    folder = build_file_tree(tmp_path / "m", {
        "src/pkg/__init__.py": "", "src/pkg/sub/mod.py": "", "tests/test_x.py": "",
        "conftest.py": "", "scripts/tool.py": "", ".hidden/x.py": "", "venv/pyvenv.cfg": "",
        "venv/lib/y.py": "", "src/pkg/__pycache__/z.py": "",
    })  # fmt: skip
    layout, sources, others = layout_of(folder, {"build-system": {"build-backend": "uv_build"}})
    assert sources == ["src/pkg/__init__.py", "src/pkg/sub/mod.py"]
    assert others == ["conftest.py", "scripts/tool.py", "tests/test_x.py"]
    assert layout.modules == {"pkg", "pkg.sub", "pkg.sub.mod"}
    assert layout.top_names == {"pkg"}


def test_uv_build_module_name_and_root_are_what_ships(tmp_path: Path) -> None:
    folder = build_file_tree(tmp_path / "m", {
        "lib/real/__init__.py": "", "lib/other/__init__.py": "", "src/decoy/__init__.py": "",
    })  # fmt: skip
    settings = {"module-root": "lib", "module-name": "real"}
    pyproject = {"build-system": {"build-backend": "uv_build"},
                 "tool": {"uv": {"build-backend": settings}}}  # fmt: skip
    layout, sources, others = layout_of(folder, pyproject)
    assert sources == ["lib/real/__init__.py"]
    assert others == ["lib/other/__init__.py", "src/decoy/__init__.py"]
    assert layout.top_names == {"real"}


def test_a_flat_layout_leaves_out_tool_folders_and_nested_members(tmp_path: Path) -> None:
    folder = build_file_tree(tmp_path / "m", {
        "flat/__init__.py": "", "single.py": "", "setup.py": "", "tests/test_x.py": "",
        "docs/conf.py": "", "nested/__init__.py": "",
    })  # fmt: skip
    layout, sources, others = layout_of(folder, {}, frozenset({folder / "nested"}))
    assert sources == ["flat/__init__.py", "single.py"]
    assert others == ["docs/conf.py", "setup.py", "tests/test_x.py"]
    assert layout.top_names == {"flat", "single"}

"""The checks before upload, on real built files: packaging.metadata's validation and ws's
own rules; and sibling pins as ws writes them (extras and markers kept)."""

from __future__ import annotations

import sys
import zipfile
from pathlib import Path

import pytest
from ws.errors import ConfigError
from ws.publish.checks import check_file
from ws.publish.pins import pinned, pinned_lists

from tests.support.files import build_file_tree
from tests.support.pyindex import build_wheel

GOOD = """\
Metadata-Version: 2.4
Name: demo
Version: 1.0.0
Summary: A demo
License-Expression: MIT
Requires-Python: >=3.11
Requires-Dist: base==1.0.0
Description-Content-Type: text/markdown

# demo
"""


def wheel_with(tmp_path: Path, metadata: str, name: str = "demo-1.0.0-py3-none-any.whl") -> Path:
    path = tmp_path / name
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("demo/__init__.py", "")
        archive.writestr("demo-1.0.0.dist-info/METADATA", metadata)
    return path


def test_a_good_wheel_passes(tmp_path: Path) -> None:
    assert check_file(wheel_with(tmp_path, GOOD), "demo", "1.0.0", {"base": "==1.0.0"}) == []


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (("Requires-Python: >=3.11\n", ""), "no Requires-Python"),
        (("License-Expression: MIT\n", ""), "no licence"),
        (("Version: 1.0.0", "Version: 1.0.0+local"), "has a local part"),
        (("Name: demo", "Name: other"), "its metadata says other 1.0.0, not demo 1.0.0"),
        (("Requires-Dist: base==1.0.0", "Requires-Dist: base"), "does not pin base to ==1.0.0"),
        (("text/markdown", "text/html"), "invalid description-content-type"),
        (("Version: 1.0.0", "Version: not a version"), "invalid version"),
    ],
)
def test_each_rule(tmp_path: Path, change: tuple[str, str], problem: str) -> None:
    path = wheel_with(tmp_path, GOOD.replace(*change))
    found = check_file(path, "demo", "1.0.0", {"base": "==1.0.0"})
    assert any(problem in p for p in found), found
    assert all(p.startswith(f"{path.name}: ") for p in found)


def test_a_hand_made_wheel_without_requires_python(tmp_path: Path) -> None:
    wheel = build_wheel("demo", "1.0.0", ())
    found = check_file(wheel.write(tmp_path), "demo", "1.0.0", {})
    assert any("no Requires-Python" in p for p in found)


def test_a_file_without_metadata(tmp_path: Path) -> None:
    path = tmp_path / "demo-1.0.0-py3-none-any.whl"
    zipfile.ZipFile(path, "w").close()
    assert "no metadata file" in check_file(path, "demo", "1.0.0", {})[0]


@pytest.mark.parametrize(
    ("text", "operator", "expected"),
    [
        ("core", "==", "core==1.2.0"),
        (
            "core[cli]>=1 ; python_version >= '3.11'",
            "==",
            'core[cli]==1.2.0; python_version >= "3.11"',
        ),
        ("Core_Lib", "~=", "Core_Lib~=1.2.0"),
        ("core", ">=", "core>=1.2.0"),
    ],
)
def test_pins(text: str, operator: str, expected: str) -> None:
    assert pinned(text, "1.2.0", operator, Path("pyproject.toml"), "k") == expected


def test_a_requirement_excluding_the_release_is_refused() -> None:
    with pytest.raises(ConfigError, match="asks 'core<1', but this release of core is 1.2.0"):
        pinned("core<1", "1.2.0", "==", Path("pyproject.toml"), "project.dependencies[0]")


def test_pinned_lists_name_only_siblings() -> None:
    project = {
        "dependencies": ["alpha>=1", "core"],
        "optional-dependencies": {"cli": ["core[cli]", "click"]},
    }
    updates = pinned_lists(project, {"core": ("1.2.0", "==")}, Path("pyproject.toml"))
    assert updates == {
        ("project", "dependencies"): {1: "core==1.2.0"},
        ("project", "optional-dependencies", "cli"): {0: "core[cli]==1.2.0"},
    }


RST = GOOD.replace("text/markdown", "text/x-rst").replace("# demo", "Demo\n====\n\n`broken")


def test_rst_is_rendered_when_readme_renderer_is_installed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """readme_renderer is optional (not a dependency of ws); a stand-in with its interface
    (render returns None for text it cannot render) shows the check asks it."""
    monkeypatch.delitem(sys.modules, "readme_renderer", raising=False)
    monkeypatch.delitem(sys.modules, "readme_renderer.rst", raising=False)
    build_file_tree(
        tmp_path / "site",
        {
            "readme_renderer/__init__.py": "",
            "readme_renderer/rst.py": (
                "def render(text):\n    return None if '`broken' in text else '<p/>'\n"
            ),
        },
    )
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    found = check_file(wheel_with(tmp_path, RST), "demo", "1.0.0", {"base": "==1.0.0"})
    assert found == [
        "demo-1.0.0-py3-none-any.whl: the README is not valid reStructuredText "
        "(PyPI would refuse to render it)"
    ]
    fixed = RST.replace("`broken", "fine")
    assert check_file(wheel_with(tmp_path, fixed), "demo", "1.0.0", {"base": "==1.0.0"}) == []

"""ws.checks.distributions: modules mapped to the distributions installing them, read from an
environment's own metadata files (RECORD, top_level.txt, .pth folders) on disk."""

from __future__ import annotations

from pathlib import Path

from ws.checks.distributions import ModuleMap, read_environment

from tests.support.files import build_file_tree


def dist_info(name: str, version: str, record: list[str]) -> dict[str, str]:
    folder = f"{name.replace('-', '_')}-{version}.dist-info"
    lines = [*record, f"{folder}/METADATA", f"{folder}/RECORD"]
    return {
        f"{folder}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
        f"{folder}/RECORD": "".join(f"{line},,\n" for line in lines),
    }


def environment(tmp_path: Path) -> Path:
    src = build_file_tree(tmp_path / "editable-src", {"edpkg/__init__.py": "", "edpkg/m.py": ""})
    site = {
        **dist_info("py-thing", "1.0", ["thing/__init__.py", "thing/sub.py", "../../bin/thing"]),
        **dist_info("ns-one", "1.0", ["nsp/one/__init__.py"]),
        **dist_info("ns-two", "1.0", ["nsp/two/__init__.py"]),
        **dist_info("fast", "1.0", ["_fast.cpython-311-x86_64-linux-gnu.so", "fast/__init__.pyi"]),
        **dist_info("ed", "1.0", ["ed.pth"]),
        "ed.pth": f"{src}\n",
        **dist_info("hooks", "1.0", ["hooks-precedence.pth"]),
        "hooks-precedence.pth": "import os; os.environ.get('X')\n",
        # No RECORD: top_level.txt says it (what old setuptools installs wrote).
        "legacy-2.0.dist-info/METADATA": "Metadata-Version: 2.1\nName: Legacy\nVersion: 2.0\n",
        "legacy-2.0.dist-info/top_level.txt": "legacy_mod\n\n",
    }
    env = tmp_path / "env"
    build_file_tree(env / "lib/python3.11/site-packages", site)
    return env


def test_modules_map_to_the_distributions_installing_them(tmp_path: Path) -> None:
    modules = ModuleMap()
    installed = read_environment(environment(tmp_path), modules)
    assert installed == {"py-thing", "ns-one", "ns-two", "fast", "ed", "hooks", "legacy"}
    assert modules.lookup("thing") == {"py-thing"}
    assert modules.lookup("thing.sub.deeper") == {"py-thing"}
    assert modules.lookup("py_thing") == frozenset()
    assert modules.lookup("_fast") == {"fast"} and modules.lookup("fast") == {"fast"}
    assert modules.lookup("edpkg.m") == {"ed"}
    assert modules.lookup("legacy_mod") == {"legacy"}
    assert modules.lookup("bin") == frozenset() and modules.lookup("thing-1") == frozenset()


def test_a_namespace_package_resolves_by_its_deepest_known_part(tmp_path: Path) -> None:
    modules = ModuleMap()
    read_environment(environment(tmp_path), modules)
    assert modules.lookup("nsp.two.x") == {"ns-two"}
    assert modules.lookup("nsp.one") == {"ns-one"}
    assert modules.lookup("nsp") == {"ns-one", "ns-two"}
    assert modules.lookup("nsp.three") == {"ns-one", "ns-two"}

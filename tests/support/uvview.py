"""The workspace as uv itself reports it, and the checks every member lock must pass against it."""

from __future__ import annotations

import shutil
import subprocess
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

LOCAL = ("editable", "virtual", "directory")
TRIMMED = ("optional-dependencies", "dev-dependencies")


def uv(root: Path, uv_bin: str, env: Mapping[str, str], *args: str) -> str:
    done = subprocess.run(
        [uv_bin, *args], cwd=root, env=dict(env), capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, f"uv {' '.join(args)}:\n{done.stderr}"
    return done.stdout


def uv_members(root: Path, uv_bin: str, env: Mapping[str, str]) -> set[str]:
    """The members `uv workspace list` names."""
    return set(uv(root, uv_bin, env, "workspace", "list").split())


def _lock(path: Path) -> dict[str, Any]:
    return tomllib.loads(path.read_text(encoding="utf-8"))


def uv_edges(root: Path) -> set[tuple[str, str]]:
    """member -> member edges as the root uv.lock records them (dynamic metadata included)."""
    lock = _lock(root / "uv.lock")
    members = set(lock["manifest"]["members"])
    edges = set()
    for package in lock["package"]:
        if package["name"] not in members or next(iter(package["source"])) not in LOCAL:
            continue
        refs = list(package.get("dependencies", []))
        for table in TRIMMED:
            refs += [r for group in package.get(table, {}).values() for r in group]
        edges |= {(package["name"], r["name"]) for r in refs if r["name"] in members}
    return edges


def _key(package: Mapping[str, Any]) -> tuple[str, str, str]:
    return package["name"], str(package.get("version")), repr(sorted(package["source"].items()))


def check_member_lock(root_lock: Path, member_lock: Path, member: str) -> None:
    """Every entry of a member lock is the root lock's, but for the trims uv needs: extras
    nobody asked for that name left-out packages, and other members' groups."""
    root = {_key(p): p for p in _lock(root_lock)["package"]}
    for package in _lock(member_lock)["package"]:
        theirs = root[_key(package)]
        assert {k: v for k, v in package.items() if k not in TRIMMED} == {
            k: v for k, v in theirs.items() if k not in TRIMMED
        }, package["name"]
        extras = package.get("optional-dependencies", {})
        assert all(theirs["optional-dependencies"][x] == v for x, v in extras.items())
        if package["name"] == member:
            assert package.get("dev-dependencies") == theirs.get("dev-dependencies")
        else:
            assert "dev-dependencies" not in package or package["source"].get("registry")


def export_args(member: str) -> list[str]:
    return [
        "export", "--frozen", "--package", member, "--all-extras", "--no-dev",
        "--no-hashes", "--no-header", "--no-annotate", "--quiet",
    ]  # fmt: skip


def exported_from_member_lock(
    root: Path, closure_pyprojects: Mapping[str, Path], root_pyproject: str, lock: Path,
    member: str, uv_bin: str, env: Mapping[str, str], scratch: Path,
) -> str:  # fmt: skip
    """`uv export` of member from its own lock, in a workspace holding only its closure:
    what the member's image installs."""
    scratch.mkdir(parents=True)
    (scratch / "pyproject.toml").write_text(root_pyproject, encoding="utf-8")
    for rel, pyproject in closure_pyprojects.items():
        (scratch / rel).mkdir(parents=True, exist_ok=True)
        shutil.copy2(pyproject, scratch / rel / "pyproject.toml")
    shutil.copy2(lock, scratch / "uv.lock")
    return uv(scratch, uv_bin, env, *export_args(member))

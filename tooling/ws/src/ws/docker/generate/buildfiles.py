"""What a member's build reads besides its own folder: the files its build backend's settings
name outside it, the build-files it declares, and, for the root project (which has no folder
of its own an image could copy whole), every build input: package folder, readme, licenses.
"""

from __future__ import annotations

import functools
import glob
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from ws.docker.builds.credentials import credential_reason
from ws.docker.generate.config import SAFE_PATH, is_root_project, workspace_path
from ws.docker.generate.dockerignore import DockerIgnore
from ws.docker.generate.render import ALWAYS_DENY
from ws.errors import ConfigError
from ws.workspace.members import Member

DECLARED = "tool.ws.docker.build-files"
DECLARE_FIX = 'list what the build reads under [tool.ws.docker] build-files = ["..."]'
# Files a setuptools build of the root project reads when they exist.
SETUPTOOLS_FILES = ("setup.py", "setup.cfg", "MANIFEST.in")


@dataclass(frozen=True)
class BuildFile:
    """A file or folder a build reads, relative to the workspace root; where it is named."""

    path: str
    pyproject: Path
    key: str  # `tool.hatch.version.path`


def build_files(root: Path, member: Member, declared: Sequence[str] = ()) -> list[BuildFile]:
    """What member's build reads outside its folder (every input, for the root project);
    nothing when uv does not build it. An error for a path outside the workspace root, one
    that does not exist, or one no build context may hold."""
    if not builds(member):
        return []
    found = [_locate(root, member, key, raw) for key, raw in _named_paths(member)]
    if is_root_project(member):
        found = [*_package_folder(root, member, bool(declared)), *found]
    found += [_declared(root, member, path) for path in declared]
    return [f for f in found if f is not None]


def builds(member: Member) -> bool:
    """Whether uv builds member: packaged, with a build system (uv treats one without as
    virtual)."""
    return member.package and isinstance(member.data.get("build-system"), dict)


def under(path: str, folder: str) -> bool:
    """Whether path is folder or lies in it (every path lies in ".")."""
    return folder == "." or path == folder or path.startswith(folder + "/")


def _declared(root: Path, member: Member, path: str) -> BuildFile | None:
    """A declared build file (config checked the path): None inside the member's own folder."""
    if not is_root_project(member) and under(path, member.rel.as_posix()):
        return None
    _check_present(root, member, f"`{DECLARED}` entry {path!r}", path)
    return BuildFile(path, member.pyproject, DECLARED)


# ---------------------------------------------------------------- where backends name files


def _named_paths(member: Member) -> Iterator[tuple[str, str]]:
    """(key, path as written, relative to the member) of every file the build settings name."""
    data = member.data
    yield from _project_paths(data.get("project", {}), member.path)
    tool = _table(data.get("tool"))
    yield from _hatch_paths(_table(tool.get("hatch")))
    for field, spec in _table(_table(tool.get("setuptools")).get("dynamic")).items():
        files = _table(spec).get("file")
        for i, path in enumerate([files] if isinstance(files, str) else _strings(files)):
            suffix = "" if isinstance(files, str) else f"[{i}]"
            yield f"tool.setuptools.dynamic.{field}.file{suffix}", path
    pdm_version = _table(_table(tool.get("pdm")).get("version"))
    if pdm_version.get("source") == "file" and isinstance(pdm_version.get("path"), str):
        yield "tool.pdm.version.path", pdm_version["path"]
    yield from _backend_path(member)


def _project_paths(project: Any, member_dir: Path) -> Iterator[tuple[str, str]]:
    project = _table(project)
    readme = project.get("readme")
    if isinstance(readme, str):
        yield "project.readme", readme
    elif isinstance(_table(readme).get("file"), str):
        yield "project.readme.file", readme["file"]
    license_file = _table(project.get("license")).get("file")
    if isinstance(license_file, str):
        yield "project.license.file", license_file
    for i, pattern in enumerate(_strings(project.get("license-files"))):
        for path in sorted(glob.glob(pattern, root_dir=member_dir, recursive=True)):
            yield f"project.license-files[{i}]", path


def _hatch_paths(hatch: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    version_path = _table(hatch.get("version")).get("path")
    if isinstance(version_path, str):
        yield "tool.hatch.version.path", version_path
    build = _table(hatch.get("build"))
    tables = [("tool.hatch.build", build)]
    tables += [
        (f"tool.hatch.build.targets.{name}", _table(target))
        for name, target in _table(build.get("targets")).items()
    ]
    tables.append(("tool.hatch.metadata", _table(hatch.get("metadata"))))
    for key, table in tables:
        for source in _table(table.get("force-include")):
            yield f"{key}.force-include", source
        custom = _table(_table(table.get("hooks")).get("custom"))
        if "custom" in _table(table.get("hooks")):
            yield f"{key}.hooks.custom.path", str(custom.get("path", "hatch_build.py"))


def _backend_path(member: Member) -> Iterator[tuple[str, str]]:
    """An in-tree backend's folder; the backend module itself when that folder is the project's
    own (the root project cannot copy its folder whole)."""
    system = _table(member.data.get("build-system"))
    module = str(system.get("build-backend", "")).split(":")[0].split(".")[0]
    for i, folder in enumerate(_strings(system.get("backend-path"))):
        key = f"build-system.backend-path[{i}]"
        if workspace_path(PurePosixPath("."), folder) != ".":
            yield key, folder
            continue
        for candidate in (f"{module}.py", module):
            if module and (member.path / folder / candidate).exists():
                yield key, (PurePosixPath(folder) / candidate).as_posix()
                break


def _table(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _strings(value: Any) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


# ---------------------------------------------------------------- the root project


def _package_folder(root: Path, member: Member, declared: bool) -> list[BuildFile | None]:
    """The root project's importable code (where hatch or uv_build are told it is, else src/,
    else the folder or module named after the project) and setuptools' own files."""
    data = member.data
    tool = _table(data.get("tool"))
    backend = str(_table(data.get("build-system")).get("build-backend", ""))
    found: list[BuildFile | None] = []
    if backend.startswith("setuptools"):
        setuptools = [f for f in SETUPTOOLS_FILES if (root / f).is_file()]
        found += [_locate(root, member, "build-system.build-backend", f) for f in setuptools]
    wheel = _table(
        _table(_table(_table(tool.get("hatch")).get("build")).get("targets")).get("wheel")
    )
    if wheel.get("bypass-selection") is True:
        return found  # hatch's wheel selects no files: a meta-package, metadata alone
    for field in ("packages", "only-include"):
        paths = _strings(wheel.get(field))
        if paths:
            key = f"tool.hatch.build.targets.wheel.{field}"
            return [*found, *(_locate(root, member, f"{key}[{i}]", p) for i, p in enumerate(paths))]
    uv_build = _table(_table(tool.get("uv")).get("build-backend"))
    module_root = str(uv_build.get("module-root", "src"))
    name = uv_build.get("module-name", member.name.replace("-", "_"))
    name = (name[0] if isinstance(name, list) and name else str(name)).split(".")[0]
    for candidate in (module_root, name, f"{name}.py"):
        if candidate not in ("", ".") and (root / candidate).exists():
            return [*found, _locate(root, member, "project.name", candidate)]
    if found or declared:
        return found
    raise ConfigError(
        member.pyproject,
        f"the root project {member.name} has no src/, {name}/ or {name}.py, so ws cannot tell "
        "which files its build reads (an image cannot copy the whole root)",
        fix=DECLARE_FIX + " in this pyproject.toml (its package folder, and any file it reads)",
    )


# ---------------------------------------------------------------- checks


def _locate(root: Path, member: Member, key: str, raw: str) -> BuildFile | None:
    """raw, named by key relative to member, as a path under the root; None when it lies in the
    member's own folder (copied whole anyway)."""
    rel = None if raw.startswith(("/", "~")) else workspace_path(member.rel, raw)
    where = f"`{key}` = {raw!r}"
    if rel is None:
        raise ConfigError(
            member.pyproject,
            f"{where} lies outside the workspace root {root}, which is every image's build context",
            fix="move the file under the workspace root and name it relative to the member",
        )
    if not is_root_project(member) and under(rel, member.rel.as_posix()):
        return None
    if rel == "." or not SAFE_PATH.fullmatch(rel):
        raise ConfigError(
            member.pyproject,
            f"{where} cannot be copied safely by a Dockerfile",
            fix="name a file or folder using letters, digits and . _ - + @ = , only",
        )
    _check_present(root, member, where, rel)
    return BuildFile(rel, member.pyproject, key)


def _check_present(root: Path, member: Member, where: str, rel: str) -> None:
    target = root / rel
    if not target.exists():
        raise ConfigError(
            member.pyproject,
            f"{where} names {rel}, which does not exist, and the image build reads it",
            fix="create it, or correct the setting",
        )
    if not target.resolve().is_relative_to(root.resolve()):
        raise ConfigError(
            member.pyproject,
            f"{where} leads outside the workspace root (through a link)",
            fix="copy the file under the workspace root",
        )
    reason = credential_reason(rel)
    if reason is None and _always_denied().excluded(rel):
        reason = "a secret, a cache or a local environment"
    if reason:
        raise ConfigError(
            member.pyproject,
            f"{where} names {rel}, a file no image may hold ({reason})",
            fix="build without it; pass secrets at run time instead",
        )


@functools.cache
def _always_denied() -> DockerIgnore:
    return DockerIgnore(ALWAYS_DENY, source="ws's own always-denied patterns")

"""The workspace model: find the root, read every pyproject.toml into frozen dataclasses."""

from __future__ import annotations

import fnmatch
import re
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, Literal

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from ws.errors import ConfigError, WorkspaceNotFound
from ws.git import only_ignored_files
from ws.workspace.root_lock import RootLock

if TYPE_CHECKING:
    from ws.workspace.lockfile import Entry, Lock, Ref

EdgeKind = Literal["runtime", "extra", "group"]
_TOML_POSITION = re.compile(r"\(at line (\d+), column (\d+)\)")
# A package name as PEP 508 and uv accept it (uv refuses any other member name).
_VALID_NAME = re.compile(r"[A-Z0-9](?:[A-Z0-9._-]*[A-Z0-9])?", re.IGNORECASE | re.ASCII)


@dataclass(frozen=True)
class Dependency:
    """One `{ workspace = true }` edge: the member depended on, and how."""

    name: str
    kind: EdgeKind
    group: str | None = None  # the extra's or the dependency group's name
    extras: tuple[str, ...] = ()  # the extras of name asked for (`core[cli]`)


@dataclass(frozen=True)
class Member:
    name: str
    path: Path
    rel: PurePosixPath
    version: str | None  # None when the version is dynamic
    package: bool  # whether uv builds it: `[tool.uv] package`, else a [build-system]
    dependencies: tuple[Dependency, ...]
    pyproject: Path
    data: dict[str, Any] = field(compare=False, hash=False, repr=False)
    dynamic: tuple[str, ...] = ()  # [project] dynamic: fields a build backend computes
    text: str = field(default="", compare=False, hash=False, repr=False)  # data's source

    @property
    def dynamic_edges(self) -> bool:
        """Its workspace edges are not all in pyproject.toml: uv's lock knows them."""
        return bool({"dependencies", "optional-dependencies"} & set(self.dynamic))

    @property
    def version_label(self) -> str:
        return self.version if self.version is not None else "dynamic"


@dataclass(frozen=True)
class Workspace:
    root: Path
    pyproject: Path
    members: dict[str, Member] = field(hash=False)
    data: dict[str, Any] = field(compare=False, hash=False, repr=False)
    # The root pyproject.toml's text, as data was parsed from it (the image's root pyproject
    # keeps its comments), and the run's one reader of the root lock.
    text: str = field(compare=False, hash=False, repr=False)
    lock: RootLock = field(compare=False, hash=False, repr=False)
    warnings: tuple[str, ...] = ()

    def member(self, name: str) -> Member:
        """The member called name (any spelling PEP 503 folds together)."""
        key = canonicalize_name(name)
        if key not in self.members:
            known = ", ".join(self.members) or "(none)"
            raise ConfigError(
                self.pyproject,
                f"no workspace member named {name!r}",
                fix=f"use one of: {known}",
            )
        return self.members[key]


def read_toml(path: Path) -> dict[str, Any]:
    """Parse a TOML file, turning every failure into a ConfigError with line and column."""
    return read_toml_text(path)[1]


def read_toml_text(path: Path) -> tuple[str, dict[str, Any]]:
    """A TOML file's text and what it holds (read_toml, for a caller that keeps the text)."""
    try:
        # uv reads a file that starts with a byte-order mark; so does ws
        text = path.read_bytes().decode("utf-8").removeprefix("\ufeff")
        return text, tomllib.loads(text)
    except RecursionError as e:
        raise ConfigError(
            path, "arrays or tables nested too deeply to read", fix="flatten the nesting"
        ) from e
    except tomllib.TOMLDecodeError as e:
        problem, line, column = toml_problem(e)
        raise ConfigError(
            path, f"invalid TOML: {problem}", line=line, column=column, fix="correct the syntax"
        ) from e
    except FileNotFoundError as e:
        raise ConfigError(path, "file not found") from e
    except UnicodeDecodeError as e:
        raise ConfigError(path, "not UTF-8 text", fix="save the file as UTF-8") from e
    except OSError as e:
        raise ConfigError(
            path, f"cannot read: {e.strerror or e}", fix="make it a readable file"
        ) from e


def toml_problem(error: tomllib.TOMLDecodeError) -> tuple[str, int | None, int | None]:
    """tomllib's message without its position, and the line and column it names."""
    found = _TOML_POSITION.search(str(error))
    line, column = (int(found[1]), int(found[2])) if found else (None, None)
    return _TOML_POSITION.sub("", str(error)).strip(), line, column


def find_root(start: Path) -> Path:
    """Walk up from start to the directory whose pyproject.toml declares the workspace."""
    return find_workspace(start)[0]


def find_workspace(start: Path) -> tuple[Path, tuple[str, dict[str, Any]]]:
    """The workspace root above start and its pyproject.toml's text, parsed (once:
    load_workspace takes it)."""
    start = start.resolve()
    for directory in (start, *start.parents):
        candidate = directory / "pyproject.toml"
        if candidate.is_file():
            text, data = read_toml_text(candidate)
            if "workspace" in _uv_table(data):
                return directory, (text, data)
    raise WorkspaceNotFound(
        f"no uv workspace found in {start} or any parent directory "
        "(looked for a pyproject.toml with [tool.uv.workspace])",
        fix="run ws inside a uv workspace, or pass --root PATH",
    )


def load_workspace(root: Path, read: tuple[str, dict[str, Any]] | None = None) -> Workspace:
    """Read the workspace at root as uv would: members, exclusions, sources. read: the root
    pyproject.toml's text and data, when the caller has read it already."""
    root = root.resolve()
    pyproject = root / "pyproject.toml"
    text, data = read_toml_text(pyproject) if read is None else read
    definition = _uv_table(data).get("workspace")
    if not isinstance(definition, dict):
        raise ConfigError(
            pyproject,
            "no [tool.uv.workspace] table",
            fix='add [tool.uv.workspace] with members = ["packages/*"]',
        )
    paths, warnings = _member_dirs(root, pyproject, definition)
    if "project" in data:
        paths.insert(0, root)
    root_sources = _sources(data, pyproject)
    members = _read_members(root, paths, root_sources, (text, data))
    lock = RootLock(root)
    if any(m.dynamic_edges or m.version is None for m in members.values()):
        found = lock.read()  # a dynamic member only
        if found is not None:
            members = with_lock_view(members, lock.parse(found))
        warnings += [
            f"{m.pyproject}: its dependencies are dynamic and {lock.path} does not exist, so "
            "ws cannot see its workspace edges (run `ws sync-locks` to let uv lock them)"
            for m in members.values()
            if m.dynamic_edges and found is None
        ]
    _check_edges(members)
    ordered = dict(sorted(members.items()))
    return Workspace(root, pyproject, ordered, data, text, lock, tuple(warnings))


def _uv_table(data: dict[str, Any]) -> dict[str, Any]:
    tool = data.get("tool", {})
    uv = tool.get("uv", {}) if isinstance(tool, dict) else {}
    return uv if isinstance(uv, dict) else {}


def _string_list(value: Any, path: Path, key: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(path, f"`{key}` must be a list of strings", fix=f'{key} = ["packages/*"]')
    return value


def _member_dirs(
    root: Path, pyproject: Path, definition: dict[str, Any]
) -> tuple[list[Path], list[str]]:
    """Expand the members globs minus the exclude globs, as uv does."""
    includes = _string_list(definition.get("members"), pyproject, "tool.uv.workspace.members")
    excludes = _string_list(definition.get("exclude"), pyproject, "tool.uv.workspace.exclude")
    excludes = [_normal_glob(pattern) for pattern in excludes]
    found: list[Path] = []
    seen: set[Path] = set()
    warnings: list[str] = []
    for pattern in includes:
        matches = sorted(_glob(root, pattern, pyproject))
        if not matches:
            warnings.append(
                f"{pyproject}: members glob {pattern!r} matches nothing "
                "(uv accepts it; check for a typo)"
            )
        for path in matches:
            _check_inside(root, path, pattern, pyproject)
            rel = path.relative_to(root).as_posix()
            if path not in seen and not _excluded(rel, excludes) and path.is_dir():
                seen.add(path)
                if _keep_member_dir(path, pyproject, pattern):
                    found.append(path)
    return found, warnings


def _glob(root: Path, pattern: str, pyproject: Path) -> list[Path]:
    if Path(pattern).is_absolute():
        raise ConfigError(
            pyproject,
            f"members glob {pattern!r} is an absolute path",
            fix="write member paths relative to the workspace root",
        )
    if any(part == ".." for part in PurePosixPath(pattern).parts):
        raise ConfigError(
            pyproject,
            f"members glob {pattern!r} reaches outside the workspace root",
            fix="move the member under the workspace root",
        )
    return [Path(str(p)) for p in root.glob(_normal_glob(pattern))]


def _normal_glob(pattern: str) -> str:
    """uv matches globs against normalised paths: `./libs/x` and `libs/x/` mean `libs/x`."""
    parts = [p for p in PurePosixPath(pattern).parts if p != "."]
    return "/".join(parts) or "."


def _check_inside(root: Path, path: Path, pattern: str, pyproject: Path) -> None:
    try:
        real = path.resolve()
    except (RuntimeError, OSError) as e:  # a link loop
        raise ConfigError(
            pyproject,
            f"member {path.relative_to(root).as_posix()} (from glob {pattern!r}) cannot be "
            f"resolved: {e}",
            fix="remove the symbolic link loop",
        ) from e
    if real != root and root not in real.parents:
        raise ConfigError(
            pyproject,
            f"member {path.relative_to(root).as_posix()} (from glob {pattern!r}) is a "
            f"symlink to {real}, outside the workspace root",
            fix="move the member under the workspace root instead of linking to it",
        )


def _excluded(rel: str, excludes: list[str]) -> bool:
    return any(fnmatch.fnmatchcase(rel, pattern.rstrip("/")) for pattern in excludes)


def _keep_member_dir(path: Path, pyproject: Path, pattern: str) -> bool:
    """A matched folder without pyproject.toml is an error, unless uv skips it too: hidden,
    or holding only files git ignores (a `__pycache__` left behind)."""
    if (path / "pyproject.toml").is_file():
        return True
    if path.name.startswith(".") or only_ignored_files(path):
        return False
    raise ConfigError(
        path / "pyproject.toml",
        f"workspace member folder (matched by {pattern!r} in {pyproject}) has no pyproject.toml",
        fix=f"add a pyproject.toml there, or list the folder under "
        f"[tool.uv.workspace] exclude in {pyproject}",
    )


def _sources(data: dict[str, Any], path: Path) -> dict[str, Any]:
    sources = _uv_table(data).get("sources", {})
    if not isinstance(sources, dict):
        raise ConfigError(
            path, "[tool.uv.sources] must be a table", fix="pkg = { workspace = true }"
        )
    return {canonicalize_name(k): v for k, v in sources.items()}


def is_workspace_source(source: Any) -> bool:
    entries = source if isinstance(source, list) else [source]
    return any(isinstance(e, dict) and e.get("workspace") is True for e in entries)


def _read_members(
    root: Path,
    paths: list[Path],
    root_sources: dict[str, Any],
    root_read: tuple[str, dict[str, Any]],
) -> dict[str, Member]:
    """The members at paths (root_read: the root pyproject, read already: a root project's)."""
    members: dict[str, Member] = {}
    for path in paths:
        read = root_read if path == root else read_toml_text(path / "pyproject.toml")
        member = _read_member(root, path, root_sources, read)
        if member is None:
            continue
        if member.name in members:
            other = members[member.name]
            raise ConfigError(
                member.pyproject,
                f"two workspace members are named {member.name!r}: {other.rel} and {member.rel}",
                fix="rename one of them ([project] name)",
            )
        members[member.name] = member
    return members


def _read_member(
    root: Path, path: Path, root_sources: dict[str, Any], read: tuple[str, dict[str, Any]]
) -> Member | None:
    """The member at path (read: its pyproject's text and data); None for a project uv does
    not manage (`managed = false`)."""
    pyproject = path / "pyproject.toml"
    text, data = read
    if _uv_table(data).get("managed", True) is False:
        return None
    project, name = _project(data, pyproject)
    version = project.get("version")
    dynamic = project.get("dynamic") or []
    if not isinstance(dynamic, list) or not all(isinstance(d, str) for d in dynamic):
        raise ConfigError(
            pyproject,
            "[project] dynamic must be a list of field names",
            fix='dynamic = ["version"]',
        )
    if version is not None and not isinstance(version, str):
        raise ConfigError(pyproject, "[project] version must be a string", fix='version = "0.1.0"')
    sources = {**root_sources, **_sources(data, pyproject)}
    # as uv reads it: `tool.uv.package` when set, else built only with a [build-system]
    setting = _uv_table(data).get("package")
    package = setting if isinstance(setting, bool) else isinstance(data.get("build-system"), dict)
    return Member(
        name=name,
        path=path,
        rel=PurePosixPath(path.relative_to(root).as_posix()),
        version=version,
        package=package,
        dependencies=_workspace_edges(data, sources, pyproject, name),
        pyproject=pyproject,
        data=data,
        dynamic=tuple(dynamic),
        text=text,
    )


def _project(data: dict[str, Any], pyproject: Path) -> tuple[dict[str, Any], str]:
    """The member's [project] table and normalised name; a name uv refuses is refused here
    too (names reach CI matrices and command lines)."""
    project = data.get("project")
    if not isinstance(project, dict) or not isinstance(project.get("name"), str):
        raise ConfigError(
            pyproject,
            "workspace member has no [project] name",
            fix='add [project] with name = "..." (uv requires it of every member)',
        )
    name = project["name"]
    if not _VALID_NAME.fullmatch(name):
        raise ConfigError(
            pyproject,
            f"[project] name {name!r} is not a valid package name (uv refuses it)",
            fix="use ASCII letters, digits, '-', '_' and '.', starting and ending with a "
            "letter or digit",
        )
    return project, canonicalize_name(name)


def _requirement_lists(data: dict[str, Any]) -> list[tuple[EdgeKind, str | None, str, Any]]:
    project = data.get("project", {})
    lists: list[tuple[EdgeKind, str | None, str, Any]] = [
        ("runtime", None, "project.dependencies", project.get("dependencies", []))
    ]
    for extra, reqs in (project.get("optional-dependencies") or {}).items():
        lists.append(("extra", extra, f"project.optional-dependencies.{extra}", reqs))
    for group, reqs in (data.get("dependency-groups") or {}).items():
        lists.append(("group", group, f"dependency-groups.{group}", reqs))
    legacy = _uv_table(data).get("dev-dependencies")
    if legacy is not None:  # uv still reads them as the `dev` group
        lists.append(("group", "dev", "tool.uv.dev-dependencies", legacy))
    return lists


def _workspace_edges(
    data: dict[str, Any], sources: dict[str, Any], pyproject: Path, own: str
) -> tuple[Dependency, ...]:
    """Requirements on members: a `{ workspace = true }` source, or the project itself (a
    group installing it with an extra, which uv records as an edge to itself)."""
    edges: list[Dependency] = []
    for kind, group, key, reqs in _requirement_lists(data):
        if not isinstance(reqs, list):
            raise ConfigError(pyproject, f"`{key}` must be a list", fix=f'{key} = ["pkg>=1"]')
        for text in reqs:
            if not isinstance(text, str):
                continue  # {include-group = "..."} entries of dependency groups
            name, extras = _requirement_name(text, pyproject, key)
            edge = Dependency(name, kind, group, extras)
            local = name == own or is_workspace_source(sources.get(name))
            if local and edge not in edges:
                edges.append(edge)
    return tuple(edges)


def requirement_names(member: Member) -> frozenset[str]:
    """Every package member's pyproject requires: dependencies, extras and groups."""
    return frozenset(
        _requirement_name(text, member.pyproject, key)[0]
        for _, _, key, reqs in _requirement_lists(member.data)
        for text in reqs
        if isinstance(text, str)
    )


def _requirement_name(text: str, pyproject: Path, key: str) -> tuple[str, tuple[str, ...]]:
    """The requirement's name and the extras it asks for, normalised as uv writes them."""
    try:
        req = Requirement(text)
        return canonicalize_name(req.name), tuple(sorted(canonicalize_name(e) for e in req.extras))
    except InvalidRequirement as e:
        raise ConfigError(
            pyproject,
            f"`{key}` holds an invalid requirement {text!r}: {e}",
            fix="write a PEP 508 requirement such as 'requests>=2'",
        ) from e


def _check_edges(members: dict[str, Member]) -> None:
    """A requirement with a `{ workspace = true }` source must name a member, as uv says; a
    source nothing uses is no error (uv ignores it)."""
    for member in members.values():
        for dep in member.dependencies:
            if dep.name not in members:
                raise ConfigError(
                    member.pyproject,
                    f"{dep.name} is a dependency with a {{ workspace = true }} source, "
                    f"but no workspace member is named {dep.name!r}",
                    fix=f"add {dep.name} to [tool.uv.workspace] members, or give it another source",
                )


def with_lock_view(members: dict[str, Member], lock: Lock) -> dict[str, Member]:
    """Members whose edges or version a build backend computes, as uv's lock records them."""
    out = dict(members)
    for name, member in members.items():
        entry = lock.member(name)
        if entry is None or not (member.dynamic_edges or member.version is None):
            continue
        edges = _lock_edges(entry, set(lock.members)) if member.dynamic_edges else None
        out[name] = replace(
            member,
            version=member.version or entry.version,
            dependencies=member.dependencies if edges is None else edges,
        )
    return out


def _lock_edges(entry: Entry, members: set[str]) -> tuple[Dependency, ...]:
    lists: list[tuple[EdgeKind, str | None, tuple[Ref, ...]]] = [
        ("runtime", None, entry.dependencies),
        *(("extra", x, refs) for x, refs in entry.extras.items()),
        *(("group", g, refs) for g, refs in entry.groups.items()),
    ]
    edges: list[Dependency] = []
    for kind, group, refs in lists:
        for ref in refs:
            edge = Dependency(ref.name, kind, group, tuple(sorted(ref.extras)))
            if ref.name in members and edge not in edges:
                edges.append(edge)
    return tuple(edges)

"""`ws check imports`: every import in a member's own code resolves to a distribution in
its install set, as its exact environment holds it; an import that does not is reported
with the distribution that provides it and the `uv add` that declares it.

The rules (README.md, `ws check imports`, says them for users):
- Package sources (what the build backend ships, ws.checks.sources) must resolve to the
  member's runtime install set: what its member lock installs without dependency groups,
  with its extras (what an image installs with `--no-dev`, extras being declarations too).
- Its other files (tests, conftest.py, scripts) and the imports of its sources under
  `if TYPE_CHECKING:` resolve to what its exact environment holds: that and its own
  dependency groups (ws.run.envs).
- Imports inside a `try` whose `except` catches ImportError are optional: not checked.
- Not checked either: relative imports, `__future__`, the standard library
  (sys.stdlib_module_names of the Python ws runs on), the member's own packages, and for
  other files the modules beside them (a test's helpers, pytest's rootdir).
- A module maps to distributions through the installed metadata of the exact environments
  (ws.checks.distributions) and the members' own folders; a module found in none of them
  resolves when a distribution of the set has its name (`-` for `_`), as deptry does.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from packaging.utils import canonicalize_name

from ws.checks.distributions import ModuleMap, read_environment
from ws.checks.sources import Context, Import, Layout, file_imports, member_layout
from ws.errors import LockError, WsError
from ws.run.envs import env_path
from ws.workspace.lockfile import RELOCK_FIX, Lock
from ws.workspace.member_lock import reach
from ws.workspace.members import Workspace, requirement_names

# A member name -> the folder of its exact environment, made if need be.
Environments = Callable[[str], Path]


@dataclass(frozen=True)
class Finding:
    """An import that does not resolve to the member's install set, and its fix."""

    member: str
    path: Path
    line: int
    module: str
    source: bool  # in the package's sources (else a test, a script)
    context: Context
    distribution: str | None  # what provides it (None: nothing the workspace knows)
    declared_by: tuple[str, ...]  # the members whose pyproject requires distribution
    in_groups: bool  # the member installs distribution, but only with its groups
    sibling: bool  # distribution is a workspace member
    fix: str


@dataclass(frozen=True)
class Unreadable:
    """A file that is not read as Python (skipped): where, and why."""

    path: Path
    line: int | None
    why: str


@dataclass(frozen=True)
class MemberImports:
    member: str
    files: int
    findings: tuple[Finding, ...]
    unreadable: tuple[Unreadable, ...]
    notes: tuple[str, ...] = ()  # a sibling's environment that could not be read


@dataclass
class _Sets:
    """A member's install sets: runtime (no groups) and whole (with its groups)."""

    runtime: frozenset[str]
    whole: frozenset[str]
    whole_locked: frozenset[str]  # what its member lock installs with its groups


@dataclass
class _Knowledge:
    """What maps modules to distributions, grown as environments are read."""

    modules: ModuleMap
    installed: dict[str, frozenset[str]] = field(default_factory=dict)  # member -> its env's

    def read_member(self, name: str, environments: Environments) -> None:
        if name not in self.installed:
            self.installed[name] = read_environment(environments(name), self.modules)


def install_sets(lock: Lock, name: str, installed: frozenset[str]) -> _Sets:
    """runtime: what the member lock installs without groups (its image); whole: that and
    what its exact environment holds (its own groups)."""
    target = lock.member(name)
    if target is None:
        raise LockError(f"{lock.path}: has no entry for workspace member {name}", fix=RELOCK_FIX)
    runtime = frozenset(lock.entries[i].name for i in reach(lock, target, groups=False))
    locked = frozenset(lock.entries[i].name for i in reach(lock, target))
    return _Sets(runtime, runtime | installed, locked)


def layouts(ws: Workspace) -> dict[str, Layout]:
    """Every member's layout; a member's folder leaves out the members nested in it."""
    folders = {m.path for m in ws.members.values()}
    return {
        name: member_layout(m.path, m.data, frozenset(f for f in folders if m.path in f.parents))
        for name, m in ws.members.items()
    }


def check_imports(
    ws: Workspace, lock: Lock, names: Iterable[str], environments: Environments
) -> list[MemberImports]:
    """The imports of each named member that its install set does not provide. Reads the
    named members' environments, and the others' only to name what provides an import
    found in none."""
    found = layouts(ws)
    known = _Knowledge(_member_modules(found))
    reports = []
    for name in names:
        known.read_member(name, environments)
        reports.append(_check_member(ws, lock, name, found[name], known))
    if any(f.distribution is None for r in reports for f in r.findings):
        notes = [_read_sibling(known, other, environments) for other in ws.members]
        reports = [_check_member(ws, lock, r.member, found[r.member], known) for r in reports]
        reports = [replace(r, notes=tuple(n for n in notes if n)) for r in reports]
    return reports


def _read_sibling(known: _Knowledge, name: str, environments: Environments) -> str | None:
    """Read a sibling's environment to name what provides an import; one that cannot be
    made (offline, its packages not in uv's cache) only leaves that name unknown."""
    try:
        known.read_member(name, environments)
    except WsError as e:
        why = e.message.splitlines()[0]
        return f"{name}'s environment was not read (so no fix names what it provides): {why}"
    return None


def _member_modules(found: Mapping[str, Layout]) -> ModuleMap:
    modules = ModuleMap()
    for name, layout in found.items():
        modules.add(name, layout.modules)
    return modules


def _check_member(
    ws: Workspace, lock: Lock, name: str, layout: Layout, known: _Knowledge
) -> MemberImports:
    sets = install_sets(lock, name, known.installed[name])
    member = ws.members[name]
    judge = _Judge(name, member.path, layout, sets, known.modules, _declarations(ws, lock))
    findings: list[Finding] = []
    unreadable: list[Unreadable] = []
    sources = set(layout.sources)
    for path in (*layout.sources, *layout.others):
        try:
            imports = file_imports(path)
        except (SyntaxError, ValueError, OSError, RecursionError) as e:
            unreadable.append(_unreadable(path, e))
            continue
        for imp in imports:
            finding = judge.finding(imp, source=path in sources)
            if finding is not None and finding not in findings:
                findings.append(finding)
    count = len(layout.sources) + len(layout.others)
    return MemberImports(name, count, tuple(findings), tuple(unreadable))


def _unreadable(path: Path, error: Exception) -> Unreadable:
    if isinstance(error, RecursionError):
        return Unreadable(path, None, "nested too deeply to read")
    why = getattr(error, "msg", None) or getattr(error, "strerror", None) or str(error)
    return Unreadable(path, getattr(error, "lineno", None), why)


@dataclass(frozen=True)
class _Declarations:
    """Who requires what: each member's own requirements, and the root lock's names."""

    requires: Mapping[str, frozenset[str]]
    locked: frozenset[str]

    def declared_by(self, distribution: str) -> tuple[str, ...]:
        return tuple(sorted(m for m, req in self.requires.items() if distribution in req))


def _declarations(ws: Workspace, lock: Lock) -> _Declarations:
    key = ("imports", "declarations")
    if key not in lock.memo:
        requires = {n: requirement_names(m) for n, m in ws.members.items()}
        lock.memo[key] = _Declarations(requires, frozenset(e.name for e in lock.entries))
    return lock.memo[key]


@dataclass
class _Judge:
    """Decides each import of one member."""

    member: str
    folder: Path
    layout: Layout
    sets: _Sets
    modules: ModuleMap
    declarations: _Declarations
    beside: dict[Path, frozenset[str]] = field(default_factory=dict)

    def finding(self, imp: Import, *, source: bool) -> Finding | None:
        top = imp.module.split(".")[0]
        if imp.context is Context.guarded or self._exempt(top, imp.path, source=source):
            return None
        runtime = source and imp.context is Context.runtime
        allowed = self.sets.runtime if runtime else self.sets.whole
        providers = self.modules.lookup(imp.dotted)
        if providers & allowed or (not providers and canonicalize_name(top) in allowed):
            return None
        return self._finding(imp, source, runtime, providers or self._by_name(top))

    def _exempt(self, top: str, path: Path, *, source: bool) -> bool:
        if top in sys.stdlib_module_names or top in self.layout.top_names:
            return True
        return not source and top in self._beside(path)

    def _beside(self, path: Path) -> frozenset[str]:
        """The modules a test or script finds next to it: in its folder and each folder up
        to the member's (pytest's rootdir and basedir insertion)."""
        names: set[str] = set()
        folder = path.parent
        while True:
            if folder not in self.beside:
                self.beside[folder] = _names_in(folder)
            names |= self.beside[folder]
            if folder == self.folder or self.folder not in folder.parents:
                return frozenset(names)
            folder = folder.parent

    def _by_name(self, top: str) -> frozenset[str]:
        """A module nothing installed provides: the locked distribution of its name."""
        name = canonicalize_name(top)
        return frozenset({name}) if name in self.declarations.locked else frozenset()

    def _finding(
        self, imp: Import, source: bool, runtime: bool, providers: frozenset[str]
    ) -> Finding:
        locked = sorted(providers & self.declarations.locked) or sorted(providers)
        dist = locked[0] if locked else None
        return Finding(
            member=self.member,
            path=imp.path,
            line=imp.line,
            module=imp.module,
            source=source,
            context=imp.context,
            distribution=dist,
            declared_by=self.declarations.declared_by(dist) if dist else (),
            in_groups=dist is not None and dist in self.sets.whole,
            sibling=dist in self.declarations.requires,
            fix=add_command(self.member, dist, dev=not runtime),
        )


def _names_in(folder: Path) -> frozenset[str]:
    try:
        entries = list(folder.iterdir())
    except OSError:
        return frozenset()
    return frozenset(
        e.name[:-3] if e.name.endswith(".py") else e.name
        for e in entries
        if e.name.endswith(".py") or (e.is_dir() and e.name.isidentifier())
    )


def add_command(member: str, distribution: str | None, *, dev: bool) -> str:
    """The uv command that declares distribution for member (its dev group: dev)."""
    what = distribution or "<the distribution that provides it>"
    return f"uv add --package {member}{' --dev' if dev else ''} {what}"


_MISSING = re.compile(r"ModuleNotFoundError: No module named '([^']+)'")


def missing_module_hint(
    output: str,
    ws: Workspace,
    lock: Lock,
    member: str,
    environments: Iterable[Path] | None = None,
) -> str | None:
    """For a task that failed on `ModuleNotFoundError: No module named 'x'`: one line naming
    what provides x (a sibling member, or a distribution and who declares it) and the
    `uv add` that declares it for member; None when output shows no such error, or when
    member installs what provides x already (a missing submodule is no declaration's fault).
    environments: the environments whose metadata is read (default: every exact environment
    made already); none is made."""
    found = _MISSING.search(output)
    if found is None:
        return None
    module = found[1]
    providers = _providers(ws, lock, module, environments)
    if providers & install_sets(lock, member, frozenset()).whole_locked:
        return None
    declarations = _declarations(ws, lock)
    ranked = sorted(providers & declarations.locked) or sorted(providers)
    if not ranked:
        fix = add_command(member, None, dev=False)
        return f"{member} imports `{module}`, which nothing the workspace locks provides: `{fix}`"
    return _hint_line(member, module, ranked[0], declarations, set(lock.members))


def _providers(
    ws: Workspace, lock: Lock, module: str, environments: Iterable[Path] | None
) -> frozenset[str]:
    """What provides module, from the members' folders and the environments' metadata (else
    the locked distribution of its name)."""
    modules = _member_modules(layouts(ws))
    if environments is None:
        environments = [env_path(ws, m) for m in ws.members if env_path(ws, m).is_dir()]
    for environment in environments:
        read_environment(environment, modules)
    providers = modules.lookup(module)
    name = canonicalize_name(module.split(".")[0])
    if not providers and name in _declarations(ws, lock).locked:
        return frozenset({name})
    return providers


def _hint_line(
    member: str, module: str, dist: str, declarations: _Declarations, members: set[str]
) -> str:
    fix = f"`{add_command(member, dist, dev=False)}` (with --dev if only its tests need it)"
    if dist in members:
        return (
            f"{member} imports `{module}` from its sibling {dist}, "
            f"which it does not depend on: {fix}"
        )
    who = declarations.declared_by(dist)
    declared = f" (declared by {', '.join(who)})" if who else ""
    return (
        f"{member} imports `{module}`, which {dist}{declared} provides "
        f"and {member} does not install: {fix}"
    )

"""A member's own code: which files are its package sources and which are its other files
(tests, scripts), and the imports each file makes, with the context that decides how they
are checked.

Package sources are what the build backend ships: the packages under the member's import
root (uv_build's `module-root`, default `src`; else `src/` when it exists; else the member's
folder, a flat layout, without the folders `tests`, `test`, `docs`, `examples`, `scripts`
and `benchmarks`). For uv_build with `module-name`, exactly that package. Every other `.py`
file under the member's folder is another file: tests, conftest.py, scripts. Folders that
hold another member, a virtual environment (`pyvenv.cfg`), or that start with a dot are
nobody's code here.
"""

from __future__ import annotations

import ast
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from ws.checks.distributions import SKIPPED_FOLDERS, folder_modules

# Folders of a flat layout that a build backend's package discovery leaves out.
_NOT_SHIPPED = frozenset({"tests", "test", "docs", "examples", "scripts", "benchmarks"})
# Modules of a flat layout's folder that are tools' files, never the package.
_NOT_SHIPPED_MODULES = frozenset({"setup", "conftest", "noxfile", "tasks", "fabfile"})
# What an `except` catches when it stands for "this import may be missing".
_IMPORT_ERRORS = frozenset({"ImportError", "ModuleNotFoundError", "Exception", "BaseException"})


class Context(StrEnum):
    """How an import runs: always, only under a type checker, or guarded by an except."""

    runtime = "runtime"
    type_checking = "type-checking"
    guarded = "guarded"


@dataclass(frozen=True)
class Import:
    """One absolute import: `module` as written, `dotted` what to look up (the module, or
    `module.name` for `from module import name`: a subpackage of a namespace package)."""

    path: Path
    line: int
    module: str
    dotted: str
    context: Context


@dataclass(frozen=True)
class Layout:
    """A member's code: its import root, its own top-level names and dotted modules, and
    its files split into package sources and others."""

    import_root: Path
    modules: frozenset[str]  # the dotted names its package sources define
    sources: tuple[Path, ...]
    others: tuple[Path, ...]

    @property
    def top_names(self) -> frozenset[str]:
        return frozenset(m.split(".")[0] for m in self.modules)


def member_layout(folder: Path, pyproject: Mapping[str, Any], skip: frozenset[Path]) -> Layout:
    """The layout of the member at folder (skip: the folders of the members nested in it)."""
    files = sorted(python_files(folder, skip))
    root, packages = _shipped(folder, pyproject, skip)
    shipped = [root / p for p in packages]
    sources = tuple(f for f in files if any(_under(f, p) for p in shipped))
    others = tuple(f for f in files if f not in set(sources))
    modules: set[str] = set()
    for package in packages:
        if (root / package).is_dir():
            modules |= {f"{package}.{m}" for m in folder_modules(root / package, skip)}
            modules.add(package)
        elif (root / f"{package}.py").is_file():
            modules.add(package)
    return Layout(root, frozenset(modules), sources, others)


def _under(path: Path, package: Path) -> bool:
    return path == package.with_suffix(".py") or package in path.parents


def _shipped(
    folder: Path, pyproject: Mapping[str, Any], skip: frozenset[Path]
) -> tuple[Path, list[str]]:
    """The import root and the top-level packages the build backend ships from it."""
    backend = pyproject.get("build-system", {}).get("build-backend")
    settings = pyproject.get("tool", {}).get("uv", {}).get("build-backend", {})
    if backend == "uv_build":
        root = folder / str(settings.get("module-root", "src"))
        name = settings.get("module-name")
        if isinstance(name, str):
            return root, [name.split(".")[0]]
    else:
        root = folder / "src" if (folder / "src").is_dir() else folder
    return root, _top_packages(root, skip, flat=root == folder)


def _top_packages(root: Path, skip: frozenset[Path], *, flat: bool) -> list[str]:
    """The packages and modules at an import root; a flat layout's without tool folders."""
    found = []
    for entry in sorted(root.iterdir()) if root.is_dir() else []:
        name = entry.name[:-3] if entry.name.endswith(".py") else entry.name
        if not name.isidentifier() or name in SKIPPED_FOLDERS or entry in skip:
            continue
        if flat and (name in _NOT_SHIPPED or name in _NOT_SHIPPED_MODULES):
            continue
        if entry.is_dir() and (entry / "__init__.py").is_file() or entry.suffix == ".py":
            found.append(name)
        elif entry.is_dir() and not flat and any(entry.rglob("*.py")):
            found.append(name)  # a namespace package under src/
    return found


def python_files(folder: Path, skip: frozenset[Path]) -> Iterator[Path]:
    """Every `.py` file under folder but in hidden folders, caches, environments and skip."""
    for here, dirs, files in os.walk(folder):
        base = Path(here)
        dirs[:] = [
            d
            for d in sorted(dirs)
            if not d.startswith(".")
            and d not in SKIPPED_FOLDERS
            and not d.endswith(".egg-info")
            and base / d not in skip
            and not (base / d / "pyvenv.cfg").exists()
        ]
        yield from (base / f for f in sorted(files) if f.endswith(".py"))


def file_imports(path: Path) -> list[Import]:
    """The absolute imports of one file, with their context (raises SyntaxError)."""
    tree = ast.parse(path.read_bytes(), filename=str(path))
    found: list[Import] = []
    _visit(tree.body, path, Context.runtime, found)
    return found


def _visit(body: list[ast.stmt], path: Path, context: Context, found: list[Import]) -> None:
    for node in body:
        if isinstance(node, ast.Import):
            found += [Import(path, node.lineno, a.name, a.name, context) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            found += _from_imports(node, path, context)
        elif isinstance(node, ast.If) and _is_type_checking(node.test):
            _visit(node.body, path, Context.type_checking, found)
            _visit(node.orelse, path, context, found)
        elif isinstance(node, ast.Try | ast.TryStar) and _guards_imports(node):
            _visit(node.body, path, _weaker(context, Context.guarded), found)
            for rest in (*(h.body for h in node.handlers), node.orelse, node.finalbody):
                _visit(rest, path, context, found)
        else:
            for child in _bodies(node):
                _visit(child, path, context, found)


def _from_imports(node: ast.ImportFrom, path: Path, context: Context) -> list[Import]:
    if node.level or node.module is None or node.module == "__future__":
        return []  # relative imports are the package's own
    return [
        Import(path, node.lineno, node.module, f"{node.module}.{a.name}", context)
        for a in node.names
        if a.name != "*"
    ] or [Import(path, node.lineno, node.module, node.module, context)]


def _weaker(context: Context, other: Context) -> Context:
    """Inside both a TYPE_CHECKING block and a guard, the type checker's rule wins."""
    return context if context is not Context.runtime else other


def _is_type_checking(test: ast.expr) -> bool:
    """`if TYPE_CHECKING:` and `if typing.TYPE_CHECKING:` (any module's attribute)."""
    if isinstance(test, ast.Name):
        return test.id == "TYPE_CHECKING"
    return isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"


def _guards_imports(node: ast.Try | ast.TryStar) -> bool:
    """A try whose handlers catch ImportError (or wider, or everything)."""
    for handler in node.handlers:
        caught = handler.type
        names = caught.elts if isinstance(caught, ast.Tuple) else [caught]
        for name in names:
            if name is None or (isinstance(name, ast.Name) and name.id in _IMPORT_ERRORS):
                return True
    return False


def _bodies(node: ast.stmt) -> Iterator[list[ast.stmt]]:
    """The statement lists inside a compound statement (functions, classes, with, loops)."""
    for attr in ("body", "orelse", "finalbody", "handlers", "cases"):
        value = getattr(node, attr, None)
        if not isinstance(value, list):
            continue
        if attr in ("handlers", "cases"):
            yield from (item.body for item in value)
        elif value and isinstance(value[0], ast.stmt):
            yield value

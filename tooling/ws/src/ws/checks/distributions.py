"""Which distribution provides a module: read from the installed metadata of environments
(RECORD, else top_level.txt) and from the workspace members' own source folders.

This is importlib.metadata's packages_distributions (what deptry reads too), with three
differences: it reads the site-packages of environments ws made, not the running
interpreter's; a `.pth` file a distribution installs that names a folder (an editable
install) maps the modules in that folder to it; and it keys dotted package names too, so
that a namespace package (`google`, shared by many distributions) resolves by its deepest
known part (`google.protobuf` -> protobuf).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path, PurePosixPath

from packaging.utils import canonicalize_name

# A compiled module's file name: `name.cpython-311-x86_64-linux-gnu.so`, `name.pyd`, ...
_EXTENSIONS = (".so", ".pyd")
# Folders of an import root that no import reaches: caches and environments.
SKIPPED_FOLDERS = frozenset({"__pycache__", "node_modules", "build", "dist", "site-packages"})


@dataclass
class ModuleMap:
    """Dotted module or package name -> the distributions (canonical names) providing it."""

    providers: dict[str, set[str]] = field(default_factory=dict)

    def add(self, distribution: str, modules: Iterable[str]) -> None:
        for module in modules:
            self.providers.setdefault(module, set()).add(distribution)

    def lookup(self, dotted: str) -> frozenset[str]:
        """The distributions providing the deepest known part of dotted (none: unknown)."""
        parts = dotted.split(".")
        for end in range(len(parts), 0, -1):
            found = self.providers.get(".".join(parts[:end]))
            if found:
                return frozenset(found)
        return frozenset()


def site_packages(environment: Path) -> list[Path]:
    """The site-packages folders of a virtual environment (POSIX and Windows layouts)."""
    found = sorted(environment.glob("lib/python*/site-packages"))
    return found + [p for p in [environment / "Lib" / "site-packages"] if p.is_dir()]


def read_environment(environment: Path, into: ModuleMap) -> frozenset[str]:
    """Add every distribution installed in environment to into; their names."""
    names: set[str] = set()
    for folder in site_packages(environment):
        for dist in metadata.distributions(path=[str(folder)]):
            name = dist.metadata["Name"]
            if name:
                names.add(canonicalize_name(name))
                into.add(canonicalize_name(name), distribution_modules(dist, folder))
    return frozenset(names)


def distribution_modules(dist: metadata.Distribution, folder: Path) -> set[str]:
    """The dotted names a distribution installs: from RECORD, else top_level.txt."""
    files = dist.files
    if files is None:
        top = dist.read_text("top_level.txt") or ""
        return {line.strip() for line in top.splitlines() if line.strip()}
    modules: set[str] = set()
    for file in files:
        path = PurePosixPath(file.as_posix())
        if path.suffix == ".pth" and len(path.parts) == 1:
            modules |= _pth_modules(folder / path.name, folder)
        else:
            modules |= _dotted_prefixes(path)
    return modules


def _dotted_prefixes(path: PurePosixPath) -> set[str]:
    """`a/b/c.py` -> {a, a.b, a.b.c}; nothing for metadata, scripts or data files."""
    parts = list(path.parts)
    if not parts or parts[0] == ".." or parts[0].endswith((".dist-info", ".data", ".egg-info")):
        return set()
    last = parts[-1]
    if last.endswith((".py", ".pyi")):
        parts[-1] = last.rsplit(".", 1)[0]
    elif last.endswith(_EXTENSIONS):
        parts[-1] = last.split(".", 1)[0]
    else:
        return set()
    if parts[-1] == "__init__":
        parts.pop()
    if not parts or not all(p.isidentifier() for p in parts):
        return set()
    return {".".join(parts[:end]) for end in range(1, len(parts) + 1)}


def _pth_modules(pth: Path, folder: Path) -> set[str]:
    """The modules in the folders a `.pth` file puts on sys.path (an editable install);
    lines that run code (`import ...`) are left alone, as is a folder that is missing."""
    try:
        lines = pth.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return set()
    modules: set[str] = set()
    for line in lines:
        line = line.strip()
        if not line or line.startswith(("#", "import ", "import\t")):
            continue
        root = folder / line
        if root.is_dir():
            modules |= folder_modules(root)
    return modules


def folder_modules(root: Path, skip: Iterable[Path] = ()) -> set[str]:
    """The dotted names importable from an import root: its `.py` files and the packages
    holding them (with or without `__init__.py`), all the way down; skip: folders left out
    (nested members, environments)."""
    skipped = {str(p) for p in skip}
    modules: set[str] = set()
    for folder, dirs, files in os.walk(root):
        dirs[:] = [
            d
            for d in sorted(dirs)
            if d.isidentifier()
            and d not in SKIPPED_FOLDERS
            and os.path.join(folder, d) not in skipped
        ]
        rel = PurePosixPath(Path(folder).relative_to(root).as_posix())
        for name in files:
            if name.endswith(".py"):
                modules |= _dotted_prefixes(rel / name)
    return modules

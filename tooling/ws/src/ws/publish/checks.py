"""The checks every built file passes before anything is uploaded: its metadata valid as
packaging.metadata reads it, and ws's own rules (the name and version match the file name
and the release, no local version, requires-python and a licence present, the README
readable as its content type says, every sibling pinned); `twine check` too when installed."""

from __future__ import annotations

import tarfile
import zipfile
from collections.abc import Mapping
from email.parser import BytesParser
from pathlib import Path

from packaging.metadata import ExceptionGroup, InvalidMetadata, Metadata
from packaging.utils import canonicalize_name
from packaging.version import Version

from ws.errors import CommandFailed, WsError
from ws.proc import run, which
from ws.publish.build import Dists

README_TYPES = ("text/plain", "text/markdown", "text/x-rst")


def read_metadata(path: Path) -> bytes:
    """The METADATA of a wheel, or the PKG-INFO at the top of an sdist."""
    if path.name.endswith(".whl"):
        with zipfile.ZipFile(path) as archive:
            names = [n for n in archive.namelist() if n.count("/") == 1]
            found = [n for n in names if n.endswith(".dist-info/METADATA")]
            return archive.read(found[0]) if len(found) == 1 else b""
    with tarfile.open(path) as archive:
        top = path.name.removesuffix(".tar.gz")
        try:
            member = archive.extractfile(f"{top}/PKG-INFO")
        except KeyError:
            return b""
        return member.read() if member is not None else b""


def check_file(path: Path, name: str, version: str, pins: Mapping[str, str]) -> list[str]:
    """What is wrong with the built file path of name at version (pins: sibling -> the
    specifier its requirement must carry); [] when nothing is."""
    raw = read_metadata(path)
    if not raw:
        return [f"{path.name}: no metadata file (METADATA, PKG-INFO) where installers look"]
    try:
        meta = Metadata.from_email(raw, validate=True)
    except ExceptionGroup as group:
        return [f"{path.name}: {_invalid(e)}" for e in group.exceptions]
    problems = _identity(meta, name, version) + _fields(meta, raw) + _pins(meta, pins)
    return [f"{path.name}: {problem}" for problem in problems]


def _invalid(error: Exception) -> str:
    field = error.field if isinstance(error, InvalidMetadata) else "metadata"
    return f"invalid {field}: {error}"


def _identity(meta: Metadata, name: str, version: str) -> list[str]:
    problems = []
    if canonicalize_name(meta.name) != canonicalize_name(name) or meta.version != Version(version):
        problems.append(f"its metadata says {meta.name} {meta.version}, not {name} {version}")
    if meta.version.local:
        problems.append(f"version {meta.version} has a local part (`+`), which PyPI refuses")
    return problems


def _fields(meta: Metadata, raw: bytes) -> list[str]:
    problems = []
    if meta.requires_python is None:
        problems.append("no Requires-Python: set [project] requires-python")
    classifiers = meta.classifiers or []
    licensed = meta.license_expression or meta.license or meta.license_files
    if not licensed and not any(c.startswith("License ::") for c in classifiers):
        problems.append('no licence: set [project] license (e.g. license = "MIT")')
    return problems + _readme(meta, raw)


def _readme(meta: Metadata, raw: bytes) -> list[str]:
    """The README must be one of the types PyPI renders, and render as its type says (rst is
    rendered with readme_renderer when it is installed; any text is valid Markdown)."""
    kind = (meta.description_content_type or "text/x-rst").split(";")[0].strip().lower()
    if kind not in README_TYPES:
        return [f"README content type {kind!r} is not one PyPI renders ({', '.join(README_TYPES)})"]
    body = BytesParser().parsebytes(raw).get_payload() or meta.description or ""
    if kind != "text/x-rst" or not isinstance(body, str) or not body.strip():
        return []
    try:
        from readme_renderer.rst import render  # type: ignore[import-not-found]  # optional, not a dependency
    except ImportError:
        return []
    if render(body) is None:
        return ["the README is not valid reStructuredText (PyPI would refuse to render it)"]
    return []


def _pins(meta: Metadata, pins: Mapping[str, str]) -> list[str]:
    problems = []
    for req in meta.requires_dist or []:
        want = pins.get(canonicalize_name(req.name))
        if want is not None and str(req.specifier) != want:
            problems.append(f"Requires-Dist {str(req)!r} does not pin {req.name} to {want}")
    return problems


def check_dists(
    dists: Mapping[str, Dists], pins: Mapping[str, str], twine: str | None = None
) -> None:
    """Every file checked; one WsError listing every problem found."""
    problems = [
        problem
        for d in dists.values()
        for path in d.files
        for problem in check_file(path, d.name, d.version, pins)
    ]
    twine = twine or which("twine")
    if twine and not problems:
        problems += _twine(twine, [p for d in dists.values() for p in d.files])
    if problems:
        lines = "\n".join(f"  {p}" for p in problems)
        raise WsError(
            f"the built files fail {len(problems)} check(s); nothing was uploaded:\n{lines}",
            fix="fix the members' pyproject.toml, commit, and run again",
        )


def _twine(twine: str, files: list[Path]) -> list[str]:
    try:
        run([twine, "check", "--strict", *files])
    except CommandFailed as e:
        return [f"twine check: {line}" for line in (e.stdout + e.stderr).strip().splitlines()]
    return []


def expected_pins(versions: Mapping[str, str], operators: Mapping[str, str]) -> dict[str, str]:
    """sibling -> the specifier its dependents' requirements carry."""
    return {name: f"{operators[name]}{v}" for name, v in versions.items()}

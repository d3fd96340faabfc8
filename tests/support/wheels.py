"""Hand-made, installable pure-Python wheels, so tests never need a public index."""

from __future__ import annotations

import base64
import hashlib
import io
import re
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from packaging.version import Version

# A fixed timestamp keeps wheels byte-identical across runs, so their hashes are stable.
_EPOCH = (1980, 1, 1, 0, 0, 0)


def normalize_name(name: str) -> str:
    """The PEP 503 normalised project name (``Foo_Bar.baz`` -> ``foo-bar-baz``)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def module_name(name: str) -> str:
    """The import name and wheel filename component for a project (``foo-bar`` -> ``foo_bar``)."""
    return re.sub(r"[-_.]+", "_", name).lower()


@dataclass(frozen=True)
class Wheel:
    """One built wheel: its identity, its bytes and their sha256."""

    name: str
    version: str
    requires: tuple[str, ...]
    requires_python: str | None
    filename: str
    data: bytes = field(repr=False)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    @property
    def project(self) -> str:
        """The PEP 503 normalised name."""
        return normalize_name(self.name)

    def write(self, directory: Path) -> Path:
        """Write the wheel into directory and return its path."""
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / self.filename
        path.write_bytes(self.data)
        return path


def _record_hash(data: bytes) -> str:
    digest = hashlib.sha256(data).digest()
    return "sha256=" + base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _metadata(
    name: str,
    version: str,
    requires: Iterable[str],
    requires_python: str | None,
    extras: Mapping[str, Iterable[str]],
) -> str:
    lines = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}"]
    if requires_python:
        lines.append(f"Requires-Python: {requires_python}")
    lines += [f"Requires-Dist: {req}" for req in requires]
    for extra, reqs in extras.items():
        lines.append(f"Provides-Extra: {extra}")
        lines += [f"Requires-Dist: {_with_marker(req, extra)}" for req in reqs]
    return "\n".join(lines) + "\n"


def _with_marker(req: str, extra: str) -> str:
    # An extra's requirement carries `extra == "..."`, and-ed with any marker it already has.
    base, _, marker = req.partition(";")
    clause = f'extra == "{extra}"'
    if marker.strip():
        clause = f"({marker.strip()}) and {clause}"
    return f"{base.strip()}; {clause}"


def _wheel_file() -> str:
    return "Wheel-Version: 1.0\nGenerator: ws-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"


def build_wheel(
    name: str,
    version: str,
    requires: Iterable[str] = (),
    *,
    requires_python: str | None = None,
    extras: Mapping[str, Iterable[str]] | None = None,
    files: Mapping[str, str] | None = None,
) -> Wheel:
    """Build a pure-Python wheel in memory.

    It holds one module, ``<module_name(name)>/__init__.py`` with ``__version__ = "<version>"``,
    and METADATA listing ``requires`` as Requires-Dist (``extras`` maps an extra's name to its
    requirements). The version is normalised as PEP 440 says. ``files`` (archive name -> text)
    adds or replaces files, e.g. ``<module>-<version>.data/scripts/<name>`` for a command.
    """
    version = str(Version(version))
    requires = tuple(requires)
    mod = module_name(name)
    dist_info = f"{mod}-{version}.dist-info"
    files = {
        f"{mod}/__init__.py": f'__version__ = "{version}"\n',
        f"{dist_info}/METADATA": _metadata(name, version, requires, requires_python, extras or {}),
        f"{dist_info}/WHEEL": _wheel_file(),
        **(files or {}),
    }
    buffer = io.BytesIO()
    record: list[str] = []
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for arcname, text in files.items():
            data = text.encode("utf-8")
            _add(zf, arcname, data)
            record.append(f"{arcname},{_record_hash(data)},{len(data)}")
        record.append(f"{dist_info}/RECORD,,")
        _add(zf, f"{dist_info}/RECORD", ("\n".join(record) + "\n").encode("utf-8"))
    filename = f"{mod}-{version}-py3-none-any.whl"
    return Wheel(name, version, requires, requires_python, filename, buffer.getvalue())


def _add(zf: zipfile.ZipFile, arcname: str, data: bytes) -> None:
    info = zipfile.ZipInfo(arcname, date_time=_EPOCH)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    zf.writestr(info, data)


def write_wheel(
    directory: Path,
    name: str,
    version: str,
    requires: Iterable[str] = (),
    *,
    requires_python: str | None = None,
    extras: Mapping[str, Iterable[str]] | None = None,
) -> Path:
    """Build a wheel (see build_wheel) and write it into directory; return its path."""
    wheel = build_wheel(name, version, requires, requires_python=requires_python, extras=extras)
    return wheel.write(directory)

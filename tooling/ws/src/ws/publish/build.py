"""Building each planned member from the staged copy: one sdist and one wheel (built from
that sdist), with timestamps fixed to HEAD's commit time so that a rebuild of the same commit
gives the same bytes (how a re-run recognises what it uploaded before)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from packaging.utils import canonicalize_name, parse_sdist_filename, parse_wheel_filename
from packaging.version import Version

from ws.errors import CommandFailed, WsError
from ws.proc import Running, start
from ws.uv import build_dists_argv, first_error
from ws.workspace.members import Member

PARALLEL = 4  # builds at once: each is mostly a backend process waiting on files


@dataclass(frozen=True)
class Dists:
    """A member's built files: its sdist and its wheel."""

    name: str
    version: str
    sdist: Path
    wheel: Path

    @property
    def files(self) -> tuple[Path, Path]:
        return (self.wheel, self.sdist)


def build_all(
    uv: str,
    copy: Path,
    members: tuple[Member, ...],
    versions: Mapping[str, str],
    out: Path,
    env: Mapping[str, str],
    python: str,
) -> dict[str, Dists]:
    """Every member's Dists, built PARALLEL at a time; the first failure raised."""
    running: dict[str, Running] = {}
    built: dict[str, Dists] = {}
    try:
        for member in members:
            if len(running) >= PARALLEL:
                name, job = next(iter(running.items()))
                built[name] = _finish(name, job, versions[name], out / name)
                del running[name]
            argv = build_dists_argv(uv, copy / member.rel, out / member.name, python)
            running[member.name] = start(argv, cwd=copy, env=env)
        for name, job in list(running.items()):
            built[name] = _finish(name, job, versions[name], out / name)
            del running[name]
    finally:
        for job in running.values():
            job.stop()
    return built


def _finish(name: str, job: Running, version: str, out: Path) -> Dists:
    try:
        job.wait()
    except CommandFailed as e:
        raise WsError(
            f"building {name} {version} failed:\n{first_error(e.stderr)}",
            fix=f"run `uv build --no-sources` in {name}'s folder and fix what it reports",
        ) from e
    return find_dists(name, version, out)


def find_dists(name: str, version: str, out: Path) -> Dists:
    """The one sdist and one wheel of name at version in out."""
    wheels = [p for p in out.glob("*.whl") if _wheel_is(p, name, version)]
    sdists = [p for p in out.glob("*.tar.gz") if _sdist_is(p, name, version)]
    if len(wheels) != 1 or len(sdists) != 1:
        found = sorted(p.name for p in out.iterdir()) if out.is_dir() else []
        raise WsError(
            f"building {name} {version} gave {found or 'nothing'}, not one wheel and one sdist "
            f"named {name} {version}",
            fix="check the member's build backend settings (its name and version)",
        )
    return Dists(name, version, sdists[0], wheels[0])


def _wheel_is(path: Path, name: str, version: str) -> bool:
    try:
        found, found_version, _, _ = parse_wheel_filename(path.name)
    except ValueError:
        return False
    return found == canonicalize_name(name) and found_version == Version(version)


def _sdist_is(path: Path, name: str, version: str) -> bool:
    try:
        found, found_version = parse_sdist_filename(path.name)
    except ValueError:
        return False
    return found == canonicalize_name(name) and found_version == Version(version)

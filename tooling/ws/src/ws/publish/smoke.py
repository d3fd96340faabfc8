"""The smoke test after upload: each published member installed from the index into a fresh
environment of its own, then its top-level modules imported there."""

from __future__ import annotations

import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path

from ws.errors import CommandFailed, WsError
from ws.proc import Running, start
from ws.publish.build import Dists
from ws.publish.target import Target
from ws.uv import first_error, install_argv, venv_argv


def top_level_modules(wheel: Path) -> list[str]:
    """The importable names a wheel puts at the top of site-packages."""
    found: set[str] = set()
    with zipfile.ZipFile(wheel) as archive:
        for name in archive.namelist():
            head, _, rest = name.partition("/")
            if head.endswith((".dist-info", ".data")):
                continue
            if rest and head.isidentifier():
                found.add(head)
            elif not rest and name.endswith(".py") and name[:-3].isidentifier():
                found.add(name[:-3])
    return sorted(found)


def python_of(venv: Path) -> Path:
    return venv / "bin" / "python"


def smoke_test(
    uv: str,
    target: Target,
    dists: Mapping[str, Dists],
    folder: Path,
    env: Mapping[str, str],
    python: str,
) -> None:
    """Install every member of dists (name==version, from the target index first) each into
    its own new environment under folder, and import its modules there; all at once."""
    folder.mkdir(parents=True, exist_ok=True)
    venvs = {name: folder / name for name in dists}
    _all(venvs, lambda n: venv_argv(uv, venvs[n], python), env, "creating an environment for")
    indexes = [f"{target.name}={target.url}", *target.others]
    _all(
        venvs,
        lambda n: install_argv(
            uv, python_of(venvs[n]), [f"{n}=={dists[n].version}"], indexes, target.default
        ),
        env,
        "installing",
    )
    imports = {n: top_level_modules(d.wheel) for n, d in dists.items()}
    _all(
        {n: v for n, v in venvs.items() if imports[n]},
        lambda n: [str(python_of(venvs[n])), "-c", "import " + ", ".join(imports[n])],
        env,
        "importing",
    )


def _all(
    names: Mapping[str, Path],
    argv_of: Callable[[str], list[str]],
    env: Mapping[str, str],
    doing: str,
) -> None:
    """argv_of(name) for every name at once; the first failure raised."""
    jobs: dict[str, Running] = {}
    try:
        for name in names:
            jobs[name] = start(argv_of(name), cwd=names[name].parent, env=env)
        for name in list(jobs):
            _wait(jobs.pop(name), name, doing)
    finally:
        for job in jobs.values():
            job.stop()


def _wait(job: Running, name: str, doing: str) -> None:
    try:
        job.wait()
    except CommandFailed as e:
        detail = first_error(e.stderr) if "error:" in e.stderr else (e.stderr or e.stdout).strip()
        raise WsError(
            f"smoke test: {doing} {name} from the index failed (it was uploaded):\n{detail}",
            fix=f"fix {name} and release a new version; `ws publish --dry-run` checks before "
            "uploading",
        ) from e

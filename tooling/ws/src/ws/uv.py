"""The uv binary ws drives: which one (a uv the workspace's `required-version` allows), its
version, and its command lines."""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ws.errors import CommandFailed, ConfigError, ToolNotFound, WsError
from ws.proc import run, which

if TYPE_CHECKING:
    from packaging.specifiers import SpecifierSet

# Overrides the uv that ws finds (by default the one the `uv` package installed beside ws).
UV_ENV_VAR = "WS_UV"
# The files at the workspace root that steer uv besides pyproject.toml (its settings and the
# Python versions it may use): a lock check's record is keyed on them, and a change to one
# affects every member.
ROOT_SETTINGS_FILES = ("uv.toml", ".python-version", ".python-versions")
BUNDLED = "ws's own uv"  # the `uv` package's, installed beside ws
ON_PATH = "the uv on PATH"
# Run inside the environment `uv tool run --from uv...` makes: where its uv binary is, so that
# ws runs that binary directly from then on (the uv package has said so since its first release).
_FIND_BIN = "import uv; print(uv.find_uv_bin())"


@dataclass(frozen=True)
class RequiredVersion:
    """The uv versions a workspace allows: `required-version`, as uv reads it."""

    specifier: SpecifierSet
    text: str  # as written
    source: Path  # the root pyproject.toml or uv.toml saying it
    key: str  # where in source: tool.uv.required-version or required-version

    def allows(self, version: str) -> bool:
        from packaging.version import InvalidVersion, Version  # only with a pin (start-up)

        try:
            # uv compares its own version as is: a pre-release counts as any other version
            return self.specifier.contains(Version(version), prereleases=True)
        except InvalidVersion:
            return False

    @property
    def requirement(self) -> str:
        """The requirement on the uv package that matches the same releases."""
        return f"uv{self.specifier}"

    def describe(self) -> str:
        return f"`{self.key} = {self.text!r}` in {self.source}"


@dataclass(frozen=True)
class UvChoice:
    """The uv ws runs, and why that one (for `-v`)."""

    binary: str
    why: str

    @property
    def version(self) -> str:
        """Asked of the binary only when wanted (and once): without a pin no run needs it."""
        return version_of(self.binary)


def required_version(root: Path, pyproject: Mapping[str, Any]) -> RequiredVersion | None:
    """The workspace's `required-version`, read where uv reads it: the root uv.toml when there
    is one (uv then ignores the pyproject's [tool.uv]), else the root pyproject's [tool.uv]."""
    from ws.workspace.members import read_toml  # here: `ws --version` imports this module, not TOML

    uv_toml = root / "uv.toml"
    if uv_toml.is_file():
        return _required(read_toml(uv_toml), uv_toml, "required-version")
    tool = pyproject.get("tool")
    settings = tool.get("uv") if isinstance(tool, dict) else None
    if not isinstance(settings, dict):
        return None
    return _required(settings, root / "pyproject.toml", "tool.uv.required-version")


def _required(settings: Mapping[str, Any], source: Path, key: str) -> RequiredVersion | None:
    from packaging.specifiers import InvalidSpecifier, SpecifierSet  # only with a pin (start-up)
    from packaging.version import InvalidVersion, Version

    text = settings.get("required-version")
    if text is None:
        return None
    if not isinstance(text, str):
        raise ConfigError(source, f"`{key}` must be a string", fix=f'{key} = ">=0.9"')
    try:
        specifier = SpecifierSet(f"=={Version(text)}")  # uv reads a bare version as exactly it
    except InvalidVersion:
        try:
            specifier = SpecifierSet(text)
        except InvalidSpecifier:
            raise ConfigError(
                source,
                f"`{key}` = {text!r} is not a version specifier",
                fix=f'write it as uv reads it, e.g. {key} = ">=0.9,<0.10"',
            ) from None
    return RequiredVersion(specifier, text, source, key)


def bundled_uv() -> str | None:
    """The binary of the `uv` package installed beside ws, if any."""
    try:
        from uv import find_uv_bin  # only when needed

        return find_uv_bin()
    except (ImportError, FileNotFoundError):
        return None


def find_uv(env: Mapping[str, str]) -> str:
    """The uv binary when no workspace pins one: $WS_UV, else ws's own, else uv on PATH."""
    return choose_uv(env, None, bundled_uv()).binary


def choose_uv(
    env: Mapping[str, str], required: RequiredVersion | None, bundled: str | None
) -> UvChoice:
    """The uv to run. Without a pin: $WS_UV, else bundled, else the uv on PATH. With one, a uv
    it allows: $WS_UV (an error if it is not allowed), else the uv on PATH, else bundled, else
    the release uv's own `uv tool run --from 'uv<spec>'` fetches (and caches)."""
    override = env.get(UV_ENV_VAR)
    if override:
        return _override(override, required)
    if required is None and bundled is not None:
        return UvChoice(bundled, BUNDLED)
    on_path = which("uv", path=env.get("PATH"))
    if required is None:
        if on_path is None:
            raise ToolNotFound(
                "uv not found",
                fix=f"install ws with its dependencies, or set {UV_ENV_VAR} to a uv binary",
            )
        return UvChoice(on_path, ON_PATH)
    refused: list[str] = []
    working: list[str] = []  # the launchers of `uv tool run`: ws's own first
    for binary, name in ((on_path, ON_PATH), (bundled, BUNDLED)):
        version = _runs(binary)
        if binary is not None and version is not None and required.allows(version):
            return UvChoice(binary, f"{name}, allowed by {required.describe()}")
        if binary is not None:
            refused.append(f"{name} ({version or 'does not run'})")
            working[:0] = [binary] if version is not None else []
    return _fetched(env, required, working[0] if working else None, refused)


def _runs(binary: str | None) -> str | None:
    """The version of a uv that answers `--version`, else None: a `uv` on PATH can be a shim
    that fails where it runs (pyenv's, in a folder whose .python-version has no uv)."""
    if binary is None:
        return None
    try:
        return version_of(binary)
    except CommandFailed:
        return None


def _override(binary: str, required: RequiredVersion | None) -> UvChoice:
    if not Path(binary).is_file():
        raise ToolNotFound(f"{UV_ENV_VAR}={binary}: no such file", fix="point it at a uv binary")
    if required is None:
        return UvChoice(binary, UV_ENV_VAR)
    version = version_of(binary)
    if not required.allows(version):
        raise WsError(
            f"{UV_ENV_VAR}={binary} is uv {version}, which {required.describe()} does not allow",
            fix=f"point {UV_ENV_VAR} at a uv {required.specifier} (or unset it: ws then finds "
            f"or fetches one), or change `required-version` in {required.source}",
        )
    return UvChoice(binary, f"{UV_ENV_VAR}, allowed by {required.describe()}")


def fetch_argv(launcher: str, required: RequiredVersion) -> list[str]:
    """`uv tool run` of a uv release the pin allows, printing where its binary is (pure).
    A tool command reads no project settings, so the launcher's own version does not matter."""
    return [launcher, "tool", "run", "--from", required.requirement, "python", "-c", _FIND_BIN]


def _fetched(
    env: Mapping[str, str], required: RequiredVersion, launcher: str | None, refused: list[str]
) -> UvChoice:
    """The uv release uv's tool cache holds (or downloads) for the pin."""
    if launcher is None:
        raise ToolNotFound(
            f"uv not found, and {required.describe()} asks for one",
            fix=f"install a uv {required.specifier}, or set {UV_ENV_VAR} to one",
        )
    argv = fetch_argv(launcher, required)
    shown = f"uv tool run --from '{required.requirement}'"
    why = f"{required.describe()} allows neither {' nor '.join(refused)}"
    try:
        binary = _fetch(argv, env)
    except CommandFailed as e:
        raise WsError(
            f"no uv here is one {why}, and `{shown}` failed:\n{first_error(e.stderr)}",
            fix=f"install a uv {required.specifier} on PATH or set {UV_ENV_VAR} to one, "
            "or let uv reach its package index",
        ) from e
    version = version_of(binary) if Path(binary).is_file() else "missing"
    if not required.allows(version):
        raise WsError(
            f"`{shown}` gave {binary or 'nothing'} (uv {version}), which "
            f"{required.describe()} does not allow",
            fix=f"install a uv {required.specifier} on PATH or set {UV_ENV_VAR} to one",
        )
    return UvChoice(binary, f"fetched by `{shown}`: {why}")


def _fetch(argv: list[str], env: Mapping[str, str]) -> str:
    """The binary argv prints: from uv's cache alone first (no index round trip on every ws
    run), from the index only when the cache holds no allowed release."""
    try:
        out = run(argv, env={**env, "UV_OFFLINE": "1"}).stdout
    except CommandFailed:
        if env.get("UV_OFFLINE", "").lower() in ("1", "true", "yes", "on"):
            raise  # offline was asked for: the index is not ws's to reach
        out = run(argv, env=env).stdout
    lines = out.strip().splitlines()
    return lines[-1] if lines else ""


def first_error(stderr: str) -> str:
    """uv's first `error:` line and the `cause:` lines under it: what went wrong first, and
    why (the last line is only the deepest cause). All of stderr when it holds no error line."""
    lines = stderr.strip().splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith("error:")), None)
    if start is None:
        return stderr.strip() or "(no output)"
    picked = [lines[start]]
    for line in lines[start + 1 :]:
        cause = line.strip()
        if not cause.startswith(("cause:", "Caused by:")):
            break
        picked.append(f"  {cause}")
    return "\n".join(picked)


@functools.cache
def version_of(binary: str) -> str:
    """What `uv --version` says: `uv 0.13.9 (...)` -> 0.13.9."""
    words = run([binary, "--version"]).stdout.split()
    return words[1] if len(words) > 1 else words[0] if words else "unknown"


def identity(binary: str) -> str:
    """Which uv binary this is (a cache key): its path, size and mtime, without running it;
    for a script (a pyenv or asdf shim, a wrapper), which can hand over to another uv while
    it stays the same file, also the version it answers."""
    found = Path(binary).resolve()
    st = found.stat()
    with found.open("rb") as handle:
        script = handle.read(2) == b"#!"
    return f"{found}:{st.st_size}:{st.st_mtime_ns}" + (f":{version_of(binary)}" if script else "")


def uv_version(env: Mapping[str, str]) -> str:
    return version_of(find_uv(env))


def lock_argv(
    uv: str,
    *,
    locked: bool = False,
    upgrade: bool = False,
    upgrade_packages: Sequence[str] = (),
    offline: bool = False,
) -> list[str]:
    """The `uv lock` command line (pure: tests check it without running)."""
    argv = [uv, "lock", "--color", "never", "--no-progress"]
    if locked:
        argv.append("--locked")
    if upgrade:
        argv.append("--upgrade")
    for package in upgrade_packages:
        argv += ["--upgrade-package", package]
    if offline:
        argv.append("--offline")
    return argv


def build_wheel_argv(uv: str, package: str, out_dir: Path) -> list[str]:
    """`uv build` of one workspace member's wheel into out_dir (pure)."""
    argv = [uv, "build", "--package", package, "--wheel", "--out-dir", str(out_dir)]
    return [*argv, "--color", "never", "--no-progress"]


def built_version(
    uv: str, root: Path, package: str, env: Mapping[str, str], folder: Path | None = None
) -> str:
    """The version package's own build backend gives it on this checkout: the one in the name
    of the wheel `uv build` makes of it (uv's build isolation, the workspace's settings, and
    the backend reading the real .git: exact by construction, at the cost of one build).
    What the backend leaves in the member's folder (setuptools' build/ and *.egg-info) and
    was not there before is removed: asking for a version changes no file of the checkout."""
    import tempfile  # only for a dynamic version

    before = _build_leftovers(folder)
    with tempfile.TemporaryDirectory(prefix="ws-version-") as out:
        try:
            run(build_wheel_argv(uv, package, Path(out)), cwd=root, env=env)
        except CommandFailed as e:
            raise WsError(
                f"`uv build --package {package} --wheel` failed:\n{first_error(e.stderr)}",
                fix=f"run `uv build --package {package}` in {root} and fix what it reports",
            ) from e
        finally:
            _remove_new(_build_leftovers(folder) - before)
        wheels = sorted(p.name for p in Path(out).glob("*.whl"))
    if len(wheels) != 1 or len(wheels[0].split("-")) not in (5, 6):
        raise WsError(f"`uv build --package {package} --wheel` made {wheels or 'no wheel'}")
    return wheels[0].split("-")[1]  # name-version[-build]-python-abi-platform.whl


def _build_leftovers(folder: Path | None) -> set[Path]:
    """The folders a setuptools build writes beside the sources: build/, *.egg-info."""
    if folder is None:
        return set()
    found = {folder / "build"} if (folder / "build").is_dir() else set()
    for parent in (folder, folder / "src"):
        found |= {p for p in parent.glob("*.egg-info") if p.is_dir()}
    return {p for p in found if not p.is_symlink()}


def _remove_new(paths: set[Path]) -> None:
    import shutil  # only after a build left something

    for path in sorted(paths):
        shutil.rmtree(path, ignore_errors=True)


def find_python(uv: str, root: Path, env: Mapping[str, str]) -> str:
    """The interpreter uv picks for the project at root (its .venv's when there is one):
    found once and handed to every later uv call, each of which would otherwise search
    again (a third of a second each where no .venv is near, as in a temporary copy)."""
    try:
        found = run([uv, "python", "find", "--color", "never"], cwd=root, env=env).stdout
    except CommandFailed as e:
        raise WsError(
            f"uv found no Python interpreter for {root}:\n{first_error(e.stderr)}",
            fix="install one `requires-python` allows (uv python install), or sync the "
            "workspace's environment (uv sync)",
        ) from e
    return found.strip()


def build_dists_argv(uv: str, folder: Path, out_dir: Path, python: str) -> list[str]:
    """`uv build` of the project in folder: its sdist, then its wheel built from that sdist
    (which proves the sdist builds), with no `[tool.uv.sources]`: a release must build as
    its users will, without the workspace (pure)."""
    argv = [uv, "build", str(folder), "--no-sources", "--python", python]
    return [*argv, "--out-dir", str(out_dir), "--color", "never", "--no-progress"]


def publish_argv(uv: str, publish_url: str, files: Sequence[Path], *, trusted: bool) -> list[str]:
    """`uv publish` of files to publish_url. Credentials come from uv's own variables
    (UV_PUBLISH_TOKEN, UV_PUBLISH_USERNAME/PASSWORD), never from the command line, which
    errors repeat; trusted: through the CI's OIDC token exchange, else never tried (uv would
    spend seconds probing for it) (pure)."""
    mode = "always" if trusted else "never"
    argv = [uv, "publish", "--publish-url", publish_url, "--trusted-publishing", mode]
    return [*argv, "--color", "never", "--no-progress", *(str(f) for f in files)]


def venv_argv(uv: str, folder: Path, python: str) -> list[str]:
    """`uv venv` of a fresh environment at folder, on python's base interpreter (pure)."""
    argv = [uv, "venv", str(folder), "--python", python]
    return [*argv, "--color", "never", "--no-progress", "--quiet"]


def install_argv(
    uv: str, python: Path, requirements: Sequence[str], indexes: Sequence[str], default: str | None
) -> list[str]:
    """`uv pip install` of requirements into the environment of python, from indexes (each
    NAME=URL, first served first) then default; their simple pages asked afresh (pure)."""
    argv = [uv, "pip", "install", "--python", str(python), "--color", "never", "--no-progress"]
    for index in indexes:
        argv += ["--index", index]
    if default is not None:
        argv += ["--default-index", default]
    for requirement in requirements:
        argv += ["--refresh-package", requirement.split("==")[0]]
    return [*argv, *requirements]

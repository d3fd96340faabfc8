"""[tool.ws.docker] of the root and of each member, validated into frozen dataclasses."""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath
from typing import Any, NoReturn

from packaging.utils import canonicalize_name
from packaging.version import Version

from ws.docker.pin.imageref import ImageRef, parse_image_ref
from ws.errors import ConfigError
from ws.uv import RequiredVersion, required_version
from ws.workspace.members import Member, Workspace

TABLE = "tool.ws.docker"
DEFAULT_USER = "app"  # made in the image, with a home (render.run_user)
ROOT_KEYS = ("python-image", "uv-image", "registry", "user", "labels", "env")
IMAGE_KEYS = (
    "command",
    "entrypoint",
    "expose",
    "env",
    "labels",
    "include",
    "healthcheck",
    "user",
    "extras",
)
# Keys that give no image by themselves: build-files (a library lists there what its build
# reads) and dockerfile (it only places the image's files).
PLACEMENT_KEYS = ("build-files", "dockerfile")
MEMBER_KEYS = (*IMAGE_KEYS, *PLACEMENT_KEYS)
# A root that is itself a project carries its own image's keys beside ROOT_KEYS (whose user,
# labels and env, the defaults of every image, its image takes as well).
ROOT_PROJECT_KEYS = (
    "command",
    "entrypoint",
    "expose",
    "include",
    "healthcheck",
    "extras",
    "build-files",
    "dockerfile",
)
HEALTH_KEYS = ("command", "interval", "timeout", "retries", "start-period")
# ws writes these labels itself: from the member's metadata and from build arguments.
RESERVED_LABELS = frozenset(
    f"org.opencontainers.image.{k}" for k in ("source", "revision", "version", "title")
)
RESERVED_ENV = frozenset({"PATH", "VIRTUAL_ENV"})  # the runtime stage points them at /app/.venv

_NAME = r"[a-z_][a-z0-9_-]{0,31}"
_USER = re.compile(rf"(?P<user>[0-9]+|{_NAME})(?::(?P<group>[0-9]+|{_NAME}))?")
_ENV_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_LABEL_KEY = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?")
_PORT = re.compile(r"([0-9]{1,5})(?:/(tcp|udp|sctp))?")
_DURATION = re.compile(r"(?:[0-9]+(?:ms|s|m|h))+")
# PEP 685's extra names, as written (a Dockerfile takes them normalised: lowercase, '-').
_EXTRA = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?")
# What may appear in a path ws writes into a Dockerfile or a .dockerignore: no spaces,
# no '$' (variable substitution), no glob or escape characters, no quotes.
# A uv image tag that names one release (0.9.5), not a series that moves (0.9, latest).
_EXACT_RELEASE = re.compile(r"[0-9]+\.[0-9]+\.[0-9]+")
SAFE_PATH = re.compile(r"[A-Za-z0-9_.+@=,-]+(?:/[A-Za-z0-9_.+@=,-]+)*")


@dataclass(frozen=True)
class HealthCheck:
    command: tuple[str, ...]
    interval: str | None = None
    timeout: str | None = None
    retries: int | None = None
    start_period: str | None = None


@dataclass(frozen=True)
class RootConfig:
    """The root's [tool.ws.docker]: base images and the defaults of every image."""

    pyproject: Path
    python_image: ImageRef
    uv_image: ImageRef
    registry: str | None = None
    user: str = DEFAULT_USER
    labels: tuple[tuple[str, str], ...] = ()  # sorted by key
    env: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class ImageConfig:
    """A member's [tool.ws.docker]: the member opts into an image by having the table."""

    member: str
    pyproject: Path
    command: tuple[str, ...] | None = None
    entrypoint: tuple[str, ...] | None = None
    expose: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    labels: tuple[tuple[str, str], ...] = ()
    include: tuple[str, ...] = ()
    healthcheck: HealthCheck | None = None
    user: str | None = None
    build_files: tuple[str, ...] = ()  # relative to the workspace root
    extras: tuple[str, ...] = ()  # the member's own extras the image installs, normalised
    # Where the image's generated Dockerfile goes, relative to the workspace root (the
    # `dockerfile` setting, when the Dockerfile beside the pyproject is the user's own); None:
    # beside the member's pyproject.toml. Its .dockerignore and pyproject go beside it.
    dockerfile: str | None = None


@dataclass(frozen=True)
class DockerConfig:
    root: RootConfig | None
    images: dict[str, ImageConfig] = field(hash=False)  # member name -> its image
    # member name -> the build-files it declares, image or not (relative to the root)
    build_files: dict[str, tuple[str, ...]] = field(default_factory=dict, hash=False)


@dataclass(frozen=True)
class _At:
    """A key being validated: where it lives, for the error message."""

    path: Path
    key: str

    def sub(self, part: str | int) -> _At:
        return _At(
            self.path, f"{self.key}[{part}]" if isinstance(part, int) else f"{self.key}.{part}"
        )

    def fail(self, problem: str, fix: str) -> NoReturn:
        raise ConfigError(self.path, f"`{self.key}` {problem}", fix=fix)


def load_config(ws: Workspace) -> DockerConfig:
    """Every image member's config, and the root's (required once a member opts in)."""
    images: dict[str, ImageConfig] = {}
    declared: dict[str, tuple[str, ...]] = {}
    for member in ws.members.values():
        table = docker_table(member.data, member.pyproject)
        if table is not None and not is_root_project(member):
            config = member_config(member, table, ws.root)
            if table.get("dockerfile") is not None:
                at = _At(member.pyproject, f"{TABLE}.dockerfile")
                place = _dockerfile(at, table["dockerfile"], ws, member)
                config = replace(config, dockerfile=place)
            declared[member.name] = config.build_files
            if not table or set(table) - set(PLACEMENT_KEYS):  # an empty table opts in
                images[member.name] = config
    root_table = docker_table(ws.data, ws.pyproject)
    if root_table is None:
        if images:
            _At(ws.pyproject, TABLE).fail(
                f"is missing, but {', '.join(images)} ask(s) for an image",
                '[tool.ws.docker] python-image = "host/python:3.11-slim", uv-image = "host/uv:0.9"',
            )
        return DockerConfig(None, images, declared)
    project = root_project(ws)
    root = root_config(ws.pyproject, root_table, project=project is not None)
    check_uv_image(root, required_version(ws.root, ws.data))
    if project is not None:
        own = {k: v for k, v in root_table.items() if k in ROOT_PROJECT_KEYS}
        place = own.pop("dockerfile", None)
        config = member_config(project, own, ws.root)
        if place is not None:
            at = _At(ws.pyproject, f"{TABLE}.dockerfile")
            config = replace(config, dockerfile=_dockerfile(at, place, ws))
        declared[project.name] = config.build_files
        if set(own) - set(PLACEMENT_KEYS):
            images[project.name] = config
    return DockerConfig(root, images, declared)


def load_root_config(ws: Workspace) -> RootConfig:
    """The root's [tool.ws.docker] alone (for `ws docker pin`), its uv-image checked against
    `required-version` as for generating: a pin of a uv the workspace refuses helps nobody."""
    table = docker_table(ws.data, ws.pyproject)
    if table is None:
        _At(ws.pyproject, TABLE).fail(
            "is missing", 'add [tool.ws.docker] with python-image = "..." and uv-image = "..."'
        )
    root = root_config(ws.pyproject, table, project=root_project(ws) is not None)
    check_uv_image(root, required_version(ws.root, ws.data))
    return root


# The oldest uv whose flags the generated Dockerfile uses (`uv sync --no-install-local`).
MIN_IMAGE_UV = "0.8.14"


def check_uv_image(root: RootConfig, required: RequiredVersion | None) -> None:
    """A ConfigError unless uv-image's tag names a uv release that `required-version` allows
    (the uv in the image reads the same pin, and would otherwise fail the build inside), and
    one that runs the generated Dockerfile's commands (MIN_IMAGE_UV and newer)."""
    tag = root.uv_image.tag or ""
    release = tag.split("-", 1)[0]  # uv:0.9.5-python3.12-bookworm holds uv 0.9.5
    exact = _EXACT_RELEASE.fullmatch(release) is not None
    if exact and Version(release) < Version(MIN_IMAGE_UV):
        _At(root.pyproject, f"{TABLE}.uv-image").fail(
            f"= {str(root.uv_image)!r} holds uv {release}, older than the {MIN_IMAGE_UV} the "
            "generated Dockerfile needs (`uv sync --no-install-local`)",
            f"tag uv-image with uv {MIN_IMAGE_UV} or newer and run `ws docker pin`",
        )
    if required is None:
        return
    if exact and required.allows(release):
        return
    said = f"holds uv {release}" if exact else "names no exact uv release in its tag"
    _At(root.pyproject, f"{TABLE}.uv-image").fail(
        f"= {str(root.uv_image)!r} {said}, and {required.describe()} "
        + ("does not allow it" if exact else "asks for one it allows"),
        f"tag uv-image with a uv release that {required.specifier} allows and run "
        f"`ws docker pin`, or change required-version in {required.source}",
    )


def is_root_project(member: Member) -> bool:
    return str(member.rel) == "."


def root_project(ws: Workspace) -> Member | None:
    """The member the root pyproject.toml's own [project] makes, if any."""
    return next((m for m in ws.members.values() if is_root_project(m)), None)


def docker_table(data: Mapping[str, Any], path: Path) -> dict[str, Any] | None:
    """data's tool.ws.docker table, None when absent; an error when it is not a table."""
    node: Any = data
    for depth, key in enumerate(("tool", "ws", "docker")):
        node = node.get(key)
        if node is None:
            return None
        if not isinstance(node, dict):
            where = ".".join(("tool", "ws", "docker")[: depth + 1])
            _At(path, where).fail("must be a table", f"write it as [{where}]")
    return node


def root_config(path: Path, table: Mapping[str, Any], *, project: bool = False) -> RootConfig:
    """The workspace-wide settings; project: the root is itself a project, whose own image's
    keys may sit in the same table."""
    at = _At(path, TABLE)
    if not project:
        for key in table:
            if key in ROOT_PROJECT_KEYS:
                at.sub(key).fail(
                    "belongs to an image, and this root has no [project] to build one from",
                    "move it to the [tool.ws.docker] table of the member the image runs",
                )
    _known_keys(at, table, (*ROOT_KEYS, *ROOT_PROJECT_KEYS) if project else ROOT_KEYS)
    for required in ("python-image", "uv-image"):
        if required not in table:
            at.sub(required).fail("is missing", f'{required} = "registry.example:5000/name:tag"')
    registry = table.get("registry")
    return RootConfig(
        pyproject=path,
        python_image=_image_ref(at.sub("python-image"), table["python-image"]),
        uv_image=_image_ref(at.sub("uv-image"), table["uv-image"]),
        registry=None if registry is None else _registry(at.sub("registry"), registry),
        user=_user(at.sub("user"), table.get("user", DEFAULT_USER)),
        labels=_labels(at.sub("labels"), table.get("labels", {})),
        env=_env(at.sub("env"), table.get("env", {})),
    )


def member_config(member: Member, table: Mapping[str, Any], root: Path) -> ImageConfig:
    at = _At(member.pyproject, TABLE)
    _known_keys(at, table, MEMBER_KEYS)

    def optional(key: str, check: Callable[[_At, Any], Any]) -> Any:
        return None if table.get(key) is None else check(at.sub(key), table[key])

    return ImageConfig(
        member=member.name,
        pyproject=member.pyproject,
        command=optional("command", _argv),
        entrypoint=optional("entrypoint", _argv),
        expose=_expose(at.sub("expose"), table.get("expose", [])),
        env=_env(at.sub("env"), table.get("env", {})),
        labels=_labels(at.sub("labels"), table.get("labels", {})),
        include=_include(at.sub("include"), table.get("include", []), member.path),
        healthcheck=optional("healthcheck", _healthcheck),
        user=optional("user", _user),
        build_files=_build_files(at.sub("build-files"), table.get("build-files", []), member, root),
        extras=_extras(at.sub("extras"), table.get("extras", []), member),
    )


def image_name(root: RootConfig, member: str) -> str:
    """The repository an image is tagged and pushed as: registry prefix / member."""
    return f"{root.registry}/{member}" if root.registry else member


# ---------------------------------------------------------------- value checks


def _known_keys(at: _At, table: Mapping[str, Any], known: tuple[str, ...]) -> None:
    for key in table:
        if key not in known:
            at.sub(key).fail("is not a known key", f"remove it; known keys: {', '.join(known)}")


def _text(at: _At, value: Any, *, empty: bool = False) -> str:
    """A string that cannot break out of the Dockerfile line it is written into."""
    if not isinstance(value, str):
        at.fail(f"must be a string, not {_type(value)}", "quote it")
    if not value and not empty:
        at.fail("must not be empty", "give it a value or remove it")
    for i, ch in enumerate(value):
        if not ch.isprintable():
            at.fail(
                f"holds the control character U+{ord(ch):04X} at position {i}",
                "remove line breaks, tabs and other control characters",
            )
    return value


def _type(value: Any) -> str:
    names = {
        bool: "a boolean",
        int: "an integer",
        float: "a number",
        list: "an array",
        dict: "a table",
        str: "a string",
    }
    return names.get(type(value), type(value).__name__)


def _list(at: _At, value: Any, fix: str) -> list[Any]:
    if not isinstance(value, list):
        at.fail(f"must be an array, not {_type(value)}", fix)
    return value


def _table(at: _At, value: Any, fix: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        at.fail(f"must be a table, not {_type(value)}", fix)
    return value


def _image_ref(at: _At, value: Any) -> ImageRef:
    raw = _text(at, value)
    try:
        ref = parse_image_ref(raw)
    except ValueError as e:
        at.fail(f"is not a valid image reference ({e})", 'write it as "host/name:tag"')
    if ref.tag is None:
        at.fail(
            f"= {raw!r} has no tag",
            f'add one, e.g. "{ref.name}:1.0"; `ws docker pin` adds the digest',
        )
    if ref.digest is not None and not ref.digest.startswith("sha256:"):
        at.fail(
            "is pinned by a digest other than sha256", "run `ws docker pin` to pin it by sha256"
        )
    return ref


def _registry(at: _At, value: Any) -> str:
    raw = _text(at, value)
    try:
        probe = parse_image_ref(f"{raw}/probe:latest")
    except ValueError as e:
        at.fail(f"is not a valid registry prefix ({e})", 'write it as "host:port/namespace"')
    if probe.digest is not None or str(probe) != f"{raw}/probe:latest":
        at.fail("is not a valid registry prefix", 'write it as "host:port/namespace"')
    return raw


def _user(at: _At, value: Any) -> str:
    raw = _text(at, value)
    found = _USER.fullmatch(raw)
    if found is None:
        at.fail(
            f"= {raw!r} is not a user",
            f'write a user name, "name:group" or "uid:gid", e.g. "{DEFAULT_USER}"',
        )
    if found["user"] in ("0", "root") or found["group"] in ("0", "root"):
        at.fail("runs the image as root", f'use a non-root user, e.g. "{DEFAULT_USER}"')
    return raw


def _argv(at: _At, value: Any) -> tuple[str, ...]:
    items = _list(at, value, '["program", "--flag"]')
    if not items:
        at.fail("must not be empty", 'name the program, e.g. ["my-service"], or remove the key')
    first = _text(at.sub(0), items[0])
    return (first, *(_text(at.sub(i), v, empty=True) for i, v in enumerate(items) if i))


def _pairs(
    at: _At, value: Any, key_pattern: re.Pattern[str], fix: str
) -> tuple[tuple[str, str], ...]:
    table = _table(at, value, fix)
    pairs = []
    for key, item in table.items():
        if not key_pattern.fullmatch(key):
            at.sub(key).fail("is not a valid name", f"use only {key_pattern.pattern}")
        pairs.append((key, _text(at.sub(key), item, empty=True)))
    return tuple(sorted(pairs))


def _env(at: _At, value: Any) -> tuple[tuple[str, str], ...]:
    pairs = _pairs(at, value, _ENV_KEY, 'env = { LOG_LEVEL = "info" }')
    for key, _ in pairs:
        if key in RESERVED_ENV:
            at.sub(key).fail("is set by ws (to the image's /app/.venv)", "remove it")
    return pairs


def _labels(at: _At, value: Any) -> tuple[tuple[str, str], ...]:
    pairs = _pairs(at, value, _LABEL_KEY, 'labels = { "com.example.team" = "search" }')
    for key, _ in pairs:
        if key in RESERVED_LABELS:
            at.sub(key).fail(
                "is set by ws",
                "remove it: title and version come from [project], source and revision "
                "from the WS_SOURCE and WS_REVISION build arguments",
            )
    return pairs


def _expose(at: _At, value: Any) -> tuple[str, ...]:
    ports = []
    for i, item in enumerate(_list(at, value, 'expose = [8080, "9090/udp"]')):
        where = at.sub(i)
        if isinstance(item, int) and not isinstance(item, bool):
            port, spec = item, str(item)
        else:
            spec = _text(where, item)
            found = _PORT.fullmatch(spec)
            if found is None:
                where.fail(f"= {spec!r} is not a port", 'write 8080 or "8080/tcp" (tcp, udp, sctp)')
            port = int(found[1])
        if not 1 <= port <= 65535:
            where.fail(f"= {item!r} is outside 1-65535", "use a valid port number")
        ports.append(spec)
    return tuple(ports)


def _duration(at: _At, value: Any) -> str:
    raw = _text(at, value)
    if not _DURATION.fullmatch(raw):
        at.fail(f"= {raw!r} is not a duration", 'write e.g. "30s", "500ms", "1m30s"')
    return raw


def _healthcheck(at: _At, value: Any) -> HealthCheck:
    table = _table(at, value, 'healthcheck = { command = ["probe"], interval = "10s" }')
    _known_keys(at, table, HEALTH_KEYS)
    if "command" not in table:
        at.sub("command").fail("is missing", 'command = ["python3", "-c", "..."]')
    retries = table.get("retries")
    if retries is not None and (
        isinstance(retries, bool) or not isinstance(retries, int) or retries < 1
    ):
        at.sub("retries").fail(f"= {retries!r} is not a positive integer", "retries = 3")
    durations = {
        k: _duration(at.sub(k), table[k])
        for k in ("interval", "timeout", "start-period")
        if k in table
    }
    return HealthCheck(
        command=_argv(at.sub("command"), table["command"]),
        interval=durations.get("interval"),
        timeout=durations.get("timeout"),
        retries=retries,
        start_period=durations.get("start-period"),
    )


def _include(at: _At, value: Any, member_dir: Path) -> tuple[str, ...]:
    paths = []
    for i, item in enumerate(_list(at, value, 'include = ["config/app.toml"]')):
        where = at.sub(i)
        raw = _text(where, item)
        rel = PurePosixPath(raw).as_posix()
        if raw.startswith("/") or ".." in rel.split("/") or rel == ".":
            where.fail(
                f"= {raw!r} is not a path inside the member", "write it relative to the member"
            )
        _check_copyable(where, raw, member_dir / rel, member_dir, f"in {member_dir}")
        if not (member_dir / rel).resolve().is_relative_to(member_dir.resolve()):
            where.fail(f"= {raw!r} leads outside the member", "include only the member's own files")
        paths.append(rel)
    return tuple(paths)


def _check_copyable(where: _At, raw: str, target: Path, base: Path, found_in: str) -> None:
    """What include and build-files ask of a path: a COPY can name it, and it exists."""
    if not SAFE_PATH.fullmatch(target.relative_to(base).as_posix()):
        where.fail(
            f"= {raw!r} has characters a Dockerfile COPY would misread",
            "use letters, digits and . _ - + @ = , in file names",
        )
    if not target.exists():
        where.fail(f"= {raw!r} does not exist {found_in}", "create it or fix the path")


def workspace_path(member_rel: PurePosixPath, raw: str) -> str | None:
    """raw, written relative to a member, as a path relative to the workspace root; None when
    it leads out of the root."""
    path = posixpath.normpath((member_rel / raw).as_posix())
    return None if path == ".." or path.startswith("../") else path


def _dockerfile(at: _At, value: Any, ws: Workspace, member: Member | None = None) -> str:
    """Where an image's generated Dockerfile goes, relative to the workspace root. The root
    project's: a file under the root, in a folder that exists and that no member owns (their
    own files go there). A member's (written relative to it): a file in its own folder, not
    in a member nested there."""
    raw = _text(at, value)
    base = member.rel if member is not None else PurePosixPath(".")
    rel = None if raw.startswith("/") else workspace_path(base, raw)
    example = '"ws.Dockerfile"' if member is not None else '"docker/app.Dockerfile"'
    if rel is None or rel == "." or raw.endswith("/"):
        where = "the workspace root" if member is None else "the member's folder"
        at.fail(
            f"= {raw!r} is not a file path inside the workspace root {ws.root}",
            f"write it relative to {where}, e.g. dockerfile = {example}",
        )
    if not SAFE_PATH.fullmatch(rel):
        at.fail(
            f"= {raw!r} has characters a Dockerfile or a .dockerignore would misread",
            "use letters, digits and . _ - + @ = , in its path",
        )
    holding = [m for m in ws.members.values() if _owns(m, rel)]
    owner = max(holding, key=lambda m: len(m.rel.parts), default=None)  # the innermost
    if member is not None and owner is not member:
        at.fail(
            f"= {raw!r} lies outside the member's folder {member.rel}"
            + (f", in {owner.name}'s" if owner is not None else ""),
            f"keep the image's files in its own folder, e.g. dockerfile = {example}",
        )
    if member is None and owner is not None:
        at.fail(
            f"= {raw!r} lies in the member {owner.name}'s folder, where its own files go",
            f"put it in a folder of its own, e.g. dockerfile = {example}",
        )
    target = ws.root / rel
    if not target.parent.is_dir() or target.is_dir():
        problem = "is a folder" if target.is_dir() else "is in a folder that does not exist"
        at.fail(f"= {raw!r} {problem}", f"create the folder {target.parent} or fix the path")
    if not target.resolve().is_relative_to(ws.root.resolve()):
        at.fail(f"= {raw!r} leads outside the workspace root", "keep it under the root")
    return rel


def _owns(member: Member, path: str) -> bool:
    folder = member.rel.as_posix()
    return folder != "." and (path + "/").startswith(folder + "/")


def _build_files(at: _At, value: Any, member: Member, root: Path) -> tuple[str, ...]:
    """Files outside the member that its build reads: like include, but they may lie anywhere
    under the workspace root (an image is built from the root)."""
    paths = []
    for i, item in enumerate(_list(at, value, 'build-files = ["../../shared/deps.txt"]')):
        where = at.sub(i)
        raw = _text(where, item)
        rel = None if raw.startswith("/") else workspace_path(member.rel, raw)
        if rel is None or rel == ".":
            where.fail(
                f"= {raw!r} is not a path inside the workspace root {root}",
                "write it relative to the member, and keep the file under the workspace root: "
                "every image is built from the root",
            )
        target = root / rel
        _check_copyable(where, raw, target, root, f"({target})")
        if not target.resolve().is_relative_to(root.resolve()):
            where.fail(f"= {raw!r} leads outside the workspace root", "copy the file under it")
        paths.append(rel)
    return tuple(dict.fromkeys(paths))


def _extras(at: _At, value: Any, member: Member) -> tuple[str, ...]:
    """Extras of the member's own [project.optional-dependencies], normalised as uv and its
    lock write them; when that table is dynamic, any well-formed name (uv checks it then)."""
    own = _declared_extras(member)
    found = []
    for i, item in enumerate(_list(at, value, 'extras = ["server"]')):
        where = at.sub(i)
        raw = _text(where, item)
        if not _EXTRA.fullmatch(raw):
            where.fail(f"= {raw!r} is not an extra's name", "use letters, digits and . _ -")
        name = canonicalize_name(raw)
        if own is not None and name not in own:
            where.fail(
                f"= {raw!r} is not an extra of {member.name}",
                f"use one of its extras: {', '.join(sorted(own))}"
                if own
                else f"declare it under [project.optional-dependencies] of {member.name}",
            )
        found.append(name)
    return tuple(dict.fromkeys(found))


def _declared_extras(member: Member) -> frozenset[str] | None:
    """The member's extras, normalised; None when they are dynamic (its backend's to say)."""
    if "optional-dependencies" in member.dynamic:
        return None
    project = member.data.get("project")
    table = project.get("optional-dependencies") if isinstance(project, dict) else None
    return (
        frozenset(canonicalize_name(k) for k in table) if isinstance(table, dict) else frozenset()
    )

"""ws docker build: check the inputs, send each member's context to the engine, tag, push."""

from __future__ import annotations

import json
import re
import urllib.parse
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import IO, Any, Literal

import docker
import docker.errors
import networkx as nx
import requests

from ws.changes import affected
from ws.docker import generate, imageref
from ws.docker.buildkit import BuildKitLog
from ws.docker.config import image_name, load_config, load_root_config
from ws.docker.context import ContextReport, DockerIgnore, context_tar
from ws.docker.gitversion import VERSION_ARG, describe_version, version_overrides
from ws.docker.stream import (
    BuildLog,
    Progress,
    PushLog,
    Step,
    StepFailed,
    error_text,
    is_error,
)
from ws.errors import (
    BuildFailed,
    CommandFailed,
    ConfigError,
    DockerUnavailable,
    GitError,
    RegistryError,
    StaleFiles,
    WsError,
)
from ws.fsio import read_regular
from ws.graph import closure, closure_of, levels
from ws.locks import LockOptions, check_locks
from ws.proc import run
from ws.workspace import Member, Workspace

__all__ = [
    "BuildOptions",
    "BuiltImage",
    "Revision",
    "Step",
    "StepFailed",
    "build_members",
    "build_waves",
    "ensure_base_images",
    "git_revision",
    "git_version_args",
    "image_members",
    "image_refs",
    "member_context",
    "select_members",
    "send_build",
    "uses_buildkit",
]

DOCKERFILE = "Dockerfile"
IGNORE_FILE = "Dockerfile.dockerignore"
REVISION_ARG = "WS_REVISION"
SOURCE_ARG = "WS_SOURCE"
ENGINE_FIX = "start an engine: tooling/engine.sh"
_TAG_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")
# The first Engine API version whose /build runs BuildKit when asked (version=2).
BUILDKIT_API = (1, 39)
Builder = Literal["auto", "buildkit", "classic"]


def _quiet(_member: str, _line: str) -> None:
    """The default progress sink: ws core never prints."""


@dataclass(frozen=True)
class BuildOptions:
    locks: LockOptions  # how to check the member locks (uv binary, environment)
    tags: tuple[str, ...] = ()  # more tags for every image, besides version and revision
    push: bool = False
    jobs: int = 1
    no_cache: bool = False
    labels: Mapping[str, str] = field(default_factory=dict)  # more labels for every image
    # auto: the engine's BuildKit where it has one (Linux, API >= 1.39), else the classic builder
    builder: Builder = "auto"


@dataclass(frozen=True)
class Revision:
    """The git commit the images are built from; dirty when tracked or new files differ."""

    sha: str
    short: str
    dirty: bool
    source: str | None = None  # the origin remote's URL, without any credentials in it

    @property
    def label(self) -> str:
        return self.sha + ("-dirty" if self.dirty else "")

    @property
    def tag(self) -> str:
        return self.short + ("-dirty" if self.dirty else "")


@dataclass(frozen=True)
class BuiltImage:
    member: str
    image_id: str
    refs: tuple[str, ...]
    steps: tuple[Step, ...]
    context: ContextReport
    pushed: Mapping[str, str] = field(default_factory=dict)  # ref -> manifest digest


def connect(make_client: Callable[[], docker.DockerClient]) -> docker.DockerClient:
    """The client make_client returns, once the engine answers a ping."""
    try:
        client = make_client()
        client.ping()
    except (docker.errors.DockerException, requests.exceptions.RequestException) as e:
        raise DockerUnavailable(f"no Docker engine answers: {e}\n  fix: {ENGINE_FIX}") from e
    return client


# ---------------------------------------------------------------- which members


def image_members(ws: Workspace) -> list[str]:
    """Members that declare an image ([tool.ws.docker] in their pyproject), by name."""
    return sorted(load_config(ws).images)


def select_members(
    ws: Workspace,
    graph: nx.DiGraph,
    names: Sequence[str] = (),
    *,
    every: bool = False,
    since: str | None = None,
) -> list[str]:
    """The members to build: named ones, every image member, or those affected since a ref."""
    with_image = set(image_members(ws))
    if sum([bool(names), every, since is not None]) != 1:
        raise WsError(
            "say which images to build\n  fix: name members, or pass --all, "
            "or --affected --since REF (one of the three)"
        )
    if every:
        return sorted(with_image)
    if since is not None:
        return sorted(affected(ws, graph, since)[1] & with_image)
    chosen = [ws.member(n) for n in names]
    for member in chosen:
        if member.name not in with_image:
            raise ConfigError(
                member.pyproject,
                f"member {member.name} declares no image",
                fix="add a [tool.ws.docker] table (command = [...]) and run `ws docker generate`",
            )
    return sorted({m.name for m in chosen})


def build_waves(graph: nx.DiGraph, names: Collection[str]) -> list[list[str]]:
    """names in waves, each needing only earlier ones; order runs through members in between."""
    wanted = set(names)
    waves = [[n for n in wave if n in wanted] for wave in levels(graph, closure_of(graph, wanted))]
    return [wave for wave in waves if wave]


# ---------------------------------------------------------------- inputs


def check_inputs(
    ws: Workspace, graph: nx.DiGraph, names: Collection[str], locks: LockOptions
) -> None:
    """Refuse stale generated files or locks: one StaleFiles naming each and its fix."""
    problems: list[str] = []
    fixes: list[str] = []
    files = generate.generated_files(ws, graph, load_config(ws), names)
    stale = generate.stale_generated(ws.root, files)
    if stale:
        problems += stale
        fixes.append("run `ws docker generate`")
    try:
        check_locks(ws, graph, names, locks)
    except StaleFiles as e:
        problems += e.problems
        fixes.append("run `ws sync-locks`")
    if problems:
        raise StaleFiles(problems, " and ".join(fixes) + ", commit the result, then build again")


def git_revision(root: Path) -> Revision:
    """HEAD of the repository holding root; dirty when `git status` lists anything there."""
    try:
        sha = run(["git", "rev-parse", "--verify", "HEAD"], cwd=root).stdout.strip()
        short = run(["git", "rev-parse", "--short=12", "HEAD"], cwd=root).stdout.strip()
        status = run(["git", "status", "--porcelain", "--", "."], cwd=root).stdout
    except CommandFailed as e:
        raise GitError(
            f"{root}: cannot read the git revision the images are labelled with "
            f"({e.stderr.strip() or e})\n  fix: build from a git checkout with at least one commit"
        ) from e
    return Revision(sha, short, bool(status.strip()), _origin_url(root))


def _origin_url(root: Path) -> str | None:
    url = run(["git", "config", "--get", "remote.origin.url"], cwd=root, check=False).stdout.strip()
    if not url:
        return None
    parts = urllib.parse.urlsplit(url)
    if not parts.scheme or "@" not in parts.netloc:
        return url
    # https://user:token@host/repo: the token must never end up in an image label.
    host = parts.netloc.rpartition("@")[2]
    return urllib.parse.urlunsplit((parts.scheme, host, parts.path, "", ""))


def git_version_args(
    ws: Workspace, graph: nx.DiGraph, names: Collection[str], today: date | None = None
) -> dict[str, dict[str, str]]:
    """The version build argument of each image whose closure takes a version from git tags:
    what setuptools-scm would compute here, since the build context holds no .git."""
    needing = [
        name
        for name in sorted(names)
        if any(version_overrides(ws.members[m]) for m in closure(graph, name))
    ]
    if not needing:
        return {}
    version = describe_version(ws.root, today or datetime.now(UTC).date())
    return {name: {VERSION_ARG: version} for name in needing}


def image_refs(
    ws: Workspace, member: Member, revision: Revision, extra: Sequence[str]
) -> list[str]:
    """<repository>:<version>, <repository>:<short sha>, and <repository>:<tag> for each extra."""
    repository = image_name(load_root_config(ws), member.name)
    tags = [_TAG_UNSAFE.sub("-", member.version)] if member.version else []
    refs: list[str] = []
    for tag in dict.fromkeys([*tags, revision.tag, *extra]):
        try:
            refs.append(str(imageref.parse_image_ref(f"{repository}:{tag}")))
        except ValueError as e:
            source = "--tag" if tag in extra else str(ws.pyproject)
            raise WsError(f"{source}: {e}\n  fix: use letters, digits, '_', '.' and '-'") from e
    return refs


# ---------------------------------------------------------------- one image


def member_context(ws: Workspace, member: Member) -> tuple[IO[bytes], ContextReport, str]:
    """The member's build context (workspace root, filtered by its Dockerfile.dockerignore) as
    a rewound temporary file, what went in, and the Dockerfile's path inside it."""
    ignore_path = member.path / IGNORE_FILE
    dockerfile = member.path / DOCKERFILE
    for path in (ignore_path, dockerfile):
        if not path.is_file():
            raise ConfigError(path, "missing", fix="run `ws docker generate` and commit the result")
    ignore = DockerIgnore.from_file(ignore_path, root=ws.root)
    name = (member.rel / DOCKERFILE).as_posix()
    # Docker always sends the Dockerfile; a whitelist that leaves it out still builds.
    extra = None if not ignore.excluded(name) else (name, read_regular(dockerfile, root=ws.root))
    handle, report = context_tar(ws.root, ignore, dockerfile=extra)
    return handle, report, name


@contextmanager
def _engine_errors(member: str, action: str) -> Iterator[None]:
    try:
        yield
    except docker.errors.APIError as e:
        raise BuildFailed(f"{member}: the engine refused to {action}: {e.explanation or e}") from e
    except (docker.errors.DockerException, requests.exceptions.RequestException) as e:
        raise DockerUnavailable(
            f"{member}: lost the Docker engine while trying to {action}: {e}\n  fix: {ENGINE_FIX}"
        ) from e


def send_build(
    client: docker.DockerClient,
    member: str,
    context: IO[bytes],
    dockerfile: str,
    *,
    buildargs: Mapping[str, str] | None = None,
    labels: Mapping[str, str] | None = None,
    no_cache: bool = False,
    buildkit: bool = False,
    progress: Progress = _quiet,
) -> tuple[str, list[Step]]:
    """Build context (a tar) on the host network, with the engine's BuildKit or its classic
    builder; (image id, steps)."""
    with _engine_errors(member, "build"):
        if buildkit:
            log: BuildLog = BuildKitLog(member, progress)
            params = {
                "version": "2",
                "dockerfile": dockerfile,
                "networkmode": "host",
                "nocache": "1" if no_cache else "0",
                "buildargs": json.dumps(dict(buildargs or {})),
                "labels": json.dumps(dict(labels or {})),
            }
            events = _buildkit_events(client, member, context, params)
        else:
            log = BuildLog(member, progress)
            events = client.api.build(
                fileobj=context,
                custom_context=True,
                dockerfile=dockerfile,
                network_mode="host",
                rm=True,
                forcerm=True,
                decode=True,
                nocache=no_cache,
                buildargs=dict(buildargs or {}),
                labels=dict(labels or {}),
                timeout=None,  # a RUN step may stay silent for longer than any read timeout
            )
        image_id = log.consume(events)
    return image_id, log.steps


def _buildkit_events(
    client: docker.DockerClient, member: str, context: IO[bytes], params: Mapping[str, str]
) -> Iterator[dict[str, Any]]:
    """POST /build with version=2. docker-py's build() cannot ask for BuildKit, so the request
    goes through its session: the same transport, TLS settings and API version."""
    api = client.api
    response = api.post(
        f"{api.base_url}/v{api.api_version}/build",
        params=params,
        data=context,
        headers={"Content-Type": "application/x-tar"},
        stream=True,
        timeout=None,
    )
    with response:
        if response.status_code >= 400:
            raise BuildFailed(
                f"{member}: the engine refused a BuildKit build: {_message(response)}\n"
                "  fix: build with --builder classic"
            )
        for line in response.iter_lines():
            if not line.strip():
                continue
            try:
                yield json.loads(line)
            except ValueError as e:
                raise BuildFailed(f"{member}: unreadable build event from the engine: {e}") from e


def _message(response: requests.Response) -> str:
    try:
        return str(response.json().get("message") or response.text)
    except ValueError:
        return response.text.strip() or f"HTTP {response.status_code}"


def uses_buildkit(client: docker.DockerClient, builder: Builder) -> bool:
    """Whether builds go to the engine's BuildKit: asked for, or (auto) an engine that has it."""
    if builder != "auto":
        return builder == "buildkit"
    with _engine_errors("ws", "report its version"):
        version = client.version()
    api = tuple(int(p) for p in str(version.get("ApiVersion", "0.0")).split(".")[:2])
    return version.get("Os") == "linux" and api >= BUILDKIT_API


def ensure_base_images(
    client: docker.DockerClient, refs: Sequence[str], progress: Progress = _quiet
) -> None:
    """Pull, through the Engine API, each base image the engine does not hold yet.

    BuildKit inside the engine has no client session to ask for registry credentials, so it
    pulls anonymously; docker-py's pull sends the user's credentials, and BuildKit then finds
    the image locally.
    """
    for ref in refs:
        try:
            client.api.inspect_image(ref)
            continue
        except docker.errors.ImageNotFound:
            pass
        except (docker.errors.DockerException, requests.exceptions.RequestException) as e:
            raise DockerUnavailable(f"cannot look up {ref}: {e}\n  fix: {ENGINE_FIX}") from e
        progress("ws", f"pulling {ref}")
        try:
            for event in client.api.pull(ref, stream=True, decode=True):
                if is_error(event):
                    raise docker.errors.APIError(error_text(event))
        except docker.errors.APIError as e:
            raise RegistryError(
                f"cannot pull the base image {ref}: {e.explanation or e}\n"
                "  fix: check the registry answers and that `docker login` holds its credentials"
            ) from e


def _tag(client: docker.DockerClient, member: str, image_id: str, refs: Sequence[str]) -> None:
    with _engine_errors(member, "tag the image"):
        for text in refs:
            ref = imageref.parse_image_ref(text)
            client.api.tag(image_id, ref.name, ref.tag, force=True)


def _push(client: docker.DockerClient, member: str, ref: str, progress: Progress) -> str:
    parsed = imageref.parse_image_ref(ref)
    try:
        events = client.api.push(parsed.name, tag=parsed.tag, stream=True, decode=True)
        return PushLog(ref, member, progress).consume(events)
    except docker.errors.APIError as e:
        raise RegistryError(
            f"{member}: the engine refused to push {ref}: {e.explanation or e}\n"
            "  fix: check the registry address in [tool.ws.docker] and that it accepts pushes"
        ) from e
    except (docker.errors.DockerException, requests.exceptions.RequestException) as e:
        raise DockerUnavailable(
            f"{member}: lost the Docker engine while pushing {ref}: {e}\n  fix: {ENGINE_FIX}"
        ) from e


@dataclass(frozen=True)
class _Job:
    client: docker.DockerClient
    ws: Workspace
    revision: Revision
    opts: BuildOptions
    progress: Progress
    buildkit: bool
    version_args: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    on_built: Callable[[str], None] = field(default=lambda _member: None)

    def buildargs(self, name: str) -> dict[str, str]:
        args = {REVISION_ARG: self.revision.label, **self.version_args.get(name, {})}
        if self.revision.source:
            args[SOURCE_ARG] = self.revision.source
        return args

    def build(self, name: str) -> BuiltImage:
        member = self.ws.members[name]
        refs = image_refs(self.ws, member, self.revision, self.opts.tags)
        context, report, dockerfile = member_context(self.ws, member)
        for skipped in report.skipped:
            self.progress(name, f"left out of the context: {skipped.path}: {skipped.reason}")
        with context:
            image_id, steps = send_build(
                self.client,
                name,
                context,
                dockerfile,
                buildargs=self.buildargs(name),
                labels=self.opts.labels,
                no_cache=self.opts.no_cache,
                buildkit=self.buildkit,
                progress=self.progress,
            )
        _tag(self.client, name, image_id, refs)
        pushed = (
            {ref: _push(self.client, name, ref, self.progress) for ref in refs}
            if self.opts.push
            else {}
        )
        self.on_built(name)
        return BuiltImage(name, image_id, tuple(refs), tuple(steps), report, pushed)


# ---------------------------------------------------------------- many images


def build_members(
    client: docker.DockerClient,
    ws: Workspace,
    graph: nx.DiGraph,
    names: Collection[str],
    opts: BuildOptions,
    progress: Progress = _quiet,
    on_built: Callable[[str], None] = lambda _member: None,
) -> list[BuiltImage]:
    """Build names' images wave by wave (dependencies first), up to opts.jobs at once;
    on_built hears of each member whose image is done.

    Refuses stale generated files or locks before building anything; stops after the first
    wave in which a build fails, raising that failure (all of them when several failed).
    """
    root = load_root_config(ws)
    if opts.push and root.registry is None:
        raise ConfigError(
            ws.pyproject,
            "--push needs a registry to push to, and [tool.ws.docker] names none",
            fix='set registry = "host:port/namespace" under [tool.ws.docker]',
        )
    check_inputs(ws, graph, names, opts.locks)
    buildkit = uses_buildkit(client, opts.builder)
    if buildkit:
        ensure_base_images(client, [str(root.python_image), str(root.uv_image)], progress)
    revision = git_revision(ws.root)  # first: it says what to do outside a git checkout
    versions = git_version_args(ws, graph, names)
    job = _Job(client, ws, revision, opts, progress, buildkit, versions, on_built)
    for name in names:  # refuse a bad --tag before the first build starts
        image_refs(ws, ws.members[name], job.revision, opts.tags)
    built: list[BuiltImage] = []
    for wave in build_waves(graph, names):
        built += _run_wave(job, wave)
    return built


def _run_wave(job: _Job, wave: list[str]) -> list[BuiltImage]:
    failures: list[WsError] = []
    done: list[BuiltImage] = []
    with ThreadPoolExecutor(max_workers=max(1, min(job.opts.jobs, len(wave)))) as pool:
        futures = [pool.submit(job.build, name) for name in wave]
        for future in futures:
            try:
                done.append(future.result())
            except WsError as e:
                failures.append(e)
    if len(failures) == 1:
        raise failures[0]
    if failures:
        raise BuildFailed(
            f"{len(failures)} image builds failed:\n\n" + "\n\n".join(map(str, failures))
        )
    return done

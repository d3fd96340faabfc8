"""ws docker build: check the inputs, send each member's context to the engine, tag, push.

Everything is worked out once, up front, and passed down: the configuration, each image's
inputs (which give both its whitelist and the freshness of its generated files), the git
revision and the files git holds. Only then does the first context go to the engine.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Collection, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING

from ws import git
from ws.docker.builds import engine
from ws.docker.builds.context import ContextReport, DockerIgnore, context_tar
from ws.docker.builds.endpoint import DEFAULT_SOCKET, Endpoint
from ws.docker.builds.stream import Progress, Step, StepFailed
from ws.docker.generate.config import DockerConfig, RootConfig, image_name
from ws.docker.generate.files import check_generated, plan_images, select_images
from ws.docker.generate.gitversion import (
    DEFAULT_VERSION,
    VERSION_ARG,
    BackendVersions,
    backend_versions,
    version_overrides,
)
from ws.docker.generate.render import ImageInputs, beside, member_ignore_patterns
from ws.docker.pin import imageref
from ws.docker.session.plan import Access, Offer, Redactor, index_tables, member_offer
from ws.errors import BuildFailed, ConfigError, StaleFiles, WsError
from ws.fsio import read_regular
from ws.locks.sync import LockOptions, check_locks
from ws.state import Records
from ws.workspace.graph import workspace_closure
from ws.workspace.members import Member, Workspace

if TYPE_CHECKING:
    import docker

    from ws.docker.session.channel import Session

REVISION_ARG = "WS_REVISION"
SOURCE_ARG = "WS_SOURCE"
DEPS_STAGE = "deps"  # the generated Dockerfiles' dependency stage: a cache image of its own
_TAG_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")
_TAG_FIX = "use letters, digits, '_', '.' and '-'"


def _quiet(_member: str, _line: str) -> None:
    """The default progress sink: ws core never prints."""


@dataclass(frozen=True)
class BuildOptions:
    locks: LockOptions  # how to check the locks (uv binary, environment)
    tags: tuple[str, ...] = ()  # more tags for every image, besides version and revision
    push: bool = False
    jobs: int = 1
    no_cache: bool = False
    labels: Mapping[str, str] = field(default_factory=dict)  # more labels for every image
    cache_from: tuple[str, ...] = ()  # tags of each image's repository to take a cache from
    cache_to: str | None = None  # the tag of each image's repository to leave a cache at
    # The engine the client talks to (its build sessions open there; None: the local socket)
    endpoint: Endpoint | None = None
    access: Access | None = None  # where the host keeps credentials (None: nowhere)
    # What this machine verified before (ws.state); what this build verifies is noted there.
    records: Records | None = None


@dataclass(frozen=True)
class BuiltImage:
    member: str
    image_id: str
    refs: tuple[str, ...]  # as the engine and the user name them
    steps: tuple[Step, ...]
    context: ContextReport
    pushed: Mapping[str, str] = field(default_factory=dict)  # ref -> manifest digest
    warnings: tuple[str, ...] = ()  # what the user should know, such as a missing version tag


# ---------------------------------------------------------------- which members


def select_members(
    ws: Workspace,
    config: DockerConfig,
    names: Sequence[str] = (),
    *,
    every: bool = False,
    since: str | None = None,
) -> list[str]:
    """The members to build: named ones, every image member, or those affected since a ref."""
    if sum([bool(names), every, since is not None]) != 1:
        raise WsError(
            "say which images to build",
            fix="name members, or pass --all, or --affected --since REF (one of the three)",
        )
    if since is not None:
        from ws.workspace.changes import affected  # the graph is needed only here
        from ws.workspace.graph import build_graph

        return sorted(affected(ws, build_graph(ws), since)[1] & set(config.images))
    return select_images(ws, config, None if every else names)


def build_waves(ws: Workspace, names: Collection[str]) -> list[list[str]]:
    """names in waves, each needing only earlier ones; order runs through members in between."""
    if len(names) == 1:
        return [list(names)]
    from ws.workspace.graph import build_graph, closure_of, levels

    graph = build_graph(ws)
    wanted = set(names)
    waves = [[n for n in wave if n in wanted] for wave in levels(graph, closure_of(graph, wanted))]
    return [wave for wave in waves if wave]


# ---------------------------------------------------------------- inputs


def check_inputs(
    ws: Workspace,
    config: DockerConfig,
    images: Sequence[ImageInputs],
    locks: LockOptions,
    records: Records | None = None,
) -> Mapping[str, bytes | None]:
    """Refuse stale generated files or locks: one StaleFiles naming each and its fix; else
    the member locks as checked (by member), which the build reads no more.

    Generated files are current when their recorded digest says so; otherwise they are
    rendered and compared, and recorded when they match. Locks: the root lock and each
    image member's own (its image installs from that alone)."""
    problems: list[str] = []
    fixes: list[str] = []
    stale = check_generated(ws, config, images, records)
    if stale:
        problems += stale
        fixes.append("run `ws docker generate`")
    checked: Mapping[str, bytes | None] = {}
    try:
        names = [inputs.name for inputs in images]
        checked = check_locks(ws, names, locks, dependents=False, records=records)
    except StaleFiles as e:
        problems += e.problems
        fixes.append("run `ws sync-locks`")
    if problems:
        raise StaleFiles(problems, " and ".join(fixes) + ", commit the result, then build again")
    return checked


@dataclass(frozen=True)
class ImageVersions:
    """The version build argument of each image whose closure takes a version from git tags,
    and what the user should know about it (a version no backend gave, or two that differ)."""

    args: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    warnings: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


def version_args(ws: Workspace, images: Sequence[ImageInputs], locks: LockOptions) -> ImageVersions:
    """Each git-versioned member's version as its own backend gives it on this checkout (the
    build context holds no .git), fed to the image of it or of a member needing it."""
    needing = {i.name: _git_members(ws, i.name) for i in images if i.version_env}
    if not needing:
        return ImageVersions()
    wanted = sorted({member for members in needing.values() for member in members})
    folders = {name: ws.members[name].path for name in wanted}
    computed = backend_versions(ws.root, folders, locks.uv, locks.env)
    args: dict[str, dict[str, str]] = {}
    warnings: dict[str, tuple[str, ...]] = {}
    for image, members in needing.items():
        source = image if image in members else members[0]
        version = computed.versions.get(source)
        if version is not None:
            args[image] = {VERSION_ARG: version}
        warnings[image] = tuple(_version_warnings(image, members, source, computed))
    return ImageVersions(args, warnings)


def _git_members(ws: Workspace, name: str) -> list[str]:
    """The members of name's closure (itself too) whose backends take their version from git,
    sorted: the closure that gave its Dockerfile the version argument."""
    return sorted(n for n in workspace_closure(ws, name) if version_overrides(ws.members[n]))


def _version_warnings(
    image: str, members: Sequence[str], source: str, computed: BackendVersions
) -> list[str]:
    """Why a member of the image installs at a version its backend would not give it: the
    backend could not be asked, or one build argument feeds every backend of the image."""
    version = computed.versions.get(source)
    if version is None:
        untagged = " and the image is not tagged with a version" if source == image else ""
        return [
            f"{source}'s version could not be computed, so the image installs it as "
            f"{DEFAULT_VERSION}{untagged}: {computed.failures[source]}"
        ]
    differ = [m for m in members if computed.versions.get(m, version) != version]
    failed = [m for m in members if m in computed.failures]
    return [
        f"{m}'s backend gives it {computed.versions[m]}, but the image installs it as {version} "
        f"({source}'s): one build argument feeds every git-versioned member of an image"
        for m in differ
    ] + [f"{m}: {computed.failures[m]}; the image installs it as {version}" for m in failed]


def image_version(member: Member, versions: ImageVersions) -> str | None:
    """The version member's image installs it at: its static [project] version, else the one
    its backend gives from git tags (versions: version_args); None when only building it
    could tell (uv's lock holds no version for a dynamic one, and `uv version` refuses it)."""
    if member.version is not None:
        return member.version
    if version_overrides(member):
        return versions.args.get(member.name, {}).get(VERSION_ARG)
    return None


def no_version_tag(name: str, revision: git.Revision) -> str:
    """The warning for an image whose member's version ws cannot know before building it."""
    return (
        f"{name}'s version is dynamic and does not come from git tags, so ws cannot know it "
        f"before the build (uv tells it only by building {name}): its image is tagged "
        f":{revision.tag} and not with a version; pass --tag VERSION to add one"
    )


def image_refs(
    ws: Workspace,
    root: RootConfig,
    name: str,
    revision: git.Revision,
    extra: Sequence[str],
    version: str | None,
) -> list[imageref.ImageRef]:
    """<repository>:<version> (when known), <repository>:<short sha>, and <repository>:<tag>
    for each extra."""
    repository = image_repository(ws, root, name)
    tags = [_TAG_UNSAFE.sub("-", version)] if version else []
    return [
        _tagged(repository, tag, "--tag" if tag in extra else str(ws.pyproject))
        for tag in dict.fromkeys([*tags, revision.tag, *extra])
    ]


def cache_refs(ws: Workspace, root: RootConfig, name: str, tag: str) -> list[imageref.ImageRef]:
    """The cache a tag names: the image and its dependency stage (both inline caches)."""
    repository = image_repository(ws, root, name)
    source = "--cache-from/--cache-to"
    return [_tagged(repository, tag, source), _tagged(repository, f"{tag}-{DEPS_STAGE}", source)]


def image_repository(ws: Workspace, root: RootConfig, name: str) -> imageref.ImageRef:
    """The repository name's image is tagged in, read once (the registry setting + name)."""
    try:
        return imageref.parse_image_ref(image_name(root, name))
    except ValueError as e:
        raise WsError(f"{ws.pyproject}: {e}", fix=_TAG_FIX) from e


def _tagged(repository: imageref.ImageRef, tag: str, source: str) -> imageref.ImageRef:
    try:
        return repository.with_tag(tag)
    except ValueError as e:
        raise WsError(f"{source}: {e}", fix=_TAG_FIX) from e


# ---------------------------------------------------------------- one image


def member_context(
    ws: Workspace, inputs: ImageInputs, held: Collection[str] | None
) -> tuple[IO[bytes], ContextReport, str]:
    """The member's build context (the workspace root through its whitelist, of the files
    git holds) as a rewound temporary file, what went in, and the Dockerfile's path in it."""
    name = inputs.dockerfile
    dockerfile = read_regular(ws.root / name, root=ws.root)
    ignore = DockerIgnore(member_ignore_patterns(inputs), source=beside(inputs.rel, "whitelist"))
    # Docker always sends the Dockerfile, which the whitelist keeps out of the folders.
    handle, report = context_tar(ws.root, ignore, dockerfile=(name, dockerfile), held=held)
    return handle, report, name


@dataclass(frozen=True)
class _Job:
    client: docker.DockerClient
    ws: Workspace
    root: RootConfig
    revision: git.Revision
    held: frozenset[str] | None
    opts: BuildOptions
    progress: Progress
    versions: ImageVersions = field(default_factory=ImageVersions)
    on_built: Callable[[str], None] = field(default=lambda _member: None)
    offers: Mapping[str, Offer] = field(default_factory=dict)
    redact: Redactor = field(default_factory=Redactor)

    def buildargs(self, name: str) -> dict[str, str]:
        args = {REVISION_ARG: self.revision.label, **self.versions.args.get(name, {})}
        if self.revision.source:
            args[SOURCE_ARG] = self.revision.source
        return args

    def cache_refs(self, name: str, tag: str) -> list[imageref.ImageRef]:
        return cache_refs(self.ws, self.root, name, tag)

    def build(self, inputs: ImageInputs) -> BuiltImage:
        name = inputs.name
        version = image_version(self.ws.members[name], self.versions)
        refs = image_refs(self.ws, self.root, name, self.revision, self.opts.tags, version)
        cache_from = [ref for tag in self.opts.cache_from for ref in self.cache_refs(name, tag)]
        offer = self.offers.get(name, Offer())
        cache_from = engine.in_registry(self.client, cache_from, self.progress, offer.logins)
        context, report, dockerfile = member_context(self.ws, inputs, self.held)
        for skipped in report.skipped:
            self.progress(name, f"left out of the context: {skipped.path}: {skipped.reason}")
        pushes = list(refs) if self.opts.push else []
        tags = list(refs)
        with context, self._session(offer) as session:
            if self.opts.cache_to:
                pushes += self._deps_cache(name, context, dockerfile, cache_from, offer, session)
                tags.append(self.cache_refs(name, self.opts.cache_to)[0])
                pushes.append(tags[-1])
            params = engine.build_params(
                dockerfile,
                buildargs=self.buildargs(name),
                labels=self.opts.labels,
                tags=[str(t) for t in tags],  # in the request: not one per tag (each a login)
                cache_from=[str(ref) for ref in cache_from],
                no_cache=self.opts.no_cache,
                session=session.id,
            )
            image_id, steps = self._build(name, context, params, offer, session)
        pushed = {str(ref): engine.push(self.client, name, ref, self.progress) for ref in pushes}
        self.on_built(name)
        warnings = self.versions.warnings.get(name, ())
        if version is None and not inputs.git_version:
            warnings += (no_version_tag(name, self.revision),)
        shown = tuple(str(ref) for ref in refs)
        return BuiltImage(name, image_id, shown, tuple(steps), report, pushed, warnings)

    def _session(self, offer: Offer) -> Session:
        """A BuildKit session on the engine serving offer: the generated Dockerfiles' secret
        and ssh mounts need one, as the docker CLI always opens one."""
        from ws.docker.session.channel import Session

        endpoint = self.opts.endpoint or Endpoint(DEFAULT_SOCKET, "the local engine")
        return Session.offering(endpoint, self.client.api.api_version, offer)

    def _build(
        self,
        name: str,
        context: IO[bytes],
        params: Mapping[str, str],
        offer: Offer,
        session: Session,
    ) -> tuple[str, list[Step]]:
        """engine.build with every secret of the session masked in what it reports.

        The session opens once the engine has the build (it copies the context first, tens
        of milliseconds): its thread's import then overlaps the engine's work, not the
        preparing of the request. A session that could not open is the error, whatever the
        build said (a step waited for it in vain); one still opening after a build that
        needed none holds nothing up."""
        redact = self.redact
        session.raise_failure()  # of the build before, when a dependency stage went first
        try:
            found = engine.build(
                self.client,
                name,
                context,
                params,
                lambda m, line: self.progress(m, redact(line)),
                answered=session.start,
            )
        except StepFailed as e:
            session.check()
            raise _masked_failure(e, offer, redact) from e
        except WsError:
            session.check()
            raise
        session.raise_failure()
        return found

    def _deps_cache(
        self,
        name: str,
        context: IO[bytes],
        dockerfile: str,
        cache_from: Sequence[imageref.ImageRef],
        offer: Offer,
        session: Session,
    ) -> list[imageref.ImageRef]:
        """Build the dependency stage as an image of its own and tag it as the cache: an
        inline cache holds only the final image's chain, not the stage the builder starts
        from. The full build then finds every step of it in the engine's cache."""
        ref = self.cache_refs(name, self.opts.cache_to or "")[1]
        params = engine.build_params(
            dockerfile,
            buildargs=self.buildargs(name),
            labels=self.opts.labels,
            tags=[str(ref)],
            target=DEPS_STAGE,
            cache_from=[str(r) for r in cache_from],
            no_cache=self.opts.no_cache,
            session=session.id,
        )
        self._build(name, context, params, offer, session)
        context.seek(0)
        return [ref]


def _masked_failure(error: StepFailed, offer: Offer, redact: Redactor) -> BuildFailed:
    """A failed build as ws reports it: an index refusing the login said as such, and no
    secret of the session in the text."""
    from ws.docker.session.indexes import refusal

    output = [*error.output, error.error]
    refused = refusal(output, offer.index_logins)
    if refused is not None:
        where = f", in the uv sync of stage {error.step.stage}" if error.step else ""
        return BuildFailed(
            redact(f"{error.member}: the index at {refused}{where}"),
            fix="check that login (or give the right one where uv looks for it), then build again",
        )
    step = error.step
    if step is not None:
        step = dataclasses.replace(step, output=[redact(line) for line in step.output])
    return StepFailed(error.member, step, redact(error.error), error.steps)


def session_offers(
    ws: Workspace,
    images: Sequence[ImageInputs],
    access: Access | None,
    redact: Redactor,
    member_locks: Mapping[str, bytes | None],
) -> dict[str, Offer]:
    """What each image's build session offers (from its member lock as checked: member_locks),
    worked out before the first build: an index that wants a login the host lacks, or an
    ssh git host without an agent or a known key, is an error now."""
    if access is None:
        return {}
    from ws.docker.session.logins import docker_logins

    tables = index_tables(ws.data, ws.root)
    logins = docker_logins(access.docker_config, redact.add)
    offers = {}
    asked: dict[str, bool] = {}  # each index is asked once a run whether it wants a login
    for inputs in images:
        lock, data = ws.root / inputs.lock, member_locks.get(inputs.name)
        offer = member_offer(lock, data, inputs.lock, tables, access, logins, asked)
        redact.add(*offer.index_logins.secrets())
        offers[inputs.name] = offer
    return offers


# ---------------------------------------------------------------- many images


def build_members(
    client: docker.DockerClient,
    ws: Workspace,
    config: DockerConfig,
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
    root = _root(ws, config, opts)
    images = {inputs.name: inputs for inputs in plan_images(ws, config, names)}
    checked = check_inputs(ws, config, list(images.values()), opts.locks, opts.records)
    revision = git.revision(ws.root)  # first: it says what to do outside a git checkout
    versions = version_args(ws, list(images.values()), opts.locks)
    for name in images:  # refuse a bad --tag or cache tag before the first build starts
        image_refs(ws, root, name, revision, opts.tags, image_version(ws.members[name], versions))
        for tag in [*opts.cache_from, *([opts.cache_to] if opts.cache_to else [])]:
            cache_refs(ws, root, name, tag)
    redact = Redactor()
    offers = session_offers(ws, list(images.values()), opts.access, redact, checked)
    held = git.held_files(ws.root)
    job = _Job(client, ws, root, revision, held, opts, progress, versions, on_built, offers, redact)
    built: list[BuiltImage] = []
    for wave in build_waves(ws, names):
        built += _run_wave(job, [images[name] for name in wave])
    return built


def _root(ws: Workspace, config: DockerConfig, opts: BuildOptions) -> RootConfig:
    if config.root is None:
        raise ConfigError(
            ws.pyproject,
            "`tool.ws.docker` is missing",
            fix='add python-image = "..." and uv-image = "..." under [tool.ws.docker]',
        )
    if (opts.push or opts.cache_to) and config.root.registry is None:
        flag = "--push" if opts.push else "--cache-to"
        raise ConfigError(
            ws.pyproject,
            f"{flag} needs a registry to push to, and [tool.ws.docker] names none",
            fix='set registry = "host:port/namespace" under [tool.ws.docker]',
        )
    return config.root


def _run_wave(job: _Job, wave: list[ImageInputs]) -> list[BuiltImage]:
    failures: list[WsError] = []
    done: list[BuiltImage] = []
    with ThreadPoolExecutor(max_workers=max(1, min(job.opts.jobs, len(wave)))) as pool:
        futures = [pool.submit(job.build, inputs) for inputs in wave]
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

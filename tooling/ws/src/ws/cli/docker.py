"""The `ws docker` commands: generate the Docker files, pin the base images (build: see below)."""

from __future__ import annotations

import os
import sys
from functools import partial
from typing import TYPE_CHECKING, Annotated

import typer

from ws.cli.common import (
    handle_errors,
    live_progress,
    load_workspace_only,
    open_records,
    out,
    say,
    usage_error,
    user_home,
    warn,
    workspace_uv,
)
from ws.cli.progress import LiveBuilds
from ws.printable import printable

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    import networkx as nx

    from ws.docker.generate.config import DockerConfig, RootConfig
    from ws.docker.generate.render import ImageInputs
    from ws.docker.session.plan import Access
    from ws.state import Records
    from ws.workspace.members import Workspace

docker_app = typer.Typer(
    help="Docker images of the members with a [tool.ws.docker] table.",
    no_args_is_help=True,
)

GENERATE_FIX = "run `ws docker generate` and commit the files"
PIN_FIX = "run `ws docker pin`, then `ws docker generate`, and commit"


@docker_app.command()
@handle_errors
def generate(
    members: Annotated[
        list[str] | None, typer.Argument(help="Only these image members (default: all).")
    ] = None,
    check: Annotated[
        bool, typer.Option("--check", help="Write nothing; exit 1 if a generated file is stale.")
    ] = False,
) -> None:
    """Write each image member's Dockerfile, its .dockerignore and its root pyproject."""
    from ws.docker.generate import files as gen
    from ws.docker.generate import freshness
    from ws.docker.generate.config import load_config
    from ws.errors import StaleFiles

    ws = load_workspace_only()
    config = load_config(ws)
    # Each image planned once (its path sources read from the root lock once), then
    # rendered and recorded from that plan.
    images = gen.plan_images(ws, config, gen.select_images(ws, config, members))
    files = gen.image_files(ws, _graph(ws) if images else None, images)
    orphans = [] if members else gen.orphaned_files(ws, config)
    if check:
        current = freshness.read_files(ws.root, images)
        problems = gen.stale_generated(ws.root, files, orphans, current)
        if problems:
            raise StaleFiles(problems, GENERATE_FIX)
        _record(ws, images, current, every=not members)
        say("all generated Docker files are up to date")
        return
    changed = gen.write_generated(ws.root, files, orphans)
    written = {rel: text.encode() for rel, text in files.items()}
    _record(ws, images, written, every=not members)
    for rel in changed:
        say(f"{'removed' if rel in orphans else 'wrote'} {printable(rel)}")
    if not changed:
        say("all generated Docker files are up to date")


def _graph(ws: Workspace) -> nx.DiGraph:
    from ws.workspace.graph import build_graph  # networkx only when images are rendered

    return build_graph(ws)


def _record(
    ws: Workspace,
    images: Sequence[ImageInputs],
    files: Mapping[str, bytes | None],
    *,
    every: bool,
) -> None:
    """Note the files just written or checked (files: their bytes) as current, for `ws
    docker build` and `ws check`; with every, the set of image members as a whole too."""
    from ws.docker.generate import freshness

    records = open_records(ws)
    freshness.record(ws, images, records, files, every=every)
    records.save()


@docker_app.command()
@handle_errors
def pin(
    check: Annotated[
        bool,
        typer.Option("--check", help="Write nothing; exit 1 if a pin is missing or its tag moved."),
    ] = False,
) -> None:
    """Pin python-image and uv-image to the digests their tags point at now."""
    from ws.docker.generate.config import load_root_config
    from ws.docker.pin import pins, registry
    from ws.errors import StaleFiles
    from ws.registry.transport import proxy_settings

    ws = load_workspace_only()
    root = load_root_config(ws)
    # Proxies as docker and uv read them; the core never reads the environment itself.
    resolver = partial(registry.resolve_all, proxies=proxy_settings(os.environ))
    if check:
        problems = pins.check_pins(ws.pyproject, root, resolver)
        if problems:
            raise StaleFiles(problems, PIN_FIX)
        say("every base image is pinned to the digest its tag points at")
        return
    writable = open_records(ws).writable  # a .ws git tracks holds no lock of ws's
    changes = pins.pin_images(ws.pyproject, root, resolver, writable=writable)
    for change in changes:
        say(printable(f"{change.key}: {change.old} -> {change.new}"))
    if changes:
        say("now run `ws docker generate` to use the new pins")
    else:
        say("every base image is pinned to the digest its tag points at")


def docker_problems(ws: Workspace, records: Records) -> tuple[list[tuple[str, str]], bool]:
    """(problem, fix) for every stale generated file and stale pin, and whether the
    workspace has any Docker setting to check; for `ws check`."""
    from ws.docker.generate.config import load_config

    config = load_config(ws)
    configured = config.root is not None or bool(config.images)
    problems = [] if config.root is None else _pin_problems(ws, config.root)
    problems += _generated_problems(ws, config, records)
    # An unpinned image stops generation with the very line the pin check gave: keep one.
    unique: dict[str, tuple[str, str]] = {}
    for line, fix in problems:
        unique.setdefault(line, (line, fix))
    return list(unique.values()), configured


def _generated_problems(
    ws: Workspace, config: DockerConfig, records: Records
) -> list[tuple[str, str]]:
    from ws.docker.generate import files as gen
    from ws.errors import WsError

    try:
        found = gen.check_generated(ws, config, None, records)
    except WsError as e:  # e.g. an unpinned image: one problem; the other checks still run
        return [(e.message.splitlines()[0], e.fix or GENERATE_FIX)]
    return [(line, GENERATE_FIX) for line in found]


def _pin_problems(ws: Workspace, root: RootConfig) -> list[tuple[str, str]]:
    """Pins as `ws check` sees them: offline, for form only (the generated Dockerfiles must
    use them: the generated-file check says so). A tag that moved is an update, which
    `ws docker pin --check` reports online, as Renovate does."""
    from ws.docker.pin import pins

    return [(line, PIN_FIX) for line in pins.unpinned(ws.pyproject, root)]


# ---------------------------------------------------------------- ws docker build


@docker_app.command()
@handle_errors
def build(
    members: Annotated[list[str] | None, typer.Argument(help="The image members to build.")] = None,
    every: Annotated[
        bool, typer.Option("--all", help="Every member with a [tool.ws.docker] table.")
    ] = False,
    affected: Annotated[
        bool, typer.Option("--affected", help="Image members affected since --since REF.")
    ] = False,
    since: Annotated[
        str | None, typer.Option("--since", help="The git ref for --affected.")
    ] = None,
    tag: Annotated[
        list[str] | None, typer.Option("--tag", "-t", help="One more tag for every image.")
    ] = None,
    push: Annotated[bool, typer.Option("--push", help="Push every tag to the registry.")] = False,
    jobs: Annotated[
        int | None, typer.Option("--jobs", "-j", help="Builds at once (at least 1).")
    ] = None,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Run every step afresh.")] = False,
    cache_from: Annotated[
        list[str] | None,
        typer.Option(
            "--cache-from",
            metavar="TAG",
            help="Take a build cache from each image's repository at TAG (and TAG-deps), "
            "as --cache-to left it; missing ones are skipped. Repeatable.",
        ),
    ] = None,
    cache_to: Annotated[
        str | None,
        typer.Option(
            "--cache-to",
            metavar="TAG",
            help="Push each image as TAG and its dependency stage as TAG-deps, "
            "both with an inline cache, for --cache-from on another machine.",
        ),
    ] = None,
) -> None:
    """Build (and push) member images, dependencies first, from the generated Dockerfiles."""

    from ws.docker.builds import endpoint, engine
    from ws.docker.builds import images as building
    from ws.docker.generate.config import load_config
    from ws.locks.sync import LockOptions

    if jobs is not None and jobs < 1:
        raise usage_error(f"--jobs {jobs}: at least one build at a time", "--jobs 2")
    if affected != (since is not None):
        raise usage_error("--affected and --since go together", "--affected --since origin/main")
    if sum([bool(members), every, affected]) != 1:  # as select_members wants, but exit 2
        raise usage_error(
            "say which images to build",
            "name members, or pass --all, or --affected --since REF (one of the three)",
        )
    ws = load_workspace_only()
    config = load_config(ws)
    names = building.select_members(ws, config, members or [], every=every, since=since)
    if not names:
        say("no image member is affected: nothing to build")
        return
    env = dict(os.environ)
    cores = jobs or os.cpu_count() or 1
    engine_at = endpoint.resolve(env)
    opts = building.BuildOptions(
        locks=LockOptions(uv=workspace_uv(ws, env), env=env, home=user_home(env)),
        tags=tuple(tag or ()),
        push=push,
        jobs=cores,
        no_cache=no_cache,
        cache_from=tuple(cache_from or ()),
        cache_to=cache_to,
        records=open_records(ws),
        endpoint=engine_at,
        access=credential_access(env),
    )
    client = engine.connect(engine_at)
    display = LiveBuilds(len(names), sys.stderr, live=live_progress())
    try:
        images = building.build_members(client, ws, config, names, opts, display, display.built)
    finally:
        display.close()
        if opts.records is not None:
            opts.records.save()
    for image in images:
        out(printable(f"{image.member}: {image.image_id}"))
        for ref in image.refs:
            pushed = image.pushed.get(ref)
            out("  " + printable(f"{ref}" + (f"  pushed {pushed}" if pushed else "")))
    for image in images:
        for warning in image.warnings:
            warn(warning)


def credential_access(env: Mapping[str, str]) -> Access:
    """Where this machine keeps what a build may need: uv's variables and netrc, the ssh
    agent and known hosts, docker's config (its logins)."""
    from pathlib import Path

    from ws.docker.builds.endpoint import default_config_dir
    from ws.docker.session.indexes import Where
    from ws.docker.session.plan import Access

    home = user_home(dict(env)) or Path.home()
    return Access(
        where=Where.of(env, home),
        ssh_agent=env.get("SSH_AUTH_SOCK") or None,
        known_hosts=(home / ".ssh" / "known_hosts", Path("/etc/ssh/ssh_known_hosts")),
        docker_config=default_config_dir(env),
    )

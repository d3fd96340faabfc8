"""Building the image test workspace on the real engine (its BuildKit): what the builds made
(for the cleanup), running a build, looking inside an image, and the workspace edits the
tests make."""

from __future__ import annotations

import io
import json
import os
import tarfile
import tomllib
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
import docker.utils.build
from ws.cli.common import open_records
from ws.docker.builds import engine
from ws.docker.builds.images import BuildOptions, BuiltImage, build_members
from ws.docker.builds.stream import Step
from ws.docker.generate.config import load_config
from ws.docker.pin.imageref import parse_image_ref
from ws.locks.sync import LockOptions
from ws.workspace.members import load_workspace


@dataclass(frozen=True)
class Made:
    """The label every image and container of a test module carries: removed by it at the
    module's end (BuildKit leaves no intermediate images to track)."""

    label: dict[str, str]

    @property
    def selector(self) -> str:
        """The label as a filter: key=value."""
        return "=".join(next(iter(self.label.items())))


def build(
    client: docker.DockerClient,
    made: Made,
    root: Path,
    names: list[str],
    locks: LockOptions,
    **options: Any,
) -> tuple[list[BuiltImage], list[tuple[str, str]]]:
    """build_members on the workspace at root; the images and every progress line."""
    ws = load_workspace(root)
    lines: list[tuple[str, str]] = []
    records = open_records(ws)  # as `ws docker build` reads and saves them
    opts = BuildOptions(locks=locks, labels=made.label, records=records, **options)
    try:
        built = build_members(
            client, ws, load_config(ws), names, opts, lambda m, line: lines.append((m, line))
        )
    finally:
        records.save()
    return built, lines


def cli_context(root: Path, dockerfile: str) -> io.BytesIO:
    """The context the docker CLI sends for `-f dockerfile .`: every file on disk under root
    (no git) through the ignore file beside the Dockerfile, read and matched by docker-py's
    own code rather than ws's."""
    ignore = (root / f"{dockerfile}.dockerignore").read_text().splitlines()
    patterns = [line.strip() for line in ignore if line.strip() and not line.startswith("#")]
    files = docker.utils.build.exclude_paths(str(root), patterns, dockerfile=dockerfile)
    body = io.BytesIO()
    with tarfile.open(fileobj=body, mode="w") as tar:
        for path in sorted(files):
            tar.add(root / path, arcname=path, recursive=False, filter=_whole_seconds)
    body.seek(0)
    return body


def _whole_seconds(info: tarfile.TarInfo) -> tarfile.TarInfo:
    """As Go's archive/tar writes it: a fractional mtime would make Python open the archive
    with a PAX header, which the engine's quick check does not take for a tar."""
    info.mtime = int(info.mtime)
    return info


def plain_build(
    client: docker.DockerClient, root: Path, dockerfile: str, label: dict[str, str]
) -> str:
    """The image id of `docker build -f dockerfile .` on BuildKit, as a user without ws runs
    it: no build arguments. The docker CLI here has no buildx, so the context it would send
    goes to the engine's BuildKit through the Engine API."""
    params = {"dockerfile": dockerfile, "networkmode": "host", "labels": json.dumps(label)}
    image_id, _ = cli_build(client, "plain", cli_context(root, dockerfile), params)
    return image_id


def cli_build(
    client: docker.DockerClient, member: str, context: Any, params: dict[str, str]
) -> tuple[str, list[Step]]:
    """engine.build as the docker CLI posts a build: with a BuildKit session, empty (no
    secrets, no agent), which the CLI and buildx always open; the generated Dockerfiles'
    secret mounts need one."""
    from ws.docker.builds.endpoint import DEFAULT_SOCKET, Endpoint
    from ws.docker.session.channel import Session
    from ws.docker.session.plan import Offer

    offer = Offer()
    session = Session.offering(
        Endpoint(DEFAULT_SOCKET, "the tests"),
        client.api.api_version,
        offer,
    )
    with session:
        params = {**params, "session": session.id}
        return engine.build(client, member, context, params, answered=session.start)


# A script printing name==version of every distribution installed in an image, sorted.
INSTALLED = (
    "import importlib.metadata as m; "
    "print(*sorted(f'{d.name}=={d.version}' for d in m.distributions()))"
)


def locked_versions(root: Path, member: str) -> dict[str, str]:
    """name -> version of every package in the member's lock."""
    lock = tomllib.loads((root / "packages" / member / "uv.lock").read_text(encoding="utf-8"))
    return {p["name"]: p["version"] for p in lock["package"]}


def as_root(client: docker.DockerClient, image: str, script: str, made: Made) -> str:
    """stdout of a shell script run as root in image, with no network."""
    out = client.containers.run(
        image,
        ["sh", "-c", script],
        user="0:0",
        network_mode="none",
        remove=True,
        labels=made.label,
        entrypoint=[],
    )
    return out.decode("utf-8")


def step_with(image: BuiltImage, text: str) -> Step:
    return next(step for step in image.steps if text in step.instruction)


# Whether python would use a module's bytecode as it is (a timestamp pyc matching its source).
BYTECODE = """
import importlib.util, pathlib, sys
for name in sys.argv[1:]:
    source = pathlib.Path(importlib.util.find_spec(name).origin)
    pyc = pathlib.Path(importlib.util.cache_from_source(str(source)))
    head = pyc.read_bytes()[:16] if pyc.exists() else b""
    stat = source.stat()
    current = head[4:] == bytes(4) + (int(stat.st_mtime) & 0xFFFFFFFF).to_bytes(4, "little") + (
        stat.st_size & 0xFFFFFFFF
    ).to_bytes(4, "little")
    print(name, "current" if current else "missing-or-stale")
"""


def plant_canaries(root: Path, outside: Path, canary: str) -> list[str]:
    """Secrets where a careless context would pick them up; their paths under root."""
    outside.write_text(canary)
    svc = "packages/svc"
    planted = [
        ".env",
        f"{svc}/.env",
        f"{svc}/src/svc/.env",
        f"{svc}/src/svc/server.key",
        f"{svc}/src/svc/id_rsa",
        f"{svc}/src/svc/.env.production",
    ]
    for rel in planted:
        (root / rel).write_text(f"SECRET={canary}\n")
    (root / svc / "src/svc/leak.txt").symlink_to(outside)
    os.mkfifo(root / svc / "src/svc/pipe")
    return [*planted, f"{svc}/src/svc/leak.txt", f"{svc}/src/svc/pipe"]


def depend_on_other(root: Path) -> None:
    pyproject = root / "packages/svc/pyproject.toml"
    text = pyproject.read_text().replace('"beta>=1.0"]', '"beta>=1.0", "other"]')
    pyproject.write_text(
        text.replace("[tool.uv.sources]\n", "[tool.uv.sources]\nother = { workspace = true }\n")
    )


def delete_manifest(ref: str, digest: str) -> None:
    parsed = parse_image_ref(ref)
    url = f"http://{parsed.registry}/v2/{parsed.repository}/manifests/{digest}"
    request = urllib.request.Request(url, method="DELETE")
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(request, timeout=30):  # loopback only
        pass

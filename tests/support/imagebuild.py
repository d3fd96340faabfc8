"""Building the image test workspace on the real engine: what the builds made (for the
cleanup), running a build, looking inside an image, and the workspace edits the tests make."""

from __future__ import annotations

import os
import tomllib
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker
from ws.docker.build import Builder, BuildOptions, BuiltImage, build_members
from ws.docker.imageref import parse_image_ref
from ws.docker.stream import BuildLog, Step, StepFailed
from ws.graph import build_graph
from ws.locks import LockOptions
from ws.workspace import load_workspace


@dataclass
class Made:
    """What a test module's builds created, removed at its end: images by label, intermediates."""

    label: dict[str, str]
    ids: list[str] = field(default_factory=list)

    def record(self, steps: list[Step] | tuple[Step, ...]) -> None:
        for step in steps:
            # FROM steps print the base image's id, cached ones an image of an earlier build.
            if step.image_id and not step.cached and not step.instruction.startswith("FROM"):
                self.ids.append(step.image_id)

    def record_lines(self, text: str) -> None:
        """Recover the steps from CLI output ("member | line") and record them."""
        log = BuildLog("cli", lambda _m, _l: None)
        for line in text.splitlines():
            if " | " in line:
                log.feed({"stream": line.partition(" | ")[2] + "\n"})
        self.record(log.steps)


def build(
    client: docker.DockerClient,
    made: Made,
    root: Path,
    names: list[str],
    locks: LockOptions,
    builder: Builder = "classic",
    **options: Any,
) -> tuple[list[BuiltImage], list[tuple[str, str]]]:
    """build_members on the workspace at root; the images and every progress line. The
    classic builder unless asked: its steps leave images behind to look inside."""
    ws = load_workspace(root)
    lines: list[tuple[str, str]] = []
    opts = BuildOptions(locks=locks, labels=made.label, builder=builder, **options)
    try:
        built = build_members(
            client, ws, build_graph(ws), names, opts, lambda m, line: lines.append((m, line))
        )
    except StepFailed as e:
        made.record(e.steps)
        raise
    for image in built:
        made.record(image.steps)
    return built, lines


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

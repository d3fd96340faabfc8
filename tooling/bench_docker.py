"""Benchmark `ws docker build` against the Dockerfile uv's Docker guide recommends.

Run: .venv/bin/python tooling/bench_docker.py [--runs 3] [--packages 12]
(needs the engine and loopback registry of tooling/engine.sh: `make engine`).

Both sides build the service member `svc` of one workspace (tests/support/images.py, its
third-party packages bulky wheels served by a local index on 127.0.0.1), on the same engine's
BuildKit (Engine API, version=2, host network), from the same pinned base images. ws: the
command `ws docker build svc`, as a user runs it. The anchor: ANCHOR_DOCKERFILE below, sent
by the smallest client there is (tar | curl on the engine's socket). Five scenarios: a cold
build, a one-line change in svc's source, in lib's source, a dependency bump in the other
service only, and one in svc. Measured per build: the whole process (spawn to exit), the
engine's part (from its first streamed event to the end of the build's response, seen by a
recording proxy on the engine's socket), the bytes of the layers the new image has and the
previous one had not, and the image size; and once, ws's own time before the engine receives
the build against `python -c "import docker, typer"`. The figures go to
docs/benchmarks/docker.md; every image the bench made is removed at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import urllib.parse
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import docker  # noqa: E402
import docker.errors  # noqa: E402
from ws.locks.sync import LockOptions  # noqa: E402

from tests.support.bulkindex import BulkIndex, bulk_wheel  # noqa: E402
from tests.support.gitrepo import GitRepo  # noqa: E402
from tests.support.images import docker_answers, image_members, prepare_workspace  # noqa: E402
from tests.support.pyindex import find_uv, hermetic_uv_env  # noqa: E402
from tooling import bench_graph  # noqa: E402

OUT = REPO / "docs" / "benchmarks" / "docker.md"
ENGINE_SOCKET = "/var/run/docker.sock"
API = "v1.41"
ANCHOR_TAG = "ws-bench-anchor:latest"
ANCHOR_FILE = "anchor.Dockerfile"
SVC_FILE = "packages/svc/Dockerfile"
# BuildKit's rule: a `<Dockerfile>.dockerignore` beside the Dockerfile wins over the root's
# (which ws generates for its own Dockerfiles). The uv guide asks for .venv in it.
ANCHOR_IGNORE = (".venv",)
# uv's Docker guide ("Intermediate layers" in workspaces, "Non-editable installs", "Caching",
# "Compiling bytecode") and astral-sh/uv-docker-example's multistage.Dockerfile, for a
# workspace member, with the workspace's pinned base images (no `# syntax=` line: it would
# need an image from a public registry).
ANCHOR_DOCKERFILE = """\
FROM {python} AS builder
COPY --from={uv} /uv /uvx /bin/
ENV UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy UV_PYTHON_DOWNLOADS=0
WORKDIR /app
RUN --mount=type=cache,target=/root/.cache/uv \\
    --mount=type=bind,source=uv.lock,target=uv.lock \\
    --mount=type=bind,source=pyproject.toml,target=pyproject.toml \\
    uv sync --frozen --no-install-workspace --no-dev --package svc
COPY . /app
RUN --mount=type=cache,target=/root/.cache/uv \\
    uv sync --locked --no-dev --no-editable --package svc

FROM {python}
RUN groupadd --system --gid 999 nonroot \\
 && useradd --system --gid 999 --uid 999 --create-home nonroot
COPY --from=builder --chown=nonroot:nonroot /app/.venv /app/.venv
ENV PATH="/app/.venv/bin:$PATH"
USER nonroot
WORKDIR /app
CMD ["svc"]
"""
SCENARIOS = (
    ("cold", "cold build"),
    ("svc_source", "one-line change in svc's source"),
    ("lib_source", "one-line change in lib's source"),
    ("other_bump", "dependency bump in the other service only"),
    ("svc_bump", "dependency bump in svc"),
)
SIDES = ("ws", "anchor")
WHOLE_GOAL = 1.0
FAST_GOAL = 0.5
FAST = ("svc_source", "lib_source", "other_bump")
LAYER_GOAL = 0.01
SIZE_GOAL = 1.0
START_GOAL = 1.5
IMPORT_FLOOR = "import docker, typer"
# What a ws that spoke the Engine API over the standard library (no docker-py, no requests)
# would import at least: for the figures of the 0.5 x goal, not a goal of its own.
LEAN_FLOOR = "import typer, http.client, json, ssl"


# ---------------------------------------------------------------- the recording proxy


@dataclass
class Exchange:
    """One POST /build seen by the proxy: when it arrived, when the engine's first report
    came back, when the response ended (monotonic seconds)."""

    request: float
    first_event: float | None = None
    end: float | None = None
    _seen: bytearray = field(default_factory=bytearray, repr=False)

    def response(self, chunk: bytes, now: float) -> None:
        """Note a piece of the response: its first byte after the headers is the engine's
        first report; the zero-size chunk that ends a chunked body, its end."""
        if self.end is not None:
            return
        self._seen += chunk
        if self.first_event is None:
            head_end = self._seen.find(b"\r\n\r\n")
            if head_end < 0 or head_end + 4 == len(self._seen):
                return
            self.first_event = now
        if self._seen.endswith(b"\r\n0\r\n\r\n"):
            self.end = now
        del self._seen[:-16]


class RecordingProxy:
    """A unix socket forwarding to the engine's, noting the times of every build request.

    Clients send one request at a time on a connection (no pipelining), so a request line
    starts a fresh read; the build's response is chunked and ends with a zero-size chunk."""

    def __init__(self, path: Path, upstream: str = ENGINE_SOCKET) -> None:
        self.path = path
        self.upstream = upstream
        self.builds: list[Exchange] = []
        self._server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._server.bind(str(path))
        self._server.listen(16)
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"unix://{self.path}"

    def since(self, start: float) -> list[Exchange]:
        return [b for b in self.builds if b.request >= start]

    def close(self) -> None:
        self._server.close()
        self.path.unlink(missing_ok=True)

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            engine = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            engine.connect(self.upstream)
            current: list[Exchange] = []

            def request(chunk: bytes, current: list[Exchange] = current) -> None:
                line = chunk.split(b"\r\n", 1)[0]
                if line.startswith(b"POST ") and (b"/build?" in line or b"/build HTTP" in line):
                    current[:] = [Exchange(time.monotonic())]
                    self.builds.append(current[0])

            def response(chunk: bytes, current: list[Exchange] = current) -> None:
                if current:
                    current[0].response(chunk, time.monotonic())

            for src, dst, note in ((client, engine, request), (engine, client, response)):
                threading.Thread(target=_pump, args=(src, dst, note), daemon=True).start()


def _pump(src: socket.socket, dst: socket.socket, note: Callable[[bytes], None]) -> None:
    try:
        while chunk := src.recv(1 << 16):
            note(chunk)
            dst.sendall(chunk)
    except OSError:
        pass
    finally:
        for sock in (src, dst):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()


# ---------------------------------------------------------------- ws as a user installs it


@dataclass(frozen=True)
class Tool:
    ws: Path
    python: Path


def install_ws(folder: Path) -> Tool:
    """ws from this tree as the README installs it (`uv tool install --compile-bytecode`),
    without extras: the repository's own venv has paramiko (for the ssh tests), which
    docker-py imports whenever it can, adding about 0.25 s to every start. uv's own
    environment and cache, not the bench's hermetic one: ws's dependencies come from where
    the repository's came from."""
    env = {**os.environ, "UV_TOOL_DIR": str(folder / "tools"), "UV_TOOL_BIN_DIR": str(folder)}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    argv = [str(find_uv()), "tool", "install", "--compile-bytecode", "--python", sys.executable]
    done = subprocess.run(
        [*argv, str(REPO / "tooling" / "ws")], env=env, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"uv tool install of ws failed:\n{done.stderr}")
    return Tool(folder / "ws", folder / "tools" / "ws-monorepo" / "bin" / "python")


# ---------------------------------------------------------------- the workspace


def members_with_weight(packages: int, other_packages: int) -> dict[str, dict[str, Any]]:
    """The test workspace; svc also needs `packages` bulky libraries, the first pinned (the
    one svc's bump moves), and other needs `other_packages` of its own, the first pinned."""
    members = image_members()
    svc = dict(members["svc"])
    svc["dependencies"] = [*svc["dependencies"], *bulky("bulk", packages)]
    other = dict(members["other"])
    other["dependencies"] = [*other["dependencies"], *bulky("obulk", other_packages)]
    return {**members, "svc": svc, "other": other}


def bulky(prefix: str, count: int) -> list[str]:
    return [f"{prefix}00==1.0", *(f"{prefix}{i:02d}" for i in range(1, count))]


def fill_index(index: BulkIndex, args: argparse.Namespace) -> None:
    """Every bulky wheel at 1.0, and the pinned two at 1.1 ... 1.<runs> for the bumps."""
    rng = random.Random(2024)  # benchmark data, not secrets
    for prefix, count in (("bulk", args.packages), ("obulk", args.other_packages)):
        for i in range(count):
            index.add_wheel(bulk_wheel(f"{prefix}{i:02d}", 60, rng))
        for n in range(1, args.runs + 1):
            index.add_wheel(bulk_wheel(f"{prefix}00", 60, rng, version=f"1.{n}"))


def root_table(root: Path) -> dict[str, Any]:
    import tomllib  # only here

    return tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))


def anchor_dockerfile(root: Path) -> str:
    docker_table = root_table(root)["tool"]["ws"]["docker"]
    return ANCHOR_DOCKERFILE.format(
        python=docker_table["python-image"], uv=docker_table["uv-image"]
    )


def add_anchor(root: Path) -> None:
    """The anchor's Dockerfile and its .dockerignore, committed as a user would."""
    (root / ANCHOR_FILE).write_text(anchor_dockerfile(root), encoding="utf-8")
    ignore = root / f"{ANCHOR_FILE}.dockerignore"
    ignore.write_text("".join(f"{p}\n" for p in ANCHOR_IGNORE), encoding="utf-8")
    GitRepo(root).commit_all("the anchor: uv's guide's Dockerfile for svc")


# ---------------------------------------------------------------- one build of each side


@dataclass(frozen=True)
class Run:
    """One build as a process: spawn to exit, and what the proxy saw of its build request."""

    seconds: float
    start: float  # spawn to the build request's arrival at the engine's socket
    engine: float  # the engine's first streamed event to the end of the build's response
    image_id: str
    refs: tuple[str, ...]


@dataclass(frozen=True)
class Build:
    run: Run
    new_bytes: int  # the bytes of the layers this image has and the side's previous had not
    size: int


@dataclass
class Bench:
    client: docker.DockerClient
    root: Path
    proxy: RecordingProxy
    ws_env: dict[str, str]
    label: dict[str, str]
    tool: Tool
    made: set[str] = field(default_factory=set)  # image ids and refs, removed at reset
    seen: set[str] = field(default_factory=set)  # every image id the bench made
    layers: dict[str, dict[str, int]] = field(default_factory=dict)  # side -> diff id -> bytes

    def build(self, side: str) -> Build:
        run = self.ws() if side == "ws" else self.anchor()
        layers = layer_bytes(self.client, run.image_id)
        before = self.layers.get(side) or self.base_layers()
        self.layers[side] = layers
        new = sum(size for diff_id, size in layers.items() if diff_id not in before)
        return Build(run, new, int(self.client.images.get(run.image_id).attrs["Size"]))

    def spawn(self, code: str) -> float:
        """Spawn to exit of `python -c code` on ws's interpreter."""
        begin = time.monotonic()
        subprocess.run([str(self.tool.python), "-c", code], env=self.ws_env, check=True)
        return time.monotonic() - begin

    def base_layers(self) -> dict[str, int]:
        image = self.client.images.get(
            root_table(self.root)["tool"]["ws"]["docker"]["python-image"]
        )
        return {diff_id: 0 for diff_id in image.attrs["RootFS"]["Layers"]}

    def ws(self) -> Run:
        start = time.monotonic()
        done = subprocess.run(
            [str(self.tool.ws), "docker", "build", "svc"],
            cwd=self.root,
            env=self.ws_env,
            capture_output=True,
            text=True,
            check=False,
        )
        seconds = time.monotonic() - start
        if done.returncode != 0:
            raise SystemExit(f"ws docker build svc failed ({done.returncode}):\n{done.stderr}")
        lines = done.stdout.splitlines()
        image_id = next(line.split(": ", 1)[1] for line in lines if line.startswith("svc: "))
        refs = tuple(line.split()[0] for line in lines if line.startswith("  "))
        return self.timed(start, seconds, image_id, refs)

    def anchor(self) -> Run:
        query = urllib.parse.urlencode(
            {
                "version": "2",
                "dockerfile": ANCHOR_FILE,
                "networkmode": "host",
                "t": ANCHOR_TAG,
                "labels": json.dumps(self.label),
            }
        )
        excludes = [f"--exclude=./{pattern}" for pattern in ANCHOR_IGNORE]
        curl = [
            *("curl", "-sS", "--unix-socket", str(self.proxy.path)),
            *("-H", "Content-Type: application/x-tar", "--data-binary", "@-"),
            f"http://localhost/{API}/build?{query}",
        ]
        start = time.monotonic()
        tar = subprocess.Popen(
            ["tar", "-C", str(self.root), *excludes, "-cf", "-", "."], stdout=subprocess.PIPE
        )
        sent = subprocess.Popen(
            curl, stdin=tar.stdout, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        if tar.stdout is not None:  # the pipe now belongs to curl
            tar.stdout.close()
        out, err = sent.communicate()
        tar.wait()
        seconds = time.monotonic() - start
        if sent.returncode or tar.returncode:
            raise SystemExit(f"the anchor's tar | curl failed: {err.decode()}")
        return self.timed(start, seconds, anchor_image(out.decode()), (ANCHOR_TAG,))

    def timed(self, start: float, seconds: float, image_id: str, refs: tuple[str, ...]) -> Run:
        builds = self.proxy.since(start)
        if len(builds) != 1:
            raise SystemExit(
                f"the proxy saw {len(builds)} build requests where one was sent: does the "
                "client still honour DOCKER_HOST?"
            )
        seen = builds[0]
        if seen.first_event is None or seen.end is None:
            raise SystemExit(f"the proxy did not see the whole build response: {seen}")
        self.made.update([image_id, *refs])
        self.seen.add(image_id)
        return Run(seconds, seen.request - start, seen.end - seen.first_event, image_id, refs)

    def reset(self) -> None:
        """Cold: every image the bench made removed, the engine's build cache emptied (the
        uv cache mounts with it); the base images stay."""
        self.remove_images()
        self.client.api.prune_builds(all=True)

    def remove_images(self) -> None:
        for ref in sorted(self.made):
            try:
                self.client.images.remove(ref, force=True)
            except docker.errors.NotFound:
                pass
        self.made.clear()


def anchor_image(stream: str) -> str:
    """The image id the engine's streamed build events end with; an error's text as an exit."""
    image_id = None
    for line in stream.splitlines():
        event = json.loads(line)
        if "errorDetail" in event or "error" in event:
            raise SystemExit(f"the anchor's build failed: {event.get('error') or event}")
        if event.get("id") == "moby.image.id":
            image_id = event["aux"]["ID"]
    if image_id is None:
        raise SystemExit(f"the anchor's build named no image:\n{stream[-2000:]}")
    return image_id


def layer_bytes(client: docker.DockerClient, image_id: str) -> dict[str, int]:
    """Each layer of the image (by diff id) and the bytes of its tar: what `docker save`
    writes and, compressed, a push uploads."""
    diff_ids = client.images.get(image_id).attrs["RootFS"]["Layers"]
    saved = subprocess.Popen(["docker", "save", image_id], stdout=subprocess.PIPE)
    sizes: dict[str, int] = {}
    manifest: list[dict[str, Any]] = []
    with tarfile.open(fileobj=saved.stdout, mode="r|") as tar:
        for member in tar:
            if member.name.endswith("/layer.tar") and member.isfile():
                sizes[member.name] = member.size
            elif member.name == "manifest.json":
                manifest = json.load(tar.extractfile(member))  # type: ignore[arg-type] -- a file
    if saved.wait() != 0 or not manifest:
        raise SystemExit(f"docker save {image_id} failed")
    found: dict[str, int] = {}
    for diff_id, path in zip(diff_ids, manifest[0]["Layers"], strict=True):
        found[diff_id] = max(found.get(diff_id, 0), sizes.get(path, 0))
    return found


# ---------------------------------------------------------------- scenarios


@dataclass
class Workspace:
    """The bench's workspace and its edits: each edit is committed, as in CI."""

    root: Path
    ws_env: dict[str, str]
    tool: Tool
    edits: int = 0
    versions: dict[str, int] = field(default_factory=dict)

    def change_source(self, rel: str) -> None:
        self.edits += 1
        path = self.root / rel
        text = path.read_text(encoding="utf-8")
        path.write_text(text + f"# bench change {self.edits}\n", encoding="utf-8")
        GitRepo(self.root).commit_all(f"bench: change {rel}")

    def bump(self, member: str, package: str) -> None:
        """Move member's pin of package to its next version, then `ws sync-locks`."""
        old = self.versions.get(package, 0)
        self.versions[package] = old + 1
        path = self.root / "packages" / member / "pyproject.toml"
        text = path.read_text(encoding="utf-8")
        new = text.replace(f'"{package}==1.{old}"', f'"{package}==1.{old + 1}"')
        if new == text:
            raise SystemExit(f"no pin of {package} in {path}")
        path.write_text(new, encoding="utf-8")
        done = subprocess.run(
            [str(self.tool.ws), "sync-locks"],
            cwd=self.root,
            env=self.ws_env,
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise SystemExit(f"ws sync-locks failed:\n{done.stderr}")
        GitRepo(self.root).commit_all(f"bench: {member} takes {package} 1.{old + 1}")


def prepare(bench: Bench, work: Workspace, scenario: str) -> None:
    if scenario == "svc_source":
        work.change_source("packages/svc/src/svc/app.py")
    elif scenario == "lib_source":
        work.change_source("packages/lib/src/lib/__init__.py")
    elif scenario == "other_bump":
        work.bump("other", "obulk00")
    elif scenario == "svc_bump":
        work.bump("svc", "bulk00")


Results = dict[str, dict[str, list[Build]]]  # scenario -> side -> one build a round


def measure(bench: Bench, work: Workspace, runs: int) -> Results:
    """Every scenario in turn, `runs` rounds each; within a round both sides build the same
    tree, which side first alternating from round to round (a cache mount may be shared)."""
    results: Results = {name: {side: [] for side in SIDES} for name, _ in SCENARIOS}
    for name, _ in SCENARIOS:
        for n in range(runs):
            prepare(bench, work, name)
            for side in order(n):
                if name == "cold":
                    bench.reset()
                build = bench.build(side)
                results[name][side].append(build)
                print(
                    f"{name} {n + 1}/{runs} {side}: {build.run.seconds:.2f} s "
                    f"(engine {build.run.engine:.2f} s), new layers {build.new_bytes / 1e6:.2f} MB",
                    file=sys.stderr,
                )
        if name == "cold":  # the first side's cache went with the second's prune: refill it
            bench.build(order(runs - 1)[0])
    return results


def order(n: int) -> tuple[str, ...]:
    return SIDES if n % 2 == 0 else tuple(reversed(SIDES))


@dataclass(frozen=True)
class Start:
    """ws's time from spawn to the build request at the engine's socket, and the import
    floor's whole process, one of each a round (seconds)."""

    ws: list[float]
    floor: list[float]
    lean: list[float]  # LEAN_FLOOR's whole process


def measure_start(bench: Bench, rounds: int) -> Start:
    """On no-op rebuilds: the cache holds everything, so the engine answers at once."""
    ws, floor, lean = [], [], []
    for _ in range(rounds):
        ws.append(bench.ws().start)
        floor.append(bench.spawn(IMPORT_FLOOR))
        lean.append(bench.spawn(LEAN_FLOOR))
    return Start(ws, floor, lean)


def warm_up(bench: Bench) -> None:
    """Bytecode for everything ws and the floor import, written before anything is timed:
    this workplace sets PYTHONDONTWRITEBYTECODE, a user's machine does not."""
    bench.spawn(IMPORT_FLOOR)
    bench.spawn(LEAN_FLOOR)
    bench.ws()


def check_images(bench: Bench, results: Results) -> dict[str, str]:
    """The last image of each side runs svc as it should; the user each runs as."""
    users = {}
    for side in SIDES:
        image = results[SCENARIOS[-1][0]][side][-1].run.image_id
        out = bench.client.containers.run(
            image, ["svc"], network_mode="none", remove=True, labels=bench.label
        ).decode()
        if "says hello docker" not in out:
            raise SystemExit(f"the {side} image does not answer as svc should: {out!r}")
        user = bench.client.containers.run(
            image,
            ["sh", "-c", "id -un || id -u"],
            network_mode="none",
            remove=True,
            labels=bench.label,
        )
        users[side] = user.decode().strip()
    return users


# ---------------------------------------------------------------- report


def med(values: Sequence[float]) -> float:
    return statistics.median(values)


def spread(values: Sequence[float]) -> str:
    return f"{med(values):.2f} ({min(values):.2f} - {max(values):.2f})"


def megabytes(n: float) -> str:
    return f"{n / 1e6:.2f} MB" if n >= 1e5 else f"{n / 1e3:.1f} kB"


def seconds_of(builds: Sequence[Build], what: str) -> list[float]:
    return [getattr(b.run, what) for b in builds]


def ratio(results: Results, scenario: str, what: str = "seconds") -> float:
    sides = results[scenario]
    return med(seconds_of(sides["ws"], what)) / med(seconds_of(sides["anchor"], what))


def results_table(results: Results) -> list[str]:
    rows = [
        "| scenario | ws, whole (s) | anchor, whole (s) | ws / anchor "
        "| ws, engine (s) | anchor, engine (s) | ws / anchor "
        "| new layers, ws | new layers, anchor |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, title in SCENARIOS:
        ws, anchor = results[name]["ws"], results[name]["anchor"]
        rows.append(
            f"| {title} | {spread(seconds_of(ws, 'seconds'))} "
            f"| {spread(seconds_of(anchor, 'seconds'))} | {ratio(results, name):.2f} "
            f"| {spread(seconds_of(ws, 'engine'))} | {spread(seconds_of(anchor, 'engine'))} "
            f"| {ratio(results, name, 'engine'):.2f} "
            f"| {megabytes(med([b.new_bytes for b in ws]))} "
            f"| {megabytes(med([b.new_bytes for b in anchor]))} |"
        )
    return rows


def verdict(value: float, goal: float) -> str:
    return "met" if value <= goal else "MISSED"


def goal_rows(results: Results, start: Start) -> list[tuple[str, str, float, float]]:
    """(goal, measured as, value, limit) for every goal of issue 10."""
    rows = []
    for name, title in SCENARIOS:
        limit = FAST_GOAL if name in FAST else WHOLE_GOAL
        rows.append(
            (f"{title}: ws / anchor, whole process", "median time", ratio(results, name), limit)
        )
    for name in ("svc_source", "lib_source"):
        ws = med([b.new_bytes for b in results[name]["ws"]])
        anchor = med([b.new_bytes for b in results[name]["anchor"]])
        title = dict(SCENARIOS)[name]
        rows.append(
            (f"{title}: new-layer bytes, ws / anchor", "median bytes", ws / anchor, LAYER_GOAL)
        )
    last = SCENARIOS[-1][0]
    size = results[last]["ws"][-1].size / results[last]["anchor"][-1].size
    rows.append(("image size, ws / anchor", "the last images", size, SIZE_GOAL))
    rows.append(
        (
            f'ws\'s start / `python -c "{IMPORT_FLOOR}"`',
            "median time",
            med(start.ws) / med(start.floor),
            START_GOAL,
        )
    )
    return rows


def goals_table(results: Results, start: Start) -> list[str]:
    rows = ["| goal | measure | value | limit | verdict |", "|---|---|---:|---:|---|"]
    for goal, what, value, limit in goal_rows(results, start):
        shown = f"{value:.4f}" if limit < 0.1 else f"{value:.3f}"
        if float(shown) == limit and value > limit:  # missed by less than the digits show
            shown = f"{value:.8f}"
        rows.append(f"| {goal} | {what} | {shown} | <= {limit:g} | {verdict(value, limit)} |")
    return rows


def start_table(start: Start) -> list[str]:
    return [
        "| measure | median (min - max), s |",
        "|---|---:|",
        "| `ws docker build svc`: spawn to the build request at the engine's socket "
        f"| {spread(start.ws)} |",
        f'| `python -c "{IMPORT_FLOOR}"`: spawn to exit | {spread(start.floor)} |',
        f"| ratio | {med(start.ws) / med(start.floor):.2f} |",
        f'| `python -c "{LEAN_FLOOR}"`: spawn to exit (below) | {spread(start.lean)} |',
    ]


def floor_table(results: Results, start: Start) -> list[str]:
    """How near each time goal a ws client can come: an import floor's whole process plus
    ws's own engine time (which no client shortens), against the anchor's whole process.
    The floors: docker-py and typer (what ws imports), and the standard library's HTTP
    client with typer (a ws without docker-py)."""
    rows = [
        "| scenario | goal | anchor, whole (s) | ws, engine (s) | docker-py floor + engine "
        "/ anchor | stdlib floor + engine / anchor | ws / anchor |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, title in SCENARIOS:
        anchor = med(seconds_of(results[name]["anchor"], "seconds"))
        engine = med(seconds_of(results[name]["ws"], "engine"))
        goal = FAST_GOAL if name in FAST else WHOLE_GOAL
        rows.append(
            f"| {title} | {goal:g} | {anchor:.2f} | {engine:.2f} "
            f"| {(med(start.floor) + engine) / anchor:.2f} "
            f"| {(med(start.lean) + engine) / anchor:.2f} | {ratio(results, name):.2f} |"
        )
    return rows


def sizes_line(results: Results, users: dict[str, str]) -> str:
    last = SCENARIOS[-1][0]
    ws, anchor = results[last]["ws"][-1].size, results[last]["anchor"][-1].size
    return (
        f"Image size (`Size` from the engine's inspect, the last image of each side): ws "
        f"{ws:,} bytes, anchor {anchor:,} bytes ({ws - anchor:+,} bytes). Users the "
        f"images run as: ws `{users['ws']}`, anchor `{users['anchor']}`."
    )


METHOD = """\
- The image of the service member `svc` of the test workspace (tests/support/images.py):
  svc -> lib (workspace members) plus beta, alpha, delta, gamma and {packages} bulky
  libraries (60 modules of code and 1.5 MB of data each); a second service, `other`, with
  epsilon and {other} bulky libraries of its own; every package served by a local index on
  127.0.0.1. One pin of each service (`bulk00`, `obulk00`) is what the bumps move.
- Both sides on the engine's BuildKit (an Engine API build with `version=2`), the host
  network, the same pinned base images (the workspace's `[tool.ws.docker]` python and uv
  images, served by the loopback registry) and the same index.
- **ws**: `ws docker build svc` as a process, its checks included, with ws installed from
  this tree as the README says (`uv tool install --compile-bytecode ./tooling/ws`, no extras,
  into a folder of the run's: the repository's venv holds paramiko for the ssh tests, which
  docker-py would import), `PYTHONDONTWRITEBYTECODE` removed from its environment (this
  workplace sets it; a user's machine does not) and one warm-up build before anything is
  timed, which checks the workspace in full and records it in `.ws`, as a user's first
  build does.
- **anchor**: the Dockerfile below, sent by the smallest client there is: `tar` of the
  workspace root (leaving out what its .dockerignore names) piped into `curl --unix-socket
  ... --data-binary @- 'http://localhost/{api}/build?version=2&dockerfile={file}&networkmode=host&t=...'`.
- Both clients reach the engine through a recording proxy on a unix socket in the bench
  process (ws reaches it through `DOCKER_HOST`: its CLI makes its client with
  `docker.from_env`). **whole**: spawn to exit of the process (for the anchor, tar and curl).
  **engine**: from the first event the engine streams back for the build to the end of
  that response, as the proxy sees it.
- Scenarios, in this order, {runs} round(s) each, the two sides in turn within a round
  (which goes first alternates: both Dockerfiles mount uv's cache at /root/.cache/uv, and a
  cache mount's id is its target, so the two share one uv cache, and the second to build
  after a bump finds the new wheel there):
  1. a cold build: before each side's build the bench's images are removed and the
     engine's build cache, the uv cache mounts with it, is pruned; the base images stay.
     After the last round the side built first in it is built once more, untimed, to fill
     its cache again;
  2. a one-line change (a comment line appended) to svc's `app.py`;
  3. the same to lib's `__init__.py`;
  4. the other service's pin moved to the next version of its bulky package, then `ws
     sync-locks` (both sides see the same new root `uv.lock`);
  5. the same for svc's pin.

  Every change is committed before the builds, as in CI. Medians (min - max).
- **new layers**: the bytes (uncompressed layer tars from `docker save`, about what a push
  uploads) of the layers in the new image whose diff id the side's previous image did not
  have; for the first cold build, the layers above the python image.
"""


def ws_revision() -> str:
    """The commit of ws that ran, and whether its source had uncommitted changes."""

    def git(*argv: str) -> str:
        done = subprocess.run(["git", *argv], cwd=REPO, capture_output=True, text=True, check=False)
        return done.stdout.strip()

    dirty = git("status", "--porcelain", "--", "tooling/ws/src")
    return git("rev-parse", "--short=12", "HEAD") + (" with uncommitted changes" if dirty else "")


@dataclass(frozen=True)
class Findings:
    results: Results
    start: Start
    users: dict[str, str]  # side -> the user its image runs as
    dockerfiles: tuple[str, str]  # ws's for svc, the anchor
    elapsed: float
    others: tuple[int, int]  # other clients' containers started, image events


def report(client: docker.DockerClient, args: argparse.Namespace, found: Findings) -> str:
    results, start = found.results, found.start
    ignore = "".join(f"{p}\n" for p in ANCHOR_IGNORE)
    lines = [
        "# Benchmark: ws docker build against the Dockerfile uv's guide recommends",
        "",
        "Written by `tooling/bench_docker.py` "
        f"(`.venv/bin/python tooling/bench_docker.py --runs {args.runs}`); every figure below "
        f"comes from one run, which took {found.elapsed / 60:.1f} minutes.",
        "",
        f"Machine: {bench_graph.machine()}, load average {bench_graph.load_average()} at the "
        f"end, Docker engine {client.version().get('Version', '?')} (API "
        f"{client.version().get('ApiVersion', '?')}). {others_line(found.others)}",
        "",
        "## Goals (issue 10)",
        "",
        *goals_table(results, start),
        "",
        "## Results",
        "",
        *results_table(results),
        "",
        sizes_line(results, found.users),
        "",
        "### ws's own time before the engine receives the build",
        "",
        f"{args.start_rounds} rounds, each a no-op `ws docker build svc` (everything cached)",
        f'through the recording proxy and one `python -c "{IMPORT_FLOOR}"` on ws\'s',
        "interpreter, both with the environment above:",
        "",
        *start_table(start),
        "",
        "### How near a client can come to each goal",
        "",
        f'The least a ws importing docker-py can take is `python -c "{IMPORT_FLOOR}"` (its',
        "median above) plus the engine's time for ws's build (from the results), with no work",
        "of its own; a ws speaking the Engine API through the standard library would pay",
        f'`python -c "{LEAN_FLOOR}"` instead:',
        "",
        *floor_table(results, start),
        "",
        "## Method",
        "",
        METHOD.format(
            packages=args.packages,
            other=args.other_packages,
            runs=args.runs,
            api=API,
            file=ANCHOR_FILE,
        ),
        "## The Dockerfiles",
        "",
        f"ws at {ws_revision()}: `packages/svc/Dockerfile` as `ws docker generate` wrote it",
        "for this run:",
        "",
        "```dockerfile",
        found.dockerfiles[0].rstrip("\n"),
        "```",
        "",
        "### The anchor",
        "",
        'uv\'s Docker guide (docs/guides/integration/docker.md: "Intermediate layers" in',
        'workspaces, "Non-editable installs", "Caching", "Compiling bytecode") and the',
        "multi-stage example of astral-sh/uv-docker-example (`multistage.Dockerfile`), for the",
        "member svc (both read at astral-sh/uv 26a9dd4b and astral-sh/uv-docker-example",
        "00701a33), as `anchor.Dockerfile` at the workspace root:",
        "",
        "```dockerfile",
        found.dockerfiles[1].rstrip("\n"),
        "```",
        "",
        f"and beside it `{ANCHOR_FILE}.dockerignore` (BuildKit reads it instead of the root's,",
        "which ws generates for its own Dockerfiles), as the guide asks:",
        "",
        "```",
        ignore.rstrip("\n"),
        "```",
        "",
        ANCHOR_NOTES,
    ]
    return "\n".join(lines) + "\n"


ANCHOR_NOTES = """\
Where it follows which source, and where it departs:
- Builder stage: the guide's workspace recipe (bind-mount the root `uv.lock` and
  `pyproject.toml`, `uv sync --frozen --no-install-workspace`, then `COPY . /app` and a
  `--locked` sync), with `--no-dev --package svc` for one member and `--no-editable` from
  "Non-editable installs"; `UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy` and
  `UV_PYTHON_DOWNLOADS=0` as the example sets them (the example says `UV_NO_DEV=1` where
  this says `--no-dev`). The first sync works as the guide writes it: with `--frozen`, uv
  takes svc and its dependencies from the lock without the members' pyproject.toml files.
- uv is copied in from the uv image (`COPY --from=<uv image> /uv /uvx /bin/`, the guide's
  way) rather than the example's `uv:python3.12-bookworm-slim` builder image, which does not
  exist here; both images are the workspace's pinned ones from the loopback registry.
- Runtime stage: the same python image, the example's named non-root user (`groupadd` and
  `useradd` exist in the Debian base image), `PATH`, `USER nonroot`, `WORKDIR /app`; it copies
  only `/app/.venv` (the guide's non-editable way) with the example's `--chown`, where the
  example copies all of `/app` (an editable install needs the sources).
- The guide writes no `sharing=` on its cache mounts, so neither does this (the default,
  `shared`). No `# syntax=` line: it would need an image from a public registry, and the
  engine's built-in frontend accepts the mounts without one. No `COPY --link` (the guide
  does not use it; the built-in frontend rejects it).
- The .dockerignore is the guide's (`.venv`); the root's `.git` and `.ws` are sent too.
"""


# ---------------------------------------------------------------- main


class EngineWatch:
    """What other clients did on the engine while the bench ran, from its event stream:
    containers started without the bench's label, image events (tag, pull, delete, ...)
    about images the bench did not make. A build-cache prune sends no event."""

    def __init__(self, client: docker.DockerClient, label: str) -> None:
        self.label = label
        self.events: list[dict[str, Any]] = []
        self._stream = client.events(decode=True, filters={"type": ["container", "image"]})
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        try:
            for event in self._stream:
                self.events.append(event)
        except Exception:  # noqa: S110 -- the stream ends when stop() closes it
            pass

    def stop(self) -> None:
        self._stream.close()

    def others(self, ours: set[str]) -> tuple[int, int]:
        containers = images = 0
        for event in self.events:
            actor = event.get("Actor", {})
            if event.get("Type") == "container" and event.get("Action") == "start":
                containers += actor.get("Attributes", {}).get("ws.bench") != self.label
            elif event.get("Type") == "image":
                images += actor.get("ID") not in ours
        return containers, images


def others_line(others: tuple[int, int]) -> str:
    containers, images = others
    if not any(others):
        return "No other client started a container or touched an image on the engine meanwhile."
    return (
        f"Other clients shared the engine meanwhile: {containers} containers started and "
        f"{images} image events that were not the bench's (a build-cache prune would not show)."
    )


def ws_environment(tmp: Path, proxy: RecordingProxy) -> dict[str, str]:
    env = hermetic_uv_env(tmp / "uv")
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["DOCKER_HOST"] = proxy.url
    return env


def run(client: docker.DockerClient, args: argparse.Namespace, tmp: Path) -> Findings:
    began = time.monotonic()
    label = {"ws.bench": f"docker-{uuid.uuid4().hex[:12]}"}
    index = BulkIndex()
    proxy = RecordingProxy(tmp / "engine.sock")
    watch = EngineWatch(client, label["ws.bench"])
    bench = None
    try:
        fill_index(index, args)
        root = tmp / "ws"
        locks = LockOptions(uv=find_uv(), env=hermetic_uv_env(tmp / "uv"))
        members = members_with_weight(args.packages, args.other_packages)
        prepare_workspace(root, index.url, locks, members=members)
        add_anchor(root)
        env = ws_environment(tmp, proxy)
        tool = install_ws(tmp / "tool")
        bench = Bench(client, root, proxy, env, label, tool)
        warm_up(bench)
        results = measure(bench, Workspace(root, env, tool), args.runs)
        users = check_images(bench, results)
        start = measure_start(bench, args.start_rounds)
        ws_file, anchor_file = (
            (root / f).read_text(encoding="utf-8") for f in (SVC_FILE, ANCHOR_FILE)
        )
        elapsed = time.monotonic() - began
        others = watch.others(bench.seen)
        return Findings(results, start, users, (ws_file, anchor_file), elapsed, others)
    finally:
        watch.stop()
        if bench is not None:
            bench.reset()
        for container in client.containers.list(all=True, filters={"label": "ws.bench"}):
            if container.labels.get("ws.bench") == label["ws.bench"]:
                container.remove(force=True)
        proxy.close()
        index.close()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="ws docker build against uv's guide")
    parser.add_argument("--runs", type=int, default=3, help="rounds of each scenario")
    parser.add_argument("--packages", type=int, default=12, help="bulky libraries svc needs")
    parser.add_argument("--other-packages", type=int, default=4, help="the other service's")
    parser.add_argument("--start-rounds", type=int, default=7, help="rounds of ws's start")
    parser.add_argument("--out", type=Path, default=OUT, help="where the figures go")
    args = parser.parse_args(argv)
    why = docker_answers()
    if why:
        print(why, file=sys.stderr)
        return 2
    client = docker.DockerClient(base_url=f"unix://{ENGINE_SOCKET}", timeout=300)
    with tempfile.TemporaryDirectory(prefix="ws-bench-docker-") as tmp:
        found = run(client, args, Path(tmp))
    text = report(client, args, found)
    if any(found.others):
        print(f"warning: {others_line(found.others)}", file=sys.stderr)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

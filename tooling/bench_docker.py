"""Benchmark ws's generated multi-stage image against a naive single-stage Dockerfile.

Run: .venv/bin/python tooling/bench_docker.py [--runs 3] [--packages 12]
(needs the engine and loopback registry of tooling/engine.sh).

Both sides build the service member `svc` of the same workspace (the test workspace of
tests/support/images.py, its third-party packages served by a local index on 127.0.0.1),
on the same engine, from the same pinned base images, with the classic builder and the host
network. ws: `build_members` (checks included) on the generated Dockerfile. Naive: one stage,
`COPY . .` of the whole workspace (minus .git), `uv sync --frozen --all-packages` from the
root lock. Measured: a cold build (no cache), a rebuild after a source-only change, the final
image size, and whether the dev group reached the image. The figures go to
docs/benchmarks/docker.md; every image made is removed at the end.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import docker  # noqa: E402
from bench_docker_floor import Costs, floor_section, measure_costs  # noqa: E402
from ws.docker.build import BuildOptions, build_members, send_build  # noqa: E402
from ws.docker.config import load_root_config  # noqa: E402
from ws.docker.context import DockerIgnore, context_tar  # noqa: E402
from ws.docker.stream import Step  # noqa: E402
from ws.graph import build_graph  # noqa: E402
from ws.locks import LockOptions  # noqa: E402
from ws.workspace import load_workspace  # noqa: E402

from tests.support.bulkindex import BulkIndex, bulk_wheel  # noqa: E402
from tests.support.images import (  # noqa: E402
    docker_answers,
    image_members,
    prepare_workspace,
    remove_labelled,
)
from tests.support.pyindex import find_uv, hermetic_uv_env  # noqa: E402

OUT = REPO / "docs" / "benchmarks" / "docker.md"
REBUILD_GOAL = 0.3
SIZE_GOAL = 1.0
NAIVE_IGNORE = (".git", ".ws", "**/__pycache__")
NAIVE_DOCKERFILE = """\
FROM {python}
COPY --from={uv} /uv /usr/local/bin/uv
ENV UV_PYTHON_DOWNLOADS=never
WORKDIR /app
COPY . .
RUN uv sync --frozen --all-packages
ENV PATH=/app/.venv/bin:$PATH
CMD ["svc"]
"""
OVERLAY_COPY = "COPY --from=builder /app/overlay/ /app/.venv/"
DEV_PROBE = "import importlib.util as u; print('yes' if u.find_spec('devtool') else 'no')"


# ---------------------------------------------------------------- a workspace with weight


def members_with_weight(packages: int) -> dict[str, dict[str, Any]]:
    """The test workspace, with svc also needing `packages` bulky libraries."""
    members = image_members()
    svc = dict(members["svc"])
    svc["dependencies"] = [*svc["dependencies"], *(f"bulk{i:02d}" for i in range(packages))]
    members["svc"] = svc
    return members


# ---------------------------------------------------------------- builds


@dataclass
class Build:
    seconds: float
    image_id: str
    steps: list[Step]
    durations: list[float]  # of each step, as steps


class Timer:
    """A progress sink that notes when each classic-builder step starts, to time the steps
    (BuildKit reports each step's own start and end)."""

    def __init__(self) -> None:
        self.starts: list[tuple[int, float]] = []

    def __call__(self, _member: str, line: str) -> None:
        if line.startswith("Step "):
            self.starts.append((int(line[5:].split("/")[0]), time.monotonic()))

    def durations(self, steps: list[Step], end: float) -> list[float]:
        if any(s.seconds is not None for s in steps):
            return [s.seconds or 0.0 for s in steps]
        ends = [t for _, t in self.starts[1:]] + [end]
        by_number = {n: e - t for (n, t), e in zip(self.starts, ends, strict=True)}
        return [by_number.get(s.number, 0.0) for s in steps]


def timed(action: Callable[[Timer], tuple[str, list[Step]]]) -> Build:
    timer = Timer()
    start = time.monotonic()
    image_id, steps = action(timer)
    end = time.monotonic()
    return Build(end - start, image_id, steps, timer.durations(steps, end))


@dataclass(frozen=True)
class Side:
    key: str
    title: str
    generated: bool  # ws's generated Dockerfile through build_members, else the naive one
    buildkit: bool


SIDES = (
    Side("ws", "ws, BuildKit (its default here)", generated=True, buildkit=True),
    Side("ws_classic", "ws, classic builder", generated=True, buildkit=False),
    Side("naive", "naive, classic builder", generated=False, buildkit=False),
    Side("naive_buildkit", "naive, BuildKit", generated=False, buildkit=True),
)
BY_KEY = {side.key: side for side in SIDES}
BASELINE = "naive"  # what `docker build` and docker-py's build() do with it on this engine
COMPARISONS = (
    (
        "ws",
        "naive",
        "ws's default build against the naive Dockerfile built as `docker build` builds it here",
    ),
    ("ws", "naive_buildkit", "both on BuildKit"),
    ("ws_classic", "naive", "both on the classic builder"),
)


@dataclass
class Bench:
    client: docker.DockerClient
    root: Path
    locks: LockOptions
    label: dict[str, str]
    made: list[str] = field(default_factory=list)

    def build(self, side: Side, *, cold: bool) -> Build:
        make = self._generated if side.generated else self._naive
        return self.note(timed(lambda timer: make(timer, side.buildkit, cold)))

    def _generated(self, timer: Timer, buildkit: bool, cold: bool) -> tuple[str, list[Step]]:
        ws = load_workspace(self.root)
        builder = "buildkit" if buildkit else "classic"
        opts = BuildOptions(locks=self.locks, no_cache=cold, labels=self.label, builder=builder)
        (image,) = build_members(self.client, ws, build_graph(ws), ["svc"], opts, timer)
        return image.image_id, list(image.steps)

    def _naive(self, timer: Timer, buildkit: bool, cold: bool) -> tuple[str, list[Step]]:
        root = load_root_config(load_workspace(self.root))
        dockerfile = NAIVE_DOCKERFILE.format(python=root.python_image, uv=root.uv_image)
        ignore = DockerIgnore(NAIVE_IGNORE)
        context, _ = context_tar(
            self.root, ignore, dockerfile=("Dockerfile.naive", dockerfile.encode())
        )
        with context:
            return send_build(
                self.client,
                "naive",
                context,
                "Dockerfile.naive",
                labels=self.label,
                no_cache=cold,
                buildkit=buildkit,
                progress=timer,
            )

    def note(self, build: Build) -> Build:
        self.made += [
            s.image_id
            for s in build.steps
            if s.image_id and not s.cached and not s.instruction.startswith("FROM")
        ]
        return build

    def answer(self, image_id: str) -> str:
        out = self.client.containers.run(
            image_id, ["svc"], network_mode="none", remove=True, labels=self.label
        )
        return out.decode()

    def size(self, image_id: str) -> int:
        return int(self.client.images.get(image_id).attrs["Size"])

    def has_dev(self, image_id: str) -> bool:
        out = self.client.containers.run(
            image_id,
            ["python", "-c", DEV_PROBE],
            network_mode="none",
            remove=True,
            labels=self.label,
        )
        return out.decode().strip() == "yes"


def touch_source(root: Path, n: int) -> None:
    app = root / "packages/svc/src/svc/app.py"
    app.write_text(app.read_text(encoding="utf-8") + f"# change {n}\n", encoding="utf-8")


@dataclass
class Results:
    cold: dict[str, list[Build]] = field(default_factory=lambda: {s.key: [] for s in SIDES})
    rebuild: dict[str, list[Build]] = field(default_factory=lambda: {s.key: [] for s in SIDES})


def measure(bench: Bench, runs: int) -> Results:
    results = Results()
    for n in range(runs):
        for side in SIDES:
            results.cold[side.key].append(bench.build(side, cold=True))
            touch_source(bench.root, n)
            results.rebuild[side.key].append(bench.build(side, cold=False))
            cold, rebuild = results.cold[side.key][-1], results.rebuild[side.key][-1]
            print(
                f"run {n + 1}/{runs} {side.key}: cold {cold.seconds:.2f} s, "
                f"rebuild {rebuild.seconds:.2f} s",
                file=sys.stderr,
            )
    return results


@dataclass(frozen=True)
class Facts:
    """What the final image of a side's last rebuild holds."""

    size: int
    dev: bool


def facts(bench: Bench, results: Results) -> dict[str, Facts]:
    found = {}
    for side in SIDES:
        image = results.rebuild[side.key][-1].image_id
        answer = bench.answer(image)
        if "says hello docker" not in answer:
            raise SystemExit(f"the {side.key} image does not answer as svc should: {answer!r}")
        found[side.key] = Facts(bench.size(image), bench.has_dev(image))
    return found


# ---------------------------------------------------------------- report


def med(builds: Sequence[Build]) -> float:
    return statistics.median(b.seconds for b in builds)


def spread(builds: Sequence[Build]) -> str:
    seconds = [b.seconds for b in builds]
    return f"{med(builds):.2f} ({min(seconds):.2f} - {max(seconds):.2f})"


def verdict(ratio: float, goal: float) -> str:
    return f"<= {goal}: {'met' if ratio <= goal else 'MISSED'}"


def _step_name(step: Step) -> str:
    where = f"{step.stage} " if step.stage else ""
    return f"{where}{step.number}"


def rerun_steps(build: Build) -> list[str]:
    """The steps a rebuild ran again (not from the cache), with their time, and the rest of
    its time: ws's checks, writing and sending the context, the builder's own work."""
    rows = []
    timed_steps = 0.0
    for step, seconds in zip(build.steps, build.durations, strict=True):
        if not step.cached and not step.instruction.startswith("FROM"):
            timed_steps += seconds
            rows.append(f"| {_step_name(step)} | `{step.instruction[:90]}` | {seconds:.2f} |")
    rest = build.seconds - timed_steps
    return [*rows, f"| | everything else: checks, context, the builder's own work | {rest:.2f} |"]


def ratio(results: Results, series: str, key: str, against: str) -> float:
    by_side = getattr(results, series)
    return med(by_side[key]) / med(by_side[against])


def results_table(results: Results, found: dict[str, Facts]) -> list[str]:
    naive = found[BASELINE]
    rows = ["| measure | " + " | ".join(s.title for s in SIDES) + " |"]
    rows.append("|---|" + "---:|" * len(SIDES))
    for label, series in (
        ("cold build (s)", "cold"),
        ("rebuild after a source-only change (s)", "rebuild"),
    ):
        by_side = getattr(results, series)
        rows.append(f"| {label} | " + " | ".join(spread(by_side[s.key]) for s in SIDES) + " |")
        ratios = [f"{ratio(results, series, s.key, BASELINE):.2f}" for s in SIDES]
        rows.append(f"| ... / {BY_KEY[BASELINE].title} | " + " | ".join(ratios) + " |")
    sizes = [f"{found[s.key].size / 1e6:.1f} ({found[s.key].size / naive.size:.2f})" for s in SIDES]
    rows.append("| final image size, MB (/ naive) | " + " | ".join(sizes) + " |")
    dev = ["yes" if found[s.key].dev else "no" for s in SIDES]
    rows.append("| dev dependencies in the image | " + " | ".join(dev) + " |")
    return rows


def goals_table(results: Results, found: dict[str, Facts]) -> list[str]:
    rows = [
        "| ws | against | rebuild ratio (goal <= 0.3) | what it compares |",
        "|---|---|---|---|",
    ]
    for key, against, what in COMPARISONS:
        value = ratio(results, "rebuild", key, against)
        rows.append(
            f"| {BY_KEY[key].title} | {BY_KEY[against].title} "
            f"| {value:.2f}, {verdict(value, REBUILD_GOAL)} | {what} |"
        )
    sizes = {s.key: found[s.key].size for s in SIDES}
    worst = max(sizes["ws"], sizes["ws_classic"]) / min(sizes["naive"], sizes["naive_buildkit"])
    dev = found["ws"].dev or found["ws_classic"].dev
    rows += [
        "",
        f"Image size, ws's largest against naive's smallest: {worst:.2f} "
        f"({verdict(worst, SIZE_GOAL)}); dev dependencies in ws's images: "
        f"{'yes: MISSED' if dev else 'none: met'}.",
    ]
    return rows


def slowest_steps(build: Build, count: int = 5) -> list[str]:
    pairs = sorted(zip(build.steps, build.durations, strict=True), key=lambda p: -p[1])
    return [
        f"| {_step_name(step)} | `{step.instruction[:90]}` | {seconds:.2f} |"
        for step, seconds in pairs[:count]
    ]


def steps_section(results: Results) -> list[str]:
    lines = []
    for key in ("ws", "ws_classic"):
        lines += [
            f"The slowest steps of the last cold build, {BY_KEY[key].title}:",
            "",
            "| step | instruction | s |",
            "|---:|---|---:|",
            *slowest_steps(results.cold[key][-1]),
            "",
        ]
    lines += [
        "### What a rebuild runs again",
        "",
        "Steps not taken from the cache in each side's last rebuild, timed from the build's",
        "events (BuildKit reports each step's start and end; on the classic builder a step",
        "lasts until the next one starts). BuildKit runs the stages side by side and",
        "numbers the steps of each stage on their own.",
    ]
    for side in SIDES:
        lines += ["", f"{side.title}:", "", "| step | instruction | s |", "|---:|---|---:|"]
        lines += rerun_steps(results.rebuild[side.key][-1])
    return lines


@dataclass(frozen=True)
class Scenario:
    name: str
    results: Results
    facts: dict[str, Facts]
    costs: Costs


def rerun_instructions(build: Build) -> list[str]:
    return [s.instruction for s in build.steps if not s.cached and "FROM" not in s.instruction]


def reading(results: Results) -> str:
    """Where ws's default rebuild time goes, in one sentence computed from this run."""
    last = results.rebuild["ws"][-1]
    seconds = dict(zip((id(s) for s in last.steps), last.durations, strict=True))
    overlay = next((s for s in last.steps if s.instruction == OVERLAY_COPY), None)
    install = next((s for s in last.steps if "--no-editable" in s.instruction), None)
    deps_cached = any(
        s.cached for s in last.steps if s.instruction.startswith("COPY --from=deps /app/.venv")
    )

    def took(step: Step | None) -> str:
        return "not found" if step is None else f"{seconds[id(step)]:.2f} s"

    return (
        f"In ws's last rebuild ({last.seconds:.2f} s, BuildKit) the runtime copy of the "
        f"dependency venv came {'from the cache' if deps_cached else 'AGAIN (not cached)'}; "
        f"the install of the workspace members took {took(install)}, the copy of what it "
        f"installed into the runtime stage {took(overlay)}."
    )


def scenario_section(scenario: Scenario) -> list[str]:
    classic = {
        BY_KEY[k].title: rerun_instructions(scenario.results.rebuild[k][-1])
        for k in ("ws_classic", "naive")
    }
    return [
        f"## Results: {scenario.name}",
        "",
        *goals_table(scenario.results, scenario.facts),
        "",
        *results_table(scenario.results, scenario.facts),
        "",
        reading(scenario.results),
        "",
        *steps_section(scenario.results),
        "",
        *floor_section(
            scenario.costs,
            classic,
            med(scenario.results.rebuild["naive"]),
            REBUILD_GOAL,
            BY_KEY["ws_classic"].title,
        ),
        "",
    ]


def report(client: docker.DockerClient, scenarios: list[Scenario], packages: int, runs: int) -> str:
    lines = [
        "# Benchmark: ws docker build against a naive Dockerfile",
        "",
        "Written by `tooling/bench_docker.py` (`.venv/bin/python tooling/bench_docker.py`);",
        "every figure below comes from one run.",
        "",
        "## What is measured",
        "",
        "- The image of the service member `svc` of the test workspace (tests/support/images.py):",
        f"  svc -> lib (workspace members), plus beta, alpha, delta, gamma and {packages}",
        "  bulky libraries (60 modules of code and 1.5 MB of data each), all served by a local",
        "  index on 127.0.0.1; svc's dev group holds `devtool`; a second image member, `other`,",
        "  stands apart.",
        "- **ws**: the generated Dockerfile, built by `build_members` (its lock and",
        "  generated-file checks included): a `deps` stage installs the lock alone, a `builder`",
        "  stage on top of it installs the workspace members and collects the venv files that",
        "  install created or changed into an overlay, and the runtime stage copies the `deps`",
        "  venv (cached on a source-only change), then the overlay. **naive**: one stage,",
        "  `COPY . .` of the whole workspace (minus .git), `uv sync --frozen --all-packages`",
        "  from the root lock (the dev group too).",
        "- Each Dockerfile is built twice over: by the engine's BuildKit (a `version=2` build",
        "  on the Engine API, what `ws docker build` does on an engine that has it) and by its",
        "  classic builder (what docker-py's build() and, with no buildx installed, `docker",
        "  build` do). The baseline is the naive Dockerfile as `docker build` builds it here:",
        "  on the classic builder.",
        "- Same engine (20.10, host network), same pinned base images; every final image is",
        "  checked to answer as svc should.",
        f"- {runs} round(s), each: a cold build of each side (no cache), then a one-line change",
        "  to `svc/app.py`, then a rebuild of that side from its own cache. Medians (min - max).",
        "  The two builders keep separate caches.",
        "- Two indexes: the loopback index as it is (packages arrive at memory speed), and the",
        "  same index standing for a remote one: each wheel download waits its turn on one",
        "  shared link of the stated bandwidth (no latency added).",
        "",
    ]
    for scenario in scenarios:
        lines += scenario_section(scenario)
    lines += [
        "## Machine",
        "",
        f"- {platform.machine()}, {os.cpu_count()} cores, Linux {platform.release()}, "
        f"Python {platform.python_version()}",
        f"- Docker engine {client.version().get('Version', '?')}; other work may have shared",
        "  the machine while this ran: the min - max spread shows how much it moved.",
    ]
    return "\n".join(lines) + "\n"


def run_scenario(
    client: docker.DockerClient, args: argparse.Namespace, link: float | None
) -> Scenario:
    """One index (loopback, or behind a link of `link` B/s), one workspace, every build."""
    rng = random.Random(2024)  # noqa: S311 -- benchmark data, not secrets
    label = {"ws.bench": f"docker-{uuid.uuid4().hex[:12]}"}
    index = BulkIndex(link)
    with tempfile.TemporaryDirectory(prefix="ws-bench-docker-") as tmp:
        for i in range(args.packages):
            index.add_wheel(bulk_wheel(f"bulk{i:02d}", 60, rng))
        root = Path(tmp) / "ws"
        locks = LockOptions(uv=find_uv(), env=hermetic_uv_env(Path(tmp) / "uv"), jobs=2)
        prepare_workspace(root, index.url, locks, members=members_with_weight(args.packages))
        bench = Bench(client, root, locks, label)
        try:
            results = measure(bench, args.runs)
            found = facts(bench, results)
            python_image = str(load_root_config(load_workspace(root)).python_image)
            costs = measure_costs(client, python_image, next(iter(label.items())), bench.made)
        finally:
            remove_labelled(client, "=".join(next(iter(label.items()))), list(reversed(bench.made)))
            index.close()
    name = "loopback index" if link is None else f"an index behind a {link / 1e6:g} MB/s link"
    return Scenario(name, results, found, costs)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="ws docker build against a naive Dockerfile")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--packages", type=int, default=12, help="bulky libraries svc needs")
    parser.add_argument("--link-mbps", type=float, default=20.0, help="0: loopback only")
    args = parser.parse_args(argv)
    why = docker_answers()
    if why:
        print(why, file=sys.stderr)
        return 2
    client = docker.from_env(timeout=300)
    links = [None] + ([args.link_mbps * 1e6] if args.link_mbps > 0 else [])
    scenarios = [run_scenario(client, args, link) for link in links]
    text = report(client, scenarios, args.packages, args.runs)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(text, encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

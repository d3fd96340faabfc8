"""The Docker benchmark's floor: what one more Dockerfile instruction costs on the engine, with
nothing to do inside it, and so the least time a rebuild re-running given instructions takes."""

from __future__ import annotations

import io
import statistics
import tarfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ws.docker.build import send_build
from ws.docker.stream import Step

# One instruction of each kind that does (almost) nothing: a RUN starts, runs and commits a
# container; a COPY writes a one-file layer; the rest only change the image's config.
PROBES = {"RUN": "RUN true", "COPY": "COPY probe /probe-2", "config": "LABEL ws.probe=1"}


@dataclass(frozen=True)
class Costs:
    """Seconds: a whole build of FROM and one small COPY (sending the context, starting the
    build, one layer), and what each kind of instruction adds to it (medians)."""

    build: float
    step: dict[str, float]
    rounds: int

    def of(self, instruction: str) -> float:
        return self.step[kind(instruction)]


def kind(instruction: str) -> str:
    word = instruction.split(" ", 1)[0].upper()
    if word in ("COPY", "ADD"):
        return "COPY"
    return "RUN" if word == "RUN" else "config"


def _context(dockerfile: str) -> io.BytesIO:
    """A context of the Dockerfile and one file of fresh content, so its COPY never hits
    the cache (nor what follows it)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, data in (("Dockerfile", dockerfile.encode()), ("probe", uuid.uuid4().bytes)):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    buffer.seek(0)
    return buffer


def _timed_build(client: Any, dockerfile: str) -> tuple[float, list[Step]]:
    start = time.monotonic()
    _, steps = send_build(client, "probe", _context(dockerfile), "Dockerfile")
    return time.monotonic() - start, steps


def measure_costs(
    client: Any, image: str, label: tuple[str, str], made: list[str], rounds: int = 7
) -> Costs:
    """Build FROM image + COPY alone and with one probe instruction after it, interleaved,
    rounds times; every image made is appended to made (the label goes on the cached
    first layer, so that the caller's cleanup finds them all)."""
    base = f'FROM {image}\nLABEL {label[0]}="{label[1]}"\nCOPY probe /probe\n'
    seconds: dict[str, list[float]] = {"": [], **{k: [] for k in PROBES}}
    for _ in range(rounds):
        for name, line in [("", ""), *PROBES.items()]:
            took, steps = _timed_build(client, base + (line + "\n" if line else ""))
            seconds[name].append(took)
            made += [s.image_id for s in steps if s.image_id and not s.cached and s.number > 1]
    build = statistics.median(seconds[""])
    step = {k: max(0.0, statistics.median(seconds[k]) - build) for k in PROBES}
    return Costs(build, step, rounds)


def fixed_cost(costs: Costs, instructions: Sequence[str]) -> float:
    """What the instructions cost on this engine with nothing to do inside them."""
    return sum(costs.of(i) for i in instructions)


def floor_section(
    costs: Costs, rerun: dict[str, list[str]], naive_seconds: float, goal: float, ws_side: str
) -> list[str]:
    """Markdown: the cost per classic-builder instruction, and each side's rebuild floor
    against naive's (ws_side names ws's row in rerun)."""
    own_start = max(0.0, costs.build - costs.step["COPY"])
    lines = [
        "### The classic builder's floor on this engine",
        "",
        "What one more instruction costs with nothing to do inside it (medians of "
        f"{costs.rounds} rounds of tiny builds: FROM the Python image and one small COPY, "
        f"{costs.build:.2f} s a build): RUN {costs.step['RUN']:.2f} s, COPY "
        f"{costs.step['COPY']:.2f} s, an instruction that only sets the image's config "
        f"(LABEL, ENV, CMD, ...) {costs.step['config']:.2f} s. (The last LABEL on both sides "
        "is the benchmark's own, which it passes to the engine to find its images again.)",
        "",
        "| side | instructions its rebuild re-ran | their fixed cost (s) "
        "| + a build's own start (s) | floor / naive's rebuild |",
        "|---|---|---:|---:|---:|",
    ]
    floors = {}
    for side, instructions in rerun.items():
        fixed = fixed_cost(costs, instructions)
        floors[side] = own_start + fixed
        kinds = ", ".join(i.split(" ", 1)[0] for i in instructions)
        lines.append(
            f"| {side} | {kinds} | {fixed:.2f} | {own_start:.2f} "
            f"| {floors[side] / naive_seconds:.2f} |"
        )
    ws_floor = floors.get(ws_side, 0.0)
    lines += [
        "",
        f"With no checks and no work inside its instructions, ws's classic rebuild would take "
        f"{ws_floor:.2f} s here, {ws_floor / naive_seconds:.2f} x naive's (goal <= {goal}: "
        f"{goal * naive_seconds:.2f} s). On the classic builder (no RUN --mount) the members "
        "are installed by a RUN, so a source change re-runs at least the COPY of the sources, "
        "that RUN and the COPY of what it installed into the runtime stage.",
    ]
    return lines

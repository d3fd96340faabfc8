"""Benchmark `ws list --json` and `ws graph --format json` on a generated 300-member workspace.

Run: .venv/bin/python tooling/bench_graph.py [--runs 15] [--members 300] [--seed 2024]

`ws --version` is timed beside them: ws's start-up alone, which reads no workspace.

Each command runs as a whole process (the venv's `ws` console script), once to warm up and
then --runs times; the median is reported. Bytecode caching is allowed (PYTHONDONTWRITEBYTECODE
is removed from the environment), as for an installed tool whose modules were compiled once.
The figures go to docs/benchmarks/graph.md, as seconds and as ratios against the floor:
`python -c "import typer"`, the start-up any typer command line pays before doing anything.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.support.files import build_file_tree, toml_array, toml_str  # noqa: E402

GOAL_RATIO = 3.5  # x the floor, `python -c "import typer"` (issue 12)
# `ws --version` reads no workspace: all it may add to typer's start-up is ws's own imports.
VERSION_GOAL_RATIO = 1.5
Edge = tuple[str, str, str, str | None]  # from, to, kind, group


@dataclass(frozen=True)
class Timing:
    label: str
    argv: tuple[str, ...]
    median: float
    low: float
    high: float


def bench_env() -> dict[str, str]:
    """This machine sets PYTHONDONTWRITEBYTECODE=1; an installed tool caches its bytecode."""
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def member_name(i: int) -> str:
    return f"pkg-{i:03d}"


def random_edges(count: int, rng: random.Random) -> dict[str, list[Edge]]:
    """Each member depends on up to 3 earlier ones: runtime, via an extra, or via a group."""
    edges: dict[str, list[Edge]] = {}
    for i in range(count):
        name = member_name(i)
        targets = rng.sample(range(i), k=rng.randint(0, min(3, i)))
        mine: list[Edge] = []
        for t in sorted(targets):
            kind = rng.choices(["runtime", "extra", "group"], weights=[6, 2, 2])[0]
            group = {"runtime": None, "extra": "plugins", "group": "dev"}[kind]
            mine.append((name, member_name(t), kind, group))
        edges[name] = mine
    return edges


def member_pyproject(name: str, edges: Sequence[Edge]) -> str:
    runtime = [to for _, to, kind, _ in edges if kind == "runtime"]
    extra = [to for _, to, kind, _ in edges if kind == "extra"]
    group = [to for _, to, kind, _ in edges if kind == "group"]
    lines = [
        "[project]",
        f"name = {toml_str(name)}",
        'version = "0.1.0"',
        'requires-python = ">=3.11"',
        f"dependencies = {toml_array(runtime)}",
    ]
    if extra:
        lines += ["", "[project.optional-dependencies]", f"plugins = {toml_array(extra)}"]
    if group:
        lines += ["", "[dependency-groups]", f"dev = {toml_array(group)}"]
    if edges:
        lines += ["", "[tool.uv.sources]"]
        lines += [f"{to} = {{ workspace = true }}" for to in sorted({e[1] for e in edges})]
    return "\n".join(lines) + "\n"


def write_workspace(root: Path, edges: dict[str, list[Edge]]) -> None:
    files = {"pyproject.toml": '[tool.uv.workspace]\nmembers = ["packages/*"]\n'}
    for name, mine in edges.items():
        files[f"packages/{name}/pyproject.toml"] = member_pyproject(name, mine)
    build_file_tree(root, files)


def run_once(argv: Sequence[str], cwd: Path, env: dict[str, str]) -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({done.returncode}):\n{done.stderr}")
    return elapsed, done.stdout


def measure(
    commands: dict[str, list[str]], cwd: Path, env: dict[str, str], runs: int
) -> tuple[dict[str, Timing], dict[str, str]]:
    """One warm-up each, then runs rounds interleaving the commands (so drift hits all alike)."""
    outputs = {label: run_once(argv, cwd, env)[1] for label, argv in commands.items()}
    samples: dict[str, list[float]] = {label: [] for label in commands}
    for _ in range(runs):
        for label, argv in commands.items():
            samples[label].append(run_once(argv, cwd, env)[0])
    timings = {
        label: Timing(label, tuple(commands[label]), statistics.median(s), min(s), max(s))
        for label, s in samples.items()
    }
    return timings, outputs


def verify(outputs: dict[str, str], edges: dict[str, list[Edge]]) -> list[str]:
    """Both outputs must hold every member and exactly the generated edges."""
    expected = sorted(e for mine in edges.values() for e in mine)
    listed = json.loads(outputs["ws list --json"])
    graph = json.loads(outputs["ws graph --format json"])
    list_edges = sorted(
        (m["name"], d["name"], d["kind"], d["group"])
        for m in listed["members"]
        for d in m["dependencies"]
    )
    graph_edges = sorted((e["from"], e["to"], e["kind"], e["group"]) for e in graph["edges"])
    checks = {
        "list: member count": len(listed["members"]) == len(edges),
        "graph: node count": len(graph["nodes"]) == len(edges),
        "list: edges equal the generated ones": list_edges == expected,
        "graph: edges equal the generated ones": graph_edges == expected,
        "version: one line naming ws": outputs["ws --version"].startswith("ws "),
    }
    failed = [name for name, ok in checks.items() if not ok]
    if failed:
        raise SystemExit(f"output check failed: {', '.join(failed)}")
    return [
        f"{len(edges)} members in both outputs",
        f"{len(expected)} edges in both outputs, equal to the generated ones",
        f"`ws --version` printed `{outputs['ws --version'].strip()}`",
    ]


def base_python() -> str:
    """The real interpreter behind this venv (not a pyenv shim)."""
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    path = Path(sys.base_prefix) / "bin" / f"python{version}"
    if not path.is_file():
        raise SystemExit(f"{path}: not found; cannot point uv at a concrete interpreter")
    return str(path)


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} cores ({cpu}), {platform.system()} {platform.release()}"


def load_average() -> str:
    """The 1-minute load average: other work on the machine skews the figures."""
    return f"{os.getloadavg()[0]:.2f}"


def kind_counts(edges: dict[str, list[Edge]]) -> str:
    counts: dict[str, int] = {}
    for mine in edges.values():
        for _, _, kind, _ in mine:
            counts[kind] = counts.get(kind, 0) + 1
    return ", ".join(f"{counts.get(k, 0)} {k}" for k in ("runtime", "extra", "group"))


def commands(python: str, ws: str) -> dict[str, list[str]]:
    return {
        "python -c pass": [python, "-c", "pass"],
        'python -c "import typer"': [python, "-c", "import typer"],
        "ws --help": [ws, "--help"],
        "ws --version": [ws, "--version"],
        "ws list --json": [ws, "list", "--json"],
        "ws graph --format json": [ws, "graph", "--format", "json"],
    }


FLOOR = 'python -c "import typer"'

# Where one `ws list`/`ws graph` process spends its time, phase by phase (run in the workspace).
PHASES_SCRIPT = """
import json, time
from pathlib import Path
t = [time.perf_counter()]
import typer; t.append(time.perf_counter())
import packaging.requirements; t.append(time.perf_counter())
import ws.cli.app, ws.cli.report, ws.workspace.members; t.append(time.perf_counter())
w = ws.workspace.members.load_workspace(Path(".")); t.append(time.perf_counter())
ws.cli.report.list_json(w); t.append(time.perf_counter())
import networkx, ws.workspace.graph; t.append(time.perf_counter())
g = ws.workspace.graph.build_graph(w); t.append(time.perf_counter())
ws.cli.report.graph_json(g); t.append(time.perf_counter())
print(json.dumps([b - a for a, b in zip(t, t[1:])]))
"""
PHASES = (
    "import typer",
    "import packaging.requirements",
    "import ws.cli.app, ws.cli.report, ws.workspace.members (ws's own modules)",
    "load_workspace: read and parse 300 pyproject.toml files",
    "list_json (render)",
    "import networkx, ws.workspace.graph (not for these two: ws graph's tree, dot, mermaid,"
    " one member)",
    "build_graph (networkx DiGraph)",
    "graph_json (render)",
)
MEASURED = ("ws list --json", "ws graph --format json")
# Each command held to a goal, and its goal in x the floor.
GOALS = {**dict.fromkeys(MEASURED, GOAL_RATIO), "ws --version": VERSION_GOAL_RATIO}


def missed(timings: dict[str, Timing]) -> list[str]:
    """The commands slower than their goal, in x the floor of the same run."""
    floor = timings[FLOOR].median
    return [label for label, ratio in GOALS.items() if timings[label].median > ratio * floor]


def phases(python: str, cwd: Path, env: dict[str, str], runs: int) -> list[float]:
    """The median seconds of each phase in PHASES, over runs in-process measurements."""
    samples = [
        json.loads(run_once([python, "-c", PHASES_SCRIPT], cwd, env)[1]) for _ in range(runs)
    ]
    return [statistics.median(column) for column in zip(*samples, strict=True)]


def phase_table(seconds: list[float]) -> list[str]:
    rows = ["| phase | median (ms) |", "|---|---:|"]
    rows += [f"| {name} | {s * 1000:.0f} |" for name, s in zip(PHASES, seconds, strict=True)]
    rows.append(f"| total of the phases | {sum(seconds) * 1000:.0f} |")
    return rows


def table(timings: dict[str, Timing]) -> list[str]:
    floor = timings[FLOOR].median
    late = missed(timings)
    rows = [
        "| command | median (s) | min - max (s) | x floor | goal |",
        "|---|---:|---:|---:|---|",
    ]
    for label, t in timings.items():
        goal = ""
        if label in GOALS:
            goal = f"<= {GOALS[label]} x floor: {'MISSED' if label in late else 'met'}"
        elif label == FLOOR:
            goal = "(the floor)"
        rows.append(
            f"| `{label}` | {t.median:.3f} | {t.low:.3f} - {t.high:.3f} "
            f"| {t.median / floor:.2f} | {goal} |"
        )
    return rows


def report(
    timings: dict[str, Timing],
    split: list[float],
    checks: list[str],
    args: argparse.Namespace,
    kinds: str,
) -> str:
    lines = [
        "# Benchmark: reading a 300-member workspace",
        "",
        "Written by `tooling/bench_graph.py` (run it with the project venv:",
        "`.venv/bin/python tooling/bench_graph.py`); every figure below comes from one run.",
        "",
        "## What is measured",
        "",
        f"- A generated workspace of {args.members} members (seed {args.seed}), pyproject.toml "
        "files only: each member depends on up to 3 earlier members "
        f"({kinds} edges: runtime, through the extra `plugins`, or through the "
        "dependency group `dev`).",
        "- Each command runs as a whole process, the venv's `ws` console script, with the "
        f"workspace root as its working directory: one warm-up, then {args.runs} runs, "
        "interleaved round by round; the median is reported.",
        "- Bytecode caching is allowed: this machine sets `PYTHONDONTWRITEBYTECODE=1`, which the "
        "benchmark removes from the environment, as an installed tool compiles its modules once "
        "and then starts from the cached bytecode. The warm-up run writes any missing cache.",
        '- The floor for the ratios is `python -c "import typer"` with the same interpreter: the '
        "start-up any typer command line pays before doing any work. `python -c pass` (the bare "
        "interpreter) and `ws --help` (ws's own start-up, no workspace read) are shown for scale.",
        f"- Goal: each of `ws list --json` and `ws graph --format json` at most {GOAL_RATIO} x "
        "the floor, and `ws --version` (ws's start-up alone: it reads no workspace and starts "
        f"no uv) at most {VERSION_GOAL_RATIO} x the floor, in the same run.",
        "",
        "## Results",
        "",
        *table(timings),
        "",
        "Output checks: " + "; ".join(checks) + ".",
        "",
        "## Where the time goes",
        "",
        "The same work timed phase by phase inside one process (median of "
        f"{args.runs} processes; imports in the order `ws list` meets them, so each row is what "
        "that import adds). The rest of a `ws` process is the interpreter's start-up "
        "(`python -c pass`) and typer parsing the command line.",
        "",
        *phase_table(split),
        "",
        "Neither command imports networkx (the JSON of the whole graph is rendered from the "
        "members; the last three rows are what the other formats add), and typer is held "
        "below 0.21, whose parameter coercion imported pydantic on every run. Reading the "
        "300 pyprojects is the largest part that is ws's own.",
        "",
        *machine_section(args.load_before),
    ]
    return "\n".join(lines)


def machine_section(load_before: str) -> list[str]:
    """A page's `## Machine` section: the machine, the interpreter, and its load around the
    run (load_before: as load_average() gave it when the run started)."""
    return [
        "## Machine",
        "",
        f"- {machine()}",
        f"- Python {platform.python_version()} ({sys.executable})",
        f"- 1-minute load average before / after the run: {load_before} / {load_average()} "
        "(anything well above 0 means other work shared the cores and the figures are high)",
        "",
    ]


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--members", type=int, default=300)
    parser.add_argument("--runs", type=int, default=15, help="timed runs after one warm-up")
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "benchmarks" / "graph.md")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    args.load_before = load_average()
    bindir = Path(sys.executable).parent
    ws = bindir / "ws"
    if not ws.is_file():
        raise SystemExit(f"{ws}: no ws console script beside this Python; use the project venv")
    edges = random_edges(args.members, random.Random(args.seed))
    with tempfile.TemporaryDirectory(prefix="ws-bench-graph-") as tmp:
        root = Path(tmp)
        write_workspace(root, edges)
        env = bench_env()
        timings, outputs = measure(commands(sys.executable, str(ws)), root, env, args.runs)
        split = phases(sys.executable, root, env, args.runs)
    checks = verify(outputs, edges)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report(timings, split, checks, args, kind_counts(edges)), encoding="utf-8")
    print("\n".join(table(timings)))
    print("\n".join(phase_table(split)))
    print("checks: " + "; ".join(checks))
    print(f"written: {args.out}")
    return 1 if missed(timings) else 0


if __name__ == "__main__":
    sys.exit(main())

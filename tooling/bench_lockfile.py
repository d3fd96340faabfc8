"""Benchmark ws's uv.lock parser on 30,000 entries of one shared name and of distinct names.

Run: .venv/bin/python tooling/bench_lockfile.py [--runs 5] [--entries 30000] [--before REV]

A lock whose entries all share one name was indexed in quadratic time (30,000 entries: 3.6 s,
a growing tuple copied per entry). ws.workspace.lockfile.parse_lock is timed on that lock and
on one of as many distinct names, each against `tomllib.loads` of the same text: the stdlib
TOML parser, a floor any lock reader pays. Each parse runs in a fresh process of this venv's
Python (one warm-up per command, then --runs rounds interleaving the commands; medians), and
only the parse call is timed. The parser of --before (a commit before the fix) is run once on
each lock, from a git worktree removed afterwards. The figures go to docs/benchmarks/lockfile.md.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tooling import bench_graph  # noqa: E402

SHARED_GOAL = 3.0  # ws's parse of the shared-name lock, x tomllib's of the same text
SPREAD_GOAL = 1.5  # ws's parse of the shared-name lock, x its parse of the distinct-name lock
# The last commit whose parse_lock indexed names by copying a tuple per entry; the next one,
# 5e32a56, appends to lists and freezes each once (ws.workspace.lockfile._by_name).
BEFORE = "5e32a56~1"
# What the tests' locks name as their index: no real host (nothing is fetched).
REG = 'source = { registry = "http://127.0.0.1/simple" }'
HEAD = 'version = 1\nrevision = 3\nrequires-python = ">=3.11"\n\n'
LOCKS = ("shared", "distinct")

# One parse, timed inside a fresh process: argv is the parser, its module and the lock file.
# It prints the seconds, the entries read, and how many of them share the first one's name.
PARSE_SCRIPT = """
import importlib, json, sys, time
from pathlib import Path
kind, module, lock = sys.argv[1:]
text = Path(lock).read_text(encoding="utf-8")
parser = importlib.import_module(module)
if kind == "tomllib":
    start = time.perf_counter()
    packages = parser.loads(text)["package"]
    seconds = time.perf_counter() - start
    first = [p for p in packages if p["name"] == packages[0]["name"]]
else:
    start = time.perf_counter()
    read = parser.parse_lock(text, Path("uv.lock"))
    seconds = time.perf_counter() - start
    packages, first = read.entries, read.by_name(read.entries[0].name)
print(json.dumps({"seconds": seconds, "entries": len(packages), "first": len(first),
                  "file": parser.__file__}))
"""


@dataclass(frozen=True)
class Command:
    label: str
    lock: str  # one of LOCKS
    kind: str  # "tomllib" or "ws"
    module: str
    src: Path | None = None  # a ws source folder put first on PYTHONPATH


@dataclass(frozen=True)
class Timing:
    command: Command
    samples: tuple[float, ...]

    @property
    def median(self) -> float:
        return statistics.median(self.samples)


def lock_text(lock: str, count: int) -> str:
    """A lock as the tests build one: count entries, all named "x" or each its own name."""
    if lock == "shared":
        entries = (f'[[package]]\nname = "x"\nversion = "{i}"\n{REG}\n\n' for i in range(count))
    else:
        entries = (
            f'[[package]]\nname = "pkg-{i:05d}"\nversion = "1.0.0"\n{REG}\n\n' for i in range(count)
        )
    return HEAD + "".join(entries)


def current_commands() -> list[Command]:
    """Each lock: the floor, then ws's parser as this checkout has it."""
    return [
        command
        for lock in LOCKS
        for command in (
            Command(f"{lock}: `tomllib.loads(text)` (baseline)", lock, "tomllib", "tomllib"),
            Command(f"{lock}: ws `parse_lock(text, ...)`", lock, "ws", "ws.workspace.lockfile"),
        )
    ]


def before_commands(rev: str, src: Path) -> list[Command]:
    """ws's parser at rev: then ws.lockfile, before the folders were split (d315df5)."""
    return [
        Command(
            f"{lock}: ws `parse_lock` before the fix (commit {rev})", lock, "ws", "ws.lockfile", src
        )
        for lock in LOCKS
    ]


def run_once(command: Command, files: dict[str, Path], count: int) -> float:
    """One fresh process, one parse; the process must read every entry, from the right code."""
    env = bench_graph.bench_env()
    if command.src is not None:
        env["PYTHONPATH"] = str(command.src)  # ahead of the venv's editable install of ws
    argv = [
        sys.executable,
        "-c",
        PARSE_SCRIPT,
        command.kind,
        command.module,
        str(files[command.lock]),
    ]
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{command.label} failed ({done.returncode}):\n{done.stderr}")
    out = json.loads(done.stdout)
    first = count if command.lock == "shared" else 1
    if out["entries"] != count or out["first"] != first:
        raise SystemExit(f"{command.label}: read {out['entries']} entries, {out['first']} first")
    if command.src is not None and not Path(out["file"]).is_relative_to(command.src):
        raise SystemExit(f"{command.label}: ran {out['file']}, not the code under {command.src}")
    return out["seconds"]


def measure(commands: list[Command], files: dict[str, Path], count: int, runs: int) -> list[Timing]:
    """One warm-up each, then runs rounds interleaving the commands (so drift hits all alike)."""
    for command in commands:
        run_once(command, files, count)
    samples: dict[Command, list[float]] = {command: [] for command in commands}
    for _ in range(runs):
        for command in commands:
            samples[command].append(run_once(command, files, count))
    return [Timing(command, tuple(s)) for command, s in samples.items()]


@contextmanager
def worktree(rev: str, where: Path) -> Iterator[tuple[str, Path]]:
    """rev checked out at where, detached, as (its short hash, its ws source folder); the
    worktree is removed however the run ends."""
    short = git("rev-parse", "--short", f"{rev}^{{commit}}")
    git("worktree", "add", "--detach", str(where), short)
    try:
        yield short, where / "tooling" / "ws" / "src"
    finally:
        git("worktree", "remove", "--force", str(where))


def git(*args: str) -> str:
    done = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"git {' '.join(args)} failed:\n{done.stderr}")
    return done.stdout.strip()


def floors(timings: list[Timing]) -> dict[str, float]:
    """tomllib's median on each lock: what every row of that lock is a ratio of."""
    return {t.command.lock: t.median for t in timings if t.command.kind == "tomllib"}


def current_ws(timings: list[Timing], lock: str) -> Timing:
    return next(
        t
        for t in timings
        if t.command.kind == "ws" and t.command.src is None and t.command.lock == lock
    )


def spread(timings: list[Timing]) -> float:
    """ws's shared-name parse over its distinct-name parse: 1 when a shared name costs nothing."""
    return current_ws(timings, "shared").median / current_ws(timings, "distinct").median


def goals_met(timings: list[Timing]) -> dict[str, bool]:
    shared = current_ws(timings, "shared").median
    return {
        f"<= {SHARED_GOAL} x tomllib": shared <= SHARED_GOAL * floors(timings)["shared"],
        f"<= {SPREAD_GOAL} x the distinct-name parse ({spread(timings):.2f} x)": spread(timings)
        <= SPREAD_GOAL,
    }


def table(timings: list[Timing]) -> list[str]:
    floor = floors(timings)
    rows = [
        "| command | median (s) | min - max (s) | runs | x tomllib (same lock) | goal |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for t in timings:
        goal = ""
        if t.command.kind == "tomllib":
            goal = "(the baseline)"
        elif t is current_ws(timings, "shared"):
            met = goals_met(timings)
            goal = "; ".join(f"{g}: {'met' if ok else 'MISSED'}" for g, ok in met.items())
        rows.append(
            f"| {t.command.label} | {t.median:.3f} | {min(t.samples):.3f} - {max(t.samples):.3f} "
            f"| {len(t.samples)} | {t.median / floor[t.command.lock]:.2f} | {goal} |"
        )
    return rows


def report(timings: list[Timing], args: argparse.Namespace, before: str | None) -> str:
    shared, distinct = (current_ws(timings, lock).median for lock in LOCKS)
    old = [t for t in timings if t.command.src is not None]
    lines = [
        "# Benchmark: parsing a uv.lock whose entries share a name",
        "",
        "Written by `tooling/bench_lockfile.py` (run it with the project venv:",
        "`.venv/bin/python tooling/bench_lockfile.py`); every figure below comes from one run.",
        "",
        "## What is measured",
        "",
        f"- Two generated locks of {args.entries:,} `[[package]]` entries each, built as "
        "tests/test_lockfile.py's `test_a_name_shared_by_many_entries_is_indexed_in_one_pass` "
        'builds its lock (a header `version = 1`, `revision = 3`, `requires-python = ">=3.11"`; '
        "each entry a name, a version and a registry source on 127.0.0.1, no files): in "
        "**shared** every entry is named `x` (versions 0, 1, ...), in **distinct** each entry "
        "has its own name.",
        '- ws\'s parser, `ws.workspace.lockfile.parse_lock(text, Path("uv.lock"))`, against the '
        "baseline `tomllib.loads(text)` of the same text: the stdlib TOML parser, a floor any "
        "lock reader pays (ws's parser calls it on every part of the lock).",
        "- Each parse runs in a fresh process of the venv's Python, which reads the lock file, "
        "imports the parser and then times only the parse call (`time.perf_counter`), with "
        f"Python's default garbage-collector settings: one warm-up per command, then {args.runs} "
        "rounds interleaving the commands; the median is reported. Each process checks that "
        "every entry was read and that the first entry's name indexes all of them (shared) or "
        "one (distinct).",
        "- This machine sets `PYTHONDONTWRITEBYTECODE=1`; the benchmark removes it from the "
        "timed processes, as an installed tool compiles its modules once (imports are not "
        "timed here either way).",
        f"- Goals: ws's parse of the shared-name lock at most {SHARED_GOAL} x tomllib's of the "
        f"same text, and at most {SPREAD_GOAL} x ws's parse of the distinct-name lock: a name "
        "shared by every entry costs no more than distinct names (no quadratic index), in the "
        "same run.",
    ]
    if before is not None:
        lines.append(
            f"- Before the fix: ws's parser at commit {before} (`ws.lockfile.parse_lock`, the "
            "last version that indexed names by copying a growing tuple per entry), run from a "
            "git worktree of that commit put first on `PYTHONPATH`, with the same Python, once "
            "per lock without a warm-up. That parser also read the lock differently (one "
            "`tomllib` pass over a trimmed copy, not a parse per entry), so its distinct-name "
            "row is its own linear cost."
        )
    lines += [
        "",
        "## Results",
        "",
        *table(timings),
        "",
        f"ws's parse: {shared / floors(timings)['shared']:.2f} x tomllib on the shared-name lock, "
        f"{distinct / floors(timings)['distinct']:.2f} x on the distinct-name lock; shared / "
        f"distinct = {spread(timings):.2f}.",
    ]
    if old:
        by_lock = {t.command.lock: t.median for t in old}
        lines.append(
            f"Before the fix the shared-name parse took {by_lock['shared']:.2f} s "
            f"({by_lock['shared'] / by_lock['distinct']:.1f} x that parser's distinct-name parse, "
            f"{by_lock['shared'] / shared:.1f} x today's)."
        )
    lines += ["", *bench_graph.machine_section(args.load_before)]
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--entries", type=int, default=30_000)
    parser.add_argument("--runs", type=int, default=5, help="timed runs after one warm-up")
    parser.add_argument(
        "--before", default=BEFORE, help="a commit before the fix, parsed once per lock"
    )
    parser.add_argument(
        "--no-before", action="store_true", help="leave out the commit before the fix"
    )
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "benchmarks" / "lockfile.md")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    args.load_before = bench_graph.load_average()
    before = None
    with tempfile.TemporaryDirectory(prefix="ws-bench-lockfile-") as tmp:
        files = {lock: Path(tmp) / f"{lock}.lock" for lock in LOCKS}
        for lock, path in files.items():
            path.write_text(lock_text(lock, args.entries), encoding="utf-8")
        timings = measure(current_commands(), files, args.entries, args.runs)
        if not args.no_before:
            with worktree(args.before, Path(tmp) / "before") as (before, src):
                timings += [
                    Timing(c, (run_once(c, files, args.entries),))
                    for c in before_commands(before, src)
                ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report(timings, args, before), encoding="utf-8")
    print("\n".join(table(timings)))
    print(f"written: {args.out}")
    return 0 if all(goals_met(timings).values()) else 1


if __name__ == "__main__":
    sys.exit(main())

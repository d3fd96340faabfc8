"""Benchmark `ws sync-locks` against a naive per-member `uv lock` loop, on 12 and 50 members.

Run: .venv/bin/python tooling/bench_locks.py [--sizes 12 50] [--runs 3]

Both sides lock the same generated workspaces (members without workspace dependencies, each
needing 1-3 packages of a local index on 127.0.0.1), with the same uv binary (ws gets it through
WS_UV), the same hermetic environment and the same warm uv cache. The naive loop, one member
after another: copy its pyproject.toml into an empty temporary folder, append the workspace
root's [[tool.uv.index]] (the copy has no root to inherit it from), `uv lock` there, copy uv.lock
back. The figures go to docs/benchmarks/locks.md.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.support.files import make_workspace, toml_str  # noqa: E402
from tests.support.pyindex import LocalIndex, Package, find_uv, hermetic_uv_env  # noqa: E402

LOCK = "uv.lock"
NOOP_GOAL_SECONDS = 1.0  # absolute, for the largest workspace
BUMP_GOAL_RATIO = 0.25
REMAKE_GOAL_RATIO = 0.6
LIBRARIES = 20
BUMP_FEW = "one dependency bumped, a library few members hold"
BUMP_SHARED = "one dependency bumped, a library many members hold"


@dataclass
class Catalogue:
    """The index's packages: each library's requirements and its newest minor version."""

    requires: dict[str, tuple[str, ...]]
    newest: dict[str, int]  # library -> n of its newest release 1.n

    def packages(self) -> list[Package]:
        return [
            Package(lib, f"1.{n}", self.requires[lib])
            for lib in self.requires
            for n in range(self.newest[lib] + 1)
        ]

    def publish_next(self, index: LocalIndex, lib: str) -> str:
        """Release lib's next version (what a member then bumps its floor to)."""
        self.newest[lib] += 1
        version = f"1.{self.newest[lib]}"
        index.add(lib, version, self.requires[lib])
        return version


def make_catalogue(rng: random.Random) -> Catalogue:
    """20 libraries, versions 1.0-1.2, each requiring up to 2 earlier libraries."""
    libs = [f"lib{i:02d}" for i in range(LIBRARIES)]
    requires = {
        lib: tuple(
            f"{libs[j]}>=1.0" for j in sorted(rng.sample(range(i), k=min(i, rng.randint(0, 2))))
        )
        for i, lib in enumerate(libs)
    }
    return Catalogue(requires, dict.fromkeys(libs, 2))


def member_specs(count: int, rng: random.Random) -> dict[str, dict[str, Any]]:
    libs = [f"lib{i:02d}" for i in range(LIBRARIES)]
    return {
        f"member{i:02d}": {
            "dependencies": [f"{lib}>=1.0" for lib in sorted(rng.sample(libs, rng.randint(1, 3)))]
        }
        for i in range(count)
    }


@dataclass
class Setup:
    """Everything both sides share."""

    index: LocalIndex
    uv: str
    uv_env: dict[str, str]
    ws_env: dict[str, str]
    ws: str


def make_setup(index: LocalIndex, home: Path) -> Setup:
    uv = find_uv()
    # A concrete interpreter: found through this machine's pyenv shims, uv spends ~0.18 s of
    # every `uv lock` finding Python, the same on both sides, which would hide what differs.
    uv_env = dict(hermetic_uv_env(home), UV_PYTHON=base_python())
    ws_env = dict(uv_env, WS_UV=uv)
    # This machine sets PYTHONDONTWRITEBYTECODE=1; an installed ws starts from cached bytecode.
    ws_env.pop("PYTHONDONTWRITEBYTECODE", None)
    ws = Path(sys.executable).parent / "ws"
    if not ws.is_file():
        raise SystemExit(f"{ws}: no ws console script beside this Python; use the project venv")
    return Setup(index, uv, uv_env, ws_env, str(ws))


def base_python() -> str:
    """The real interpreter behind this venv (not a shim)."""
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    path = Path(sys.base_prefix) / "bin" / f"python{version}"
    if not path.is_file():
        raise SystemExit(f"{path}: not found; cannot point uv at a concrete interpreter")
    return str(path)


def index_table(url: str) -> str:
    return f'\n[[tool.uv.index]]\nname = "local"\nurl = {toml_str(url)}\ndefault = true\n'


def run(argv: Sequence[str], cwd: Path, env: dict[str, str]) -> str:
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed in {cwd} ({done.returncode}):\n{done.stderr}")
    return done.stdout


def naive_loop(setup: Setup, root: Path, names: Sequence[str]) -> None:
    """One member after another: its pyproject alone (plus the index) locked in a temp folder."""
    for name in names:
        member = root / "packages" / name
        with tempfile.TemporaryDirectory(prefix="naive-lock-") as tmp:
            text = (member / "pyproject.toml").read_text(encoding="utf-8")
            (Path(tmp) / "pyproject.toml").write_text(
                text + index_table(setup.index.url), encoding="utf-8"
            )
            run([setup.uv, "lock", "--color", "never", "--no-progress"], Path(tmp), setup.uv_env)
            shutil.copyfile(Path(tmp) / LOCK, member / LOCK)


def ws_sync(setup: Setup, root: Path) -> dict[str, Any]:
    return json.loads(run([setup.ws, "sync-locks", "--json"], root, setup.ws_env))


def timed(action: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = action()
    return time.perf_counter() - start, result


@dataclass
class Scenario:
    """Seconds per run of each side; notes say what ws did."""

    ws: list[float] = field(default_factory=list)
    loop: list[float] = field(default_factory=list)
    loop_one: list[float] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass
class Trees:
    """One workspace for ws and an identical one for the naive loop."""

    ws: Path
    loop: Path
    names: list[str]
    specs: dict[str, dict[str, Any]]


def expect(report: dict[str, Any], root: set[str], members: dict[str, str], default: str) -> None:
    """Fail unless ws reported what the scenario must produce (so a timing is never of a no-op
    that secretly re-locked, or of a bump that re-locked nothing)."""
    if report["root"] not in root:
        raise SystemExit(f"ws: root lock {report['root']}, expected one of {sorted(root)}")
    for name, status in report["members"].items():
        wanted = members.get(name, default)
        if wanted != "*" and status != wanted:
            raise SystemExit(f"ws: {name} {status}, expected {wanted}")


def registry_pins(path: Path) -> set[tuple[str, str]]:
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    return {
        (p["name"], p["version"])
        for p in data.get("package", [])
        if "registry" in p.get("source", {})
    }


def same_locks(trees: Trees) -> None:
    """Both sides must have pinned the same packages for every member."""
    for name in trees.names:
        ws_pins = registry_pins(trees.ws / "packages" / name / LOCK)
        loop_pins = registry_pins(trees.loop / "packages" / name / LOCK)
        if ws_pins != loop_pins:
            raise SystemExit(f"{name}: ws pinned {sorted(ws_pins)}, the loop {sorted(loop_pins)}")


def first_run(setup: Setup, trees: Trees) -> Scenario:
    """Create every lock (also warms the uv cache; not a goal)."""
    s = Scenario()
    seconds, report = timed(lambda: ws_sync(setup, trees.ws))
    expect(report, {"created"}, {}, "created")
    s.ws.append(seconds)
    s.loop.append(timed(lambda: naive_loop(setup, trees.loop, trees.names))[0])
    same_locks(trees)
    return s


def noop(setup: Setup, trees: Trees, runs: int, ws_runs: int) -> Scenario:
    s = Scenario()
    for _ in range(ws_runs):
        seconds, report = timed(lambda: ws_sync(setup, trees.ws))
        expect(report, {"fresh"}, {}, "fresh")
        s.ws.append(seconds)
    for _ in range(runs):
        s.loop.append(timed(lambda: naive_loop(setup, trees.loop, trees.names))[0])
    s.notes.append("ws re-locked nothing (root and every member: fresh)")
    return s


def raise_floor(trees: Trees, member: str, lib: str, version: str) -> None:
    """Edit one specifier in both trees: member now needs lib>=version."""
    old = next(d for d in trees.specs[member]["dependencies"] if d.startswith(f"{lib}>="))
    new = f"{lib}>={version}"
    for root in (trees.ws, trees.loop):
        path = root / "packages" / member / "pyproject.toml"
        text = path.read_text(encoding="utf-8")
        if toml_str(old) not in text:
            raise SystemExit(f"{path}: no {old!r} to bump")
        path.write_text(text.replace(toml_str(old), toml_str(new)), encoding="utf-8")
    deps = trees.specs[member]["dependencies"]
    deps[deps.index(old)] = new


def holders(trees: Trees) -> dict[str, set[str]]:
    """library -> the members whose ws lock holds it (directly or through another library)."""
    found: dict[str, set[str]] = {}
    for name in trees.names:
        for lib, _ in registry_pins(trees.ws / "packages" / name / LOCK):
            found.setdefault(lib, set()).add(name)
    return found


def pick_bump(trees: Trees, done: set[str], shared: bool) -> tuple[str, str, int]:
    """A (member, library it needs, holder count) not bumped before: the library fewest
    members hold, or with shared the one most members hold."""
    held = holders(trees)
    candidates = [
        (len(held[lib]), member, lib)
        for member in trees.names
        if member not in done
        for lib in (d.split(">=")[0] for d in trees.specs[member]["dependencies"])
    ]
    # Ties go to the first member by name, so a run always picks the same.
    most_first = (lambda c: (-c[0], c[1], c[2])) if shared else (lambda c: c)
    count, member, lib = min(candidates, key=most_first)
    return member, lib, count


def bump(setup: Setup, catalogue: Catalogue, trees: Trees, runs: int, *, shared: bool) -> Scenario:
    """Each run: a library gets a new release and one (other) member raises its floor to it."""
    s = Scenario()
    done: set[str] = set()
    for _ in range(runs):
        member, lib, count = pick_bump(trees, done, shared)
        done.add(member)
        version = catalogue.publish_next(setup.index, lib)
        raise_floor(trees, member, lib, version)
        seconds, report = timed(lambda: ws_sync(setup, trees.ws))
        expect(report, {"updated"}, {member: "updated"}, "*")
        s.ws.append(seconds)
        s.notes.append(
            f"{member} now needs {lib}>={version}; {count} member lock(s) hold {lib}: ws "
            f"re-locked the root and {len(report['changed'])} member lock(s)"
        )
        s.loop_one.append(timed(functools.partial(naive_loop, setup, trees.loop, [member]))[0])
        s.loop.append(timed(lambda: naive_loop(setup, trees.loop, trees.names))[0])
        same_locks(trees)
    return s


def delete_locks(root: Path, names: Sequence[str]) -> None:
    for name in names:
        (root / "packages" / name / LOCK).unlink()


def remake(setup: Setup, trees: Trees, runs: int) -> Scenario:
    """Each run: every member lock and ws's cache deleted (the root lock stays), all re-made."""
    s = Scenario()
    for _ in range(runs):
        delete_locks(trees.ws, trees.names)
        shutil.rmtree(trees.ws / ".ws")
        seconds, report = timed(lambda: ws_sync(setup, trees.ws))
        expect(report, {"unchanged"}, {}, "created")
        s.ws.append(seconds)
        delete_locks(trees.loop, trees.names)
        s.loop.append(timed(lambda: naive_loop(setup, trees.loop, trees.names))[0])
        same_locks(trees)
    s.notes.append("ws re-locked the root (its cache was gone; result unchanged) and every member")
    return s


def make_trees(base: Path, size: int, url: str, rng: random.Random) -> Trees:
    specs = member_specs(size, rng)
    ws_root = make_workspace(base / f"ws-{size}", specs, index_url=url)
    loop_root = make_workspace(base / f"loop-{size}", specs, index_url=url)
    return Trees(ws_root, loop_root, sorted(specs), specs)


@dataclass
class SizeResult:
    size: int
    scenarios: dict[str, Scenario]


def bench_size(
    setup: Setup, catalogue: Catalogue, base: Path, size: int, args: argparse.Namespace
) -> SizeResult:
    trees = make_trees(base, size, setup.index.url, random.Random(args.seed + size))
    scenarios = {"first run (every lock created)": first_run(setup, trees)}
    print(f"{size} members: first run done", file=sys.stderr)
    scenarios["no-op"] = noop(setup, trees, args.runs, args.noop_runs)
    print(f"{size} members: no-op done", file=sys.stderr)
    scenarios[BUMP_FEW] = bump(setup, catalogue, trees, args.runs, shared=False)
    print(f"{size} members: bump (few holders) done", file=sys.stderr)
    scenarios[BUMP_SHARED] = bump(setup, catalogue, trees, args.runs, shared=True)
    print(f"{size} members: bump (shared) done", file=sys.stderr)
    scenarios["every member lock re-made"] = remake(setup, trees, args.runs)
    print(f"{size} members: re-make done", file=sys.stderr)
    return SizeResult(size, scenarios)


def med(samples: Sequence[float]) -> float:
    return statistics.median(samples)


def cell(samples: Sequence[float]) -> str:
    if not samples:
        return "-"
    if len(samples) == 1:
        return f"{samples[0]:.2f}"
    return f"{med(samples):.2f} ({min(samples):.2f}-{max(samples):.2f})"


def goal(name: str, s: Scenario, largest: bool) -> str:
    ratio = med(s.ws) / med(s.loop)
    if name == "no-op":
        if not largest:
            return "-"
        ok = med(s.ws) < NOOP_GOAL_SECONDS
        return f"ws < {NOOP_GOAL_SECONDS:.1f} s: {'met' if ok else 'MISSED'}"
    if name in (BUMP_FEW, BUMP_SHARED):
        ok = ratio <= BUMP_GOAL_RATIO
        return f"<= {BUMP_GOAL_RATIO} x loop: {'met' if ok else 'MISSED'}"
    if name == "every member lock re-made":
        ok = ratio <= REMAKE_GOAL_RATIO
        return f"<= {REMAKE_GOAL_RATIO} x loop: {'met' if ok else 'MISSED'}"
    return "-"


def size_table(result: SizeResult, largest: bool) -> list[str]:
    rows = [
        "| scenario | ws (s) | naive loop, every member (s) | ws / loop "
        "| loop, the bumped member only (s) | ws / that | goal |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for name, s in result.scenarios.items():
        one = f"{med(s.ws) / med(s.loop_one):.2f}" if s.loop_one else "-"
        rows.append(
            f"| {name} | {cell(s.ws)} | {cell(s.loop)} | {med(s.ws) / med(s.loop):.2f} "
            f"| {cell(s.loop_one)} | {one} | {goal(name, s, largest)} |"
        )
    return rows


def missed(results: Sequence[SizeResult]) -> list[str]:
    out = []
    for result in results:
        largest = result is results[-1]
        for name, s in result.scenarios.items():
            if "MISSED" in goal(name, s, largest):
                out.append(f"{result.size} members, {name}")
    return out


def machine(setup: Setup) -> list[str]:
    cpu = platform.machine()
    try:
        models = [
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ]
        cpu = models[0] if models else cpu
    except OSError:
        pass
    uv_version = run([setup.uv, "--version"], REPO, setup.uv_env).strip()
    return [
        f"- {os.cpu_count()} cores ({cpu}), {platform.system()} {platform.release()}",
        f"- {uv_version} ({setup.uv}), Python {platform.python_version()}",
    ]


METHOD = """\
## What is measured

- Two generated workspaces, of {sizes} members. No member depends on another; each needs 1-3 of
  {libs} libraries served by a local PEP 503 index on 127.0.0.1 (`tests/support/pyindex.py`;
  versions 1.0-1.2, each library requiring up to 2 others). The workspace root's
  `[[tool.uv.index]]` names the index.
- **ws**: `ws sync-locks --json` as a whole process (the venv's console script; `--jobs`
  left at its default, the core count), which keeps the root `uv.lock` and gives each member its
  own lock seeded from it, skipping members whose inputs did not change (`.ws/locks.json`).
- **naive loop**: for each member, one after another: copy its `pyproject.toml` into an empty
  temporary folder, `uv lock` there, copy `uv.lock` back. The copy has no workspace root to
  inherit the index from, so the loop appends the root's `[[tool.uv.index]]` table to each copied
  pyproject. Starting from an empty folder, it re-resolves every member from scratch each time.
- Same uv binary for both (ws gets it through `WS_UV`), same hermetic environment
  (`hermetic_uv_env`: no user config, only loopback reachable), same uv cache. Both point uv at
  the interpreter itself (`UV_PYTHON`): found through this machine's pyenv shims, every
  `uv lock` spends about 0.18 s just finding Python, the same on both sides, which would hide
  what differs. The cache is warm: each size's first run (shown, not a goal) fetched
  everything. The index answers `Cache-Control: no-cache`, so every `uv lock` of either side
  revalidates the pages it reads.
- Scenarios, in this order, on the same trees:
  - **no-op**: nothing changed (ws's second and later runs). The loop cannot know nothing
    changed, so it re-locks every member.
  - **one dependency bumped**: a library gets a new release and one member raises its floor
    to it (a different member each run). ws keeps the root lock and every member lock in
    agreement, so it re-locks the root and every member whose lock holds that library; hence
    two variants: the member's library that the fewest member locks hold (often only its own),
    and the one that the most hold. The loop is timed re-locking every member (it cannot know
    which changed; from scratch it also moves every holder to the new release, as ws does) and,
    to be fair, re-locking only the bumped member (less work than ws, and a staler result: the
    other holders keep the old release).
  - **every member lock re-made**: every member lock and ws's `.ws` cache deleted (the root lock
    stays); both sides make them all again.
- ws's `--json` report is checked for each run (no-op: everything `fresh`; bump: the root and
  the bumped member `updated`; re-make: every member `created`), and after every scenario run the
  two sides' locks must pin the same packages and versions for every member.
- ws runs with bytecode caching allowed (`PYTHONDONTWRITEBYTECODE`, set on this machine, is
  removed from its environment), as an installed tool would.
- Figures: median (min-max) of {runs} runs per scenario ({noop_runs} for ws's no-op).
"""


def per_lock(result: SizeResult) -> str:
    """What one member lock costs each side, from the figures above."""
    noop_ws = med(result.scenarios["no-op"].ws)
    remake = result.scenarios["every member lock re-made"]
    ws_each = (med(remake.ws) - noop_ws) / result.size
    loop_each = med(remake.loop) / result.size
    return (
        f"per member lock: the loop {loop_each:.3f} s (its re-make time / members); ws "
        f"{ws_each:.3f} s of wall time ((re-make - no-op) / members, locks run "
        f"{os.cpu_count()} at a time, the root lock included)"
    )


def document(results: Sequence[SizeResult], setup: Setup, args: argparse.Namespace) -> str:
    sizes = " and ".join(str(r.size) for r in results)
    lines = [
        "# Benchmark: `ws sync-locks` against a naive per-member `uv lock` loop",
        "",
        "Written by `tooling/bench_locks.py` (run it with the project venv:",
        "`.venv/bin/python tooling/bench_locks.py`); every figure below comes from one run.",
        "",
        METHOD.format(sizes=sizes, libs=LIBRARIES, runs=args.runs, noop_runs=args.noop_runs),
        "Goals: no-op under 1.0 s for the largest workspace; one dependency bumped at most "
        f"{BUMP_GOAL_RATIO} x the loop's time; every lock re-made at most {REMAKE_GOAL_RATIO} x.",
        "",
        "## Results",
        "",
    ]
    for result in results:
        lines += [f"### {result.size} members", "", *size_table(result, result is results[-1]), ""]
        for name, s in result.scenarios.items():
            lines += [f"- {name}: {note}" for note in s.notes]
        lines += [f"- {per_lock(result)}", ""]
    lines += [
        "## Machine",
        "",
        *machine(setup),
        f"- 1-minute load average before / after the run: {args.load_before} / "
        f"{os.getloadavg()[0]:.2f} (well above 0 means other work shared the cores)",
        "",
    ]
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[12, 50])
    parser.add_argument("--runs", type=int, default=3, help="runs per scenario and side")
    parser.add_argument("--noop-runs", type=int, default=7, help="ws's no-op runs")
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "benchmarks" / "locks.md")
    parser.add_argument("--keep", type=Path, help="build the trees here and keep them")
    return parser.parse_args(argv)


def bench(base: Path, args: argparse.Namespace) -> tuple[list[SizeResult], Setup]:
    catalogue = make_catalogue(random.Random(args.seed))
    with LocalIndex(catalogue.packages()) as index:
        setup = make_setup(index, base / "uv-home")
        results = [bench_size(setup, catalogue, base, n, args) for n in sorted(args.sizes)]
        machine(setup)
    return results, setup


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    args.load_before = f"{os.getloadavg()[0]:.2f}"
    with tempfile.TemporaryDirectory(prefix="ws-bench-locks-") as tmp:
        base = args.keep or Path(tmp)
        base.mkdir(parents=True, exist_ok=True)
        results, setup = bench(base, args)
        text = document(results, setup, args)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    for result in results:
        print(f"{result.size} members")
        print("\n".join(size_table(result, result is results[-1])))
    print(f"written: {args.out}")
    misses = missed(results)
    if misses:
        print("goals missed: " + "; ".join(misses))
    return 1 if misses else 0


if __name__ == "__main__":
    sys.exit(main())

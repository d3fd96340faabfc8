"""Benchmark `ws sync-locks` against issue 9's speed goals, as ratios to a floor in one run.

Run: .venv/bin/python tooling/bench_locks.py [--rounds 7] [--loop-rounds 5] [--seed 2024]

The floor F is `python -c "import typer"` on ws's own interpreter. On a generated plugin
monorepo (about 80 members, 300 third-party packages served by a wheel index on 127.0.0.1):
  (a) `ws sync-locks` with no member locks and a current root lock <= 0.5 x a loop of
      `uv export --package M --frozen` over the same members;
  (b) a no-op `ws sync-locks` <= 4 F;
  (c) `ws sync-locks --check` on a fresh clone (no .ws/) <= 4 F.
On a fresh `git clone` of this repository, `ws sync-locks --check` <= 3 F.
Every command runs as a whole process, interleaved round by round, medians reported; where
the time goes is then timed phase by phase inside one process. The figures go to
docs/benchmarks/locks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import re
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

from tests.support.files import make_workspace  # noqa: E402
from tests.support.gitrepo import git_env, init_repo  # noqa: E402
from tests.support.pyindex import LocalIndex, Package, find_uv, hermetic_uv_env  # noqa: E402
from tooling import bench_graph  # noqa: E402

LOCK = "uv.lock"
THIRD_PARTY = 300
TOOLS = 10  # the last TOOLS third-party packages: dev tools, only in dependency groups
LIBS = 12
PLUGINS = 51
APPS = 15
EXPORT_GOAL = 0.5  # (a): ws / the uv export loop
NOOP_GOAL = 4.0  # (b): x F
CLONE_CHECK_GOAL = 4.0  # (c): x F
REPO_CHECK_GOAL = 3.0  # this repository: x F

FLOOR = 'floor F: `python -c "import typer"`'
BARE = "`python -c pass` (for scale)"
DERIVE = "(a) `ws sync-locks`, no member locks, no .ws/, root lock current"
DERIVE_CACHED = "(a') the same with .ws/ kept (root lock check cached)"
EXPORT = "baseline: `uv export --package M --frozen -o ...` for every member"
NOOP = "(b) `ws sync-locks`, no-op"
CLONE_CHECK = "(c) `ws sync-locks --check`, fresh clone (no .ws/)"
REPO_CHECK = "this repository: `ws sync-locks --check`, fresh clone"
REPO_CHECK_UNPINNED = "this repository: the same, UV_PYTHON unset (uv finds Python itself)"
REPO_UV_LOCKED = "this repository: `uv lock --locked` alone (for scale)"

# ---------------------------------------------------------------------------------------------
# The generated workspace


def dep(i: int) -> str:
    return f"dep-{i:03d}"


def make_catalogue(rng: random.Random) -> list[Package]:
    """THIRD_PARTY packages, 2 releases each; each requires up to 3 later ones (a DAG), every
    7th offers an extra `speed` pulling one more. The last TOOLS are dev tools."""
    packages: list[Package] = []
    libraries = THIRD_PARTY - TOOLS
    for i in range(THIRD_PARTY):
        pool = range(i + 1, min(libraries, i + 50)) if i < libraries else range(i + 1, THIRD_PARTY)
        k = min(len(pool), rng.choices([0, 1, 2, 3], weights=[3, 4, 2, 1])[0])
        requires = tuple(f"{dep(j)}>=1.0" for j in sorted(rng.sample(pool, k)))
        extras: dict[str, tuple[str, ...]] = {}
        if i % 7 == 3 and i + 1 < libraries:
            extras["speed"] = (f"{dep(rng.randrange(i + 1, libraries))}>=1.0",)
        packages += [Package(dep(i), v, requires, extras=extras) for v in ("1.0", "1.1")]
    return packages


def roots(catalogue: Sequence[Package]) -> list[str]:
    """Libraries no other package requires: the members must ask for each of them."""
    required = {r.split(">=")[0] for p in catalogue for r in p.requires}
    names = dict.fromkeys(p.name for p in catalogue)
    return [n for n in names if n not in required and int(n[4:]) < THIRD_PARTY - TOOLS]


def plugin(i: int) -> str:
    return f"plugin-{i:02d}"


@dataclass
class Shape:
    """The members' specs (make_workspace's form) and how many of each kind."""

    specs: dict[str, dict[str, Any]]
    counts: dict[str, int] = field(default_factory=dict)


def third_party_picks(rng: random.Random, owed: list[str], k: int) -> list[str]:
    """k packages: first the owed roots, the rest random libraries (some with [speed])."""
    picks = [owed.pop() for _ in range(min(k, len(owed)))]
    while len(picks) < k:
        i = rng.randrange(THIRD_PARTY - TOOLS)
        picks.append(dep(i) + ("[speed]" if i % 7 == 3 and rng.random() < 0.3 else ""))
    return [f"{p}>=1.0" for p in dict.fromkeys(picks)]


def make_shape(catalogue: Sequence[Package], rng: random.Random) -> Shape:
    """A plugin monorepo: a core offering every plugin as an extra while the plugins depend
    on the core (extras cycles), shared libraries, apps asking for core[some plugins],
    dependency groups (and a testkit member only groups use)."""
    owed = roots(catalogue)
    rng.shuffle(owed)
    per_member = len(owed) // (1 + LIBS + PLUGINS + APPS) + 1
    tools = [dep(i) for i in range(THIRD_PARTY - TOOLS, THIRD_PARTY)]
    libs = [f"lib-{i:02d}" for i in range(LIBS)]
    specs: dict[str, dict[str, Any]] = {
        "core": {
            "dependencies": ["lib-00", "lib-01", *third_party_picks(rng, owed, 3)],
            "optional-dependencies": {plugin(i): [plugin(i)] for i in range(PLUGINS)},
            "dependency-groups": {"dev": ["testkit", tools[0]]},
        },
        "testkit": {"dependencies": [tools[1], tools[2]]},
    }
    for i, lib in enumerate(libs):
        earlier = sorted(rng.sample(libs[:i], min(i, rng.randint(0, 2))))
        specs[lib] = {"dependencies": [*earlier, *third_party_picks(rng, owed, per_member + 1)]}
    for i in range(PLUGINS):
        others = [plugin(j) for j in range(PLUGINS) if j != i]
        core = f"core[{rng.choice(others)}]" if rng.random() < 0.2 else "core"
        specs[plugin(i)] = {
            "dependencies": [
                core,
                *rng.sample(libs, rng.randint(0, 2)),
                *third_party_picks(rng, owed, per_member + rng.randint(0, 2)),
            ],
            "dependency-groups": {"test": ["testkit", rng.choice(tools)]},
        }
    for i in range(APPS):
        asked = ",".join(sorted(plugin(j) for j in rng.sample(range(PLUGINS), rng.randint(2, 5))))
        specs[f"app-{i:02d}"] = {
            "dependencies": [
                f"core[{asked}]",
                *rng.sample(libs, rng.randint(1, 2)),
                *third_party_picks(rng, owed, per_member),
            ],
            "dependency-groups": {"dev": ["testkit", rng.choice(tools)]},
            "package": i % 2 == 1,  # half are virtual (services, never built)
        }
    if owed:
        specs["core"]["dependencies"] += [f"{n}>=1.0" for n in owed]
    counts = {"core": 1, "shared libraries": LIBS + 1, "plugins": PLUGINS, "apps": APPS}
    return Shape(specs, counts)


ROOT_EXTRA = f"""\
[dependency-groups]
dev = ["{dep(THIRD_PARTY - 2)}>=1.0", "{dep(THIRD_PARTY - 1)}>=1.0"]
"""

# ---------------------------------------------------------------------------------------------
# Running and timing


@dataclass
class Setup:
    uv: str
    python: str
    ws: str
    env: dict[str, str]  # hermetic, UV_PYTHON pinned, WS_UV set, bytecode caching allowed
    unpinned: dict[str, str]  # the same without UV_PYTHON


def make_setup(home: Path) -> Setup:
    uv = find_uv()
    ws = Path(sys.executable).parent / "ws"
    if not ws.is_file():
        raise SystemExit(f"{ws}: no ws console script beside this Python; use the project venv")
    env = dict(hermetic_uv_env(home), WS_UV=uv)
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # set on this machine; an installed tool caches
    unpinned = dict(env)
    env["UV_PYTHON"] = bench_graph.base_python()
    return Setup(uv, sys.executable, str(ws), env, unpinned)


def run(argv: Sequence[str], cwd: Path, env: dict[str, str]) -> str:
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed in {cwd} ({done.returncode}):\n{done.stderr}")
    return done.stdout


def timed(action: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = action()
    return time.perf_counter() - start, result


def compile_bytecode(setup: Setup) -> str:
    """Compile the venv's site-packages and ws's sources, so no timed run compiles anything."""
    site = Path(setup.python).parents[1] / "lib"
    dirs = [str(p) for p in site.glob("python3*/site-packages")] + [str(REPO / "tooling/ws/src")]
    seconds, _ = timed(
        lambda: run([setup.python, "-m", "compileall", "-q", "-j0", *dirs], REPO, setup.env)
    )
    shown = ", ".join(f"`{os.path.relpath(d, REPO)}`" for d in dirs)
    return f"`python -m compileall` ran over {shown} ({seconds:.1f} s)"


@dataclass
class Tree:
    root: Path
    names: list[str]
    clones: Path
    export_dir: Path
    index: LocalIndex
    requests: dict[str, list[int]] = field(default_factory=dict)  # row -> index requests a run


def sync(setup: Setup, root: Path) -> dict[str, Any]:
    return json.loads(run([setup.ws, "sync-locks", "--json"], root, setup.env))


def expect(report: dict[str, Any], root: str, member: str) -> None:
    """Fail unless ws did what the scenario must (a timing is never of the wrong work)."""
    if report["root"] != root:
        raise SystemExit(f"ws: root lock {report['root']}, expected {root}")
    wrong = {n: s for n, s in report["members"].items() if s != member}
    if wrong:
        raise SystemExit(f"ws: expected every member {member}, got {wrong}")


def member_locks(tree: Tree) -> list[Path]:
    return [p for p in (tree.root / "packages").glob(f"*/{LOCK}")]


def derive_once(setup: Setup, tree: Tree, *, keep_cache: bool) -> float:
    for path in member_locks(tree):
        path.unlink()
    if not keep_cache:
        shutil.rmtree(tree.root / ".ws", ignore_errors=True)
    before = len(tree.index.requested())
    seconds, report = timed(lambda: sync(setup, tree.root))
    row = DERIVE_CACHED if keep_cache else DERIVE
    tree.requests.setdefault(row, []).append(len(tree.index.requested()) - before)
    expect(report, "fresh" if keep_cache else "unchanged", "created")
    if len(report["members"]) != len(tree.names):
        raise SystemExit(f"ws derived {len(report['members'])} locks, not {len(tree.names)}")
    return seconds


def export_loop(setup: Setup, tree: Tree) -> float:
    """What teams run today: one requirements file per member, from the root lock."""
    start = time.perf_counter()
    for name in tree.names:
        out = tree.export_dir / f"{name}.txt"
        argv = [setup.uv, "export", "--package", name, "--frozen", "--no-progress", "-o", str(out)]
        run(argv, tree.root, setup.env)
    return time.perf_counter() - start


def noop_once(setup: Setup, tree: Tree) -> float:
    seconds, report = timed(lambda: sync(setup, tree.root))
    expect(report, "fresh", "unchanged")
    return seconds


def clone(source: Path, dest: Path) -> Path:
    shutil.rmtree(dest, ignore_errors=True)
    subprocess.run(["git", "clone", "-q", str(source), str(dest)], check=True, env=git_env())
    return dest


def check_in_clone(ws: str, source: Path, dest: Path, env: dict[str, str]) -> float:
    """`ws sync-locks --check` in a fresh clone (the clone itself is not timed)."""
    clone(source, dest)
    seconds, _ = timed(lambda: run([ws, "sync-locks", "--check"], dest, env))
    shutil.rmtree(dest)
    return seconds


def uv_locked_in_clone(setup: Setup, source: Path, dest: Path) -> float:
    clone(source, dest)
    argv = [setup.uv, "lock", "--locked", "--color", "never", "--no-progress"]
    seconds, _ = timed(lambda: run(argv, dest, setup.env))
    shutil.rmtree(dest)
    return seconds


def process(argv: Sequence[str], cwd: Path, env: dict[str, str]) -> Callable[[], float]:
    return lambda: timed(lambda: run(argv, cwd, env))[0]


def commands(setup: Setup, tree: Tree) -> dict[str, Callable[[], float]]:
    """Every timed row; each call is one sample."""
    here = tree.clones
    return {
        FLOOR: process([setup.python, "-c", "import typer"], here, setup.env),
        BARE: process([setup.python, "-c", "pass"], here, setup.env),
        DERIVE: lambda: derive_once(setup, tree, keep_cache=False),
        DERIVE_CACHED: lambda: derive_once(setup, tree, keep_cache=True),
        EXPORT: lambda: export_loop(setup, tree),
        NOOP: lambda: noop_once(setup, tree),
        CLONE_CHECK: lambda: check_in_clone(setup.ws, tree.root, here / "ws-clone", setup.env),
        REPO_CHECK: lambda: check_in_clone(setup.ws, REPO, here / "repo-clone", setup.env),
        REPO_CHECK_UNPINNED: lambda: check_in_clone(
            setup.ws, REPO, here / "repo-clone", setup.unpinned
        ),
        REPO_UV_LOCKED: lambda: uv_locked_in_clone(setup, REPO, here / "repo-clone"),
    }


LOADS: list[float] = []  # the 1-minute load average after each round


def measure(
    rows: dict[str, Callable[[], float]], rounds: int, loop_rounds: int
) -> dict[str, list[float]]:
    """One warm-up of each row, then rounds interleaving them (drift hits every row alike);
    the export loop, the longest, only in the first loop_rounds rounds."""
    for action in rows.values():
        action()
    samples: dict[str, list[float]] = {label: [] for label in rows}
    for n in range(rounds):
        for label, action in rows.items():
            if label == EXPORT and n >= loop_rounds:
                continue
            samples[label].append(action())
        LOADS.append(os.getloadavg()[0])
        print(f"round {n + 1}/{rounds} done (load {LOADS[-1]:.2f})", file=sys.stderr)
    return samples


# ---------------------------------------------------------------------------------------------
# Checks of what each side produced


def registry_pins(lock_text: str) -> set[tuple[str, str]]:
    data = tomllib.loads(lock_text)
    return {
        (p["name"], p["version"])
        for p in data.get("package", [])
        if "registry" in p.get("source", {})
    }


_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)", re.MULTILINE)


def export_pins(text: str) -> set[tuple[str, str]]:
    return set(_PIN.findall(text))


def verify(tree: Tree) -> list[str]:
    """Every member lock must hold every pin `uv export` gives that member (ws's lock also
    holds the member's own extras, so it may hold more), and the check must pass."""
    sizes = []
    for name in tree.names:
        lock = registry_pins((tree.root / "packages" / name / LOCK).read_text(encoding="utf-8"))
        exported = export_pins((tree.export_dir / f"{name}.txt").read_text(encoding="utf-8"))
        if not exported or not exported <= lock:
            raise SystemExit(f"{name}: uv export pins {sorted(exported - lock)} the lock lacks")
        sizes.append(len(lock))
    root = registry_pins((tree.root / LOCK).read_text(encoding="utf-8"))
    asked = ", ".join(f"{row.split()[0]} {max(n)}" for row, n in tree.requests.items())
    return [
        f"requests to the package index during a run, at most: {asked}",
        f"root uv.lock: {len(root)} third-party packages and {len(tree.names)} members",
        f"third-party packages per member lock: median {statistics.median(sizes):.0f}, "
        f"min {min(sizes)}, max {max(sizes)}",
        "every member lock holds every pin `uv export --package M --frozen` gives M",
        "every timed `ws sync-locks` was checked: (a) root `unchanged` ((a') `fresh`) and every "
        "member `created`, (b) root `fresh` and every member `unchanged`; every `--check` exited 0",
    ]


# ---------------------------------------------------------------------------------------------
# Where the time goes, phase by phase inside one ws process

PHASE_SCRIPT = r"""
import time
T0 = time.perf_counter()  # CLOCK_MONOTONIC on Linux: comparable with the parent's clock
import json, os, sys
from pathlib import Path
spent, stack, missing = {}, [], []
def add(label, seconds):
    spent[label] = spent.get(label, 0.0) + seconds
def imported(label, names):
    start = time.perf_counter()
    for name in names:
        __import__(name)
    add("import " + label, time.perf_counter() - start)
imported("typer", ["typer"])
imported("ws.cli.app (ws's command line)", ["ws.cli.app"])
imported("packaging", ["packaging.requirements", "packaging.utils"])
imported("ws's other modules", ["ws.workspace.members", "ws.workspace.lockfile", "ws.locks.sync",
                                 "ws.cli.report", "ws.uv", "ws.git", "ws.proc", "ws.fsio"])
def label_of_run(args, kwargs):
    argv = [str(a) for a in (args[0] if args else kwargs["argv"])]
    flags = [a for a in argv[2:] if a in ("--locked", "--check")]
    return "subprocess: " + " ".join([Path(argv[0]).name, *argv[1:2], *flags])
def wrap(module, name, label):
    if module not in sys.modules:  # ws does not load it on this path (the graph, unnamed)
        return
    original = getattr(sys.modules[module], name, None)
    if original is None:
        missing.append(f"{module}.{name}")
        return
    def timed(*args, **kwargs):
        start = time.perf_counter()
        stack.append(0.0)
        try:
            return original(*args, **kwargs)
        finally:
            elapsed = time.perf_counter() - start
            inner = stack.pop()
            add(label(args, kwargs) if callable(label) else label, elapsed - inner)
            if stack:
                stack[-1] += elapsed
    for mod in list(sys.modules.values()):
        if getattr(mod, "__name__", "").startswith("ws") and getattr(mod, name, None) is original:
            setattr(mod, name, timed)
for module, name, label in json.loads(os.environ["WS_PHASES"]):
    wrap(module, name, label_of_run if label == "run" else label)
sys.argv = ["ws", *json.loads(os.environ["WS_ARGS"])]
import ws.cli.app
from ws.cli.common import run_app
start = time.perf_counter()
code = run_app(ws.cli.app.app, sys.argv[1:])  # main() would end the process: ws ends by os._exit
add("the rest (typer parsing the command line, ws's glue)",
    time.perf_counter() - start - sum(v for k, v in spent.items() if not k.startswith("import")))
out = {"code": code, "spent": spent, "t0": T0, "missing": missing,
       "loaded": sorted(m for m in ("tomlkit", "ws.docker", "pydantic", "networkx", "packaging")
                        if m in sys.modules)}
out["t_end"] = time.perf_counter()
Path(os.environ["WS_PHASES_OUT"]).write_text(json.dumps(out))
os._exit(0)  # as ws ends: no module teardown
"""

# (module, function, label): every reference to the function in ws's modules is timed.
PHASE_FUNCTIONS = [
    ("ws.workspace.members", "load_workspace", "read the workspace (every pyproject.toml)"),
    ("ws.workspace.graph", "build_graph", "build the graph (networkx)"),
    ("ws.locks.sync", "_root_key", "cache key: hash what uv reads"),
    ("ws.state", "load_records", "read .ws/records.json"),
    (
        "ws.workspace.lockfile",
        "parse_lock",
        "parse the root uv.lock (tomllib, then its tables as text)",
    ),
    # derive_locks, not member_lock: ws imports that module only once it derives, after
    # the functions here are wrapped.
    ("ws.locks.sync", "derive_locks", "derive every member lock, each proven (parsed back)"),
    ("ws.locks.sync", "member_locks", "read the member locks"),
    ("ws.locks.sync", "_write", "compare with / write the member locks"),
    ("ws.proc", "run", "run"),
    # `uv lock --locked` runs beside the derivation (ws.proc.start): what is left of it then.
    ("ws.locks.sync", "_root_verdict", "subprocess: uv lock --locked (left after deriving)"),
]


@dataclass
class Profile:
    """Median seconds per phase over a few processes, and the process's own wall time."""

    label: str
    phases: dict[str, float]
    wall: float
    loaded: list[str]
    missing: list[str]


@dataclass
class Case:
    """One scenario to time phase by phase: ws's arguments, and what readies its folder."""

    label: str
    args: list[str]
    prepare: Callable[[], Path]
    runs: list[dict[str, Any]] = field(default_factory=list)


def profile_once(case: Case, setup: Setup, out: Path) -> None:
    """One process of case under the phase timer, and when it started and ended as seen
    from here (the script's own clock readings then give start-up and exit)."""
    env = dict(
        setup.env,
        WS_ARGS=json.dumps(case.args),
        WS_PHASES=json.dumps(PHASE_FUNCTIONS),
        WS_PHASES_OUT=str(out),
    )
    cwd = case.prepare()
    start = time.perf_counter()
    run([setup.python, "-c", PHASE_SCRIPT], cwd, env)
    end = time.perf_counter()
    data = json.loads(out.read_text(encoding="utf-8"))
    if data["code"] not in (0, None):
        raise SystemExit(f"{case.label}: ws exited {data['code']} under the phase timer")
    data["spent"][START_UP] = data["t0"] - start
    data["spent"][EXIT] = end - data["t_end"]
    data["wall"] = end - start
    case.runs.append(data)


START_UP = "interpreter start-up (process start to the script's first line)"
EXIT = "interpreter exit (after ws's main returned: tearing down the loaded modules)"


def summarize(case: Case) -> Profile:
    labels = list(dict.fromkeys(k for s in case.runs for k in s["spent"]))
    phases = {k: statistics.median(s["spent"].get(k, 0.0) for s in case.runs) for k in labels}
    wall = statistics.median(s["wall"] for s in case.runs)
    return Profile(case.label, phases, wall, case.runs[0]["loaded"], case.runs[0]["missing"])


def profiles(setup: Setup, tree: Tree, runs: int) -> list[Profile]:
    """Every scenario runs times, interleaved (load hits them alike)."""

    def in_tree() -> Path:
        return tree.root

    def fresh(source: Path, name: str) -> Callable[[], Path]:
        return lambda: clone(source, tree.clones / name)

    def no_member_locks() -> Path:
        for path in member_locks(tree):
            path.unlink()
        shutil.rmtree(tree.root / ".ws", ignore_errors=True)
        return tree.root

    cases = [
        Case(DERIVE, ["sync-locks", "--json"], no_member_locks),
        Case(NOOP, ["sync-locks", "--json"], in_tree),
        Case(CLONE_CHECK, ["sync-locks", "--check"], fresh(tree.root, "p-ws")),
        Case(REPO_CHECK, ["sync-locks", "--check"], fresh(REPO, "p-repo")),
    ]
    out = Path(tempfile.mkstemp(suffix=".json")[1])
    for _ in range(runs):
        for case in cases:
            profile_once(case, setup, out)
    out.unlink()
    return [summarize(case) for case in cases]


# ---------------------------------------------------------------------------------------------
# The page


@dataclass
class Results:
    samples: dict[str, list[float]]
    profiles: list[Profile]
    checks: list[str]
    facts: list[str]
    shape: Shape

    def med(self, label: str) -> float:
        return statistics.median(self.samples[label])


def goals(r: Results) -> dict[str, tuple[str, float, float, bool]]:
    """row -> (what the goal compares, the ratio, its bound, met)."""
    f = r.med(FLOOR)
    derive = r.med(DERIVE) / r.med(EXPORT)
    noop = r.med(NOOP) / f
    clone_check = r.med(CLONE_CHECK) / f
    repo = r.med(REPO_CHECK) / f
    return {
        DERIVE: ("x the export loop", derive, EXPORT_GOAL, derive <= EXPORT_GOAL),
        NOOP: ("x F", noop, NOOP_GOAL, noop <= NOOP_GOAL),
        CLONE_CHECK: ("x F", clone_check, CLONE_CHECK_GOAL, clone_check <= CLONE_CHECK_GOAL),
        REPO_CHECK: ("x F", repo, REPO_CHECK_GOAL, repo <= REPO_CHECK_GOAL),
    }


def timing_table(r: Results) -> list[str]:
    f = r.med(FLOOR)
    loop = r.med(EXPORT)
    met = goals(r)
    rows = [
        "| command | median (s) | min - max (s) | runs | x F | x export loop | goal |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for label, s in r.samples.items():
        goal = ""
        if label in met:
            unit, _, bound, ok = met[label]
            goal = f"<= {bound} {unit}: {'met' if ok else 'MISSED'}"
        rows.append(
            f"| {label} | {statistics.median(s):.3f} | {min(s):.3f} - {max(s):.3f} | {len(s)} "
            f"| {statistics.median(s) / f:.2f} | {statistics.median(s) / loop:.3f} | {goal} |"
        )
    return rows


SHORT = {DERIVE: "(a)", NOOP: "(b)", CLONE_CHECK: "(c)", REPO_CHECK: "this repo, check"}


def _is_import(k: str) -> bool:
    return k.startswith("import ")


def _is_interpreter(k: str) -> bool:
    return k.startswith("interpreter ")


def _is_subprocess(k: str) -> bool:
    return k.startswith("subprocess: ")


def _is_own(k: str) -> bool:
    return not (_is_import(k) or _is_interpreter(k) or _is_subprocess(k))


GROUPS: list[tuple[str, Callable[[str], bool]]] = [
    ("sum: imports", _is_import),
    ("sum: interpreter start-up and exit", _is_interpreter),
    ("sum: uv and git (waiting for the subprocess)", _is_subprocess),
    ("sum: ws's own work (every other row)", _is_own),
]


def phase_table(profiles: Sequence[Profile]) -> list[str]:
    """One row per phase, one column per scenario (ms)."""
    labels = list(dict.fromkeys(k for p in profiles for k in p.phases))
    heads = [SHORT.get(p.label, p.label) for p in profiles]
    rows = [
        "| phase (ms) | " + " | ".join(heads) + " |",
        "|---|" + "---:|" * len(profiles),
    ]
    for label in labels:
        cells = [f"{p.phases[label] * 1000:.0f}" if label in p.phases else "-" for p in profiles]
        rows.append(f"| {label} | " + " | ".join(cells) + " |")
    for group, test in GROUPS:
        cells = [f"{sum(v for k, v in p.phases.items() if test(k)) * 1000:.0f}" for p in profiles]
        rows.append(f"| *{group}* | " + " | ".join(cells) + " |")
    rows.append("| **whole process** | " + " | ".join(f"{p.wall * 1000:.0f}" for p in profiles))
    rows[-1] += " |"
    rows += [
        "",
        "Columns: "
        + "; ".join(f"{SHORT.get(p.label, p.label)} = {p.label}" for p in profiles)
        + ".",
    ]
    loaded = sorted({m for p in profiles for m in p.loaded})
    absent = [m for m in WATCHED if m not in loaded]
    rows.append(
        f"Imported by the end of any of them: {', '.join(loaded) or 'none of those watched'}; "
        f"by none: {', '.join(absent) or '-'}."
    )
    missing = sorted({m for p in profiles for m in p.missing})
    if missing:
        rows.append(f"Not found to time (renamed?): {', '.join(missing)}.")
    return rows


WATCHED = ("tomlkit", "ws.docker", "pydantic", "networkx", "packaging")


def _spent(p: Profile, test: Callable[[str], bool]) -> float:
    return sum(v for k, v in p.phases.items() if test(k))


def _span(values: Sequence[float], f: float) -> str:
    low, high = min(values), max(values)
    return f"{low * 1000:.0f}-{high * 1000:.0f} ms ({low / f:.1f}-{high / f:.1f} F)"


def reading(r: Results) -> list[str]:
    """What the phase table says, in F."""
    f = r.med(FLOOR)
    fixed = [_spent(p, lambda k: _is_import(k) or _is_interpreter(k)) for p in r.profiles]
    heavy = [_spent(p, lambda k: "networkx" in k or "pydantic" in k) for p in r.profiles]
    lock_work = [
        _spent(p, lambda k: k.startswith(("parse the root", "derive every")))
        for p in r.profiles
        if p.label in (NOOP, CLONE_CHECK)
    ]
    return [
        f"- Imports plus the interpreter's start-up and exit: {_span(fixed, f)} of every "
        f"process, before and after ws's work (F, {f * 1000:.0f} ms, is the same for typer "
        "alone).",
        f"- networkx and pydantic, which these commands no longer import (the graph is built "
        f"only for named members; typer is held below 0.21): {_span(heavy, f)}.",
        f"- Parsing the root uv.lock and deriving every member lock, in (b) and (c): "
        f"{_span(lock_work, f)}; a no-op whose locks are as the last run left them skips both.",
        f"- Waiting for uv (`uv lock`, `uv lock --locked`): "
        f"{_span([_spent(p, _is_subprocess) for p in r.profiles], f)}.",
    ]


def over_by(r: Results, label: str, ratio: float, bound: float) -> str:
    """How much time a missed goal asks to cut, in the goal's own unit."""
    if label == DERIVE:
        return f"{(ratio - bound) * r.med(EXPORT) * 1000:.0f} ms too slow"
    return f"{(ratio - bound) * r.med(FLOOR) * 1000:.0f} ms too slow at this F"


METHOD = """\
## What is measured

- **The floor F** is `python -c "import typer"` on ws's own interpreter (the project venv),
  what any typer program pays to start. Goals are ratios measured in this one run: absolute
  times differ about twofold between machines here.
- **A generated plugin monorepo**, {members} members ({kinds}), {third_party} third-party
  packages (2 releases each, each requiring up to 3 others; every 7th offers an extra `speed`
  that some members ask for; {tools} of them are dev tools found only in dependency groups),
  served as small wheels by a PEP 503 index on 127.0.0.1 (`tests/support/pyindex.py`). The
  core offers every plugin as an extra (`core[plugin-07]`) while every plugin depends on the
  core: extras cycles. About 1 plugin in 5 asks for another plugin through the core
  (`core[plugin-xx]`); every app asks for 2-5 plugins that way and for 1-2 shared libraries;
  every member but the libraries has a dependency group holding the `testkit` member and a
  dev tool; the virtual root has a `dev` group; about half the apps are virtual (`package = false`).
  It is a git repository, committed with its root and member locks.
- Every command runs as a whole process, with the workspace root (or the clone) as its
  working directory: one warm-up of each row, then {rounds} rounds interleaving every row
  (so drift in the machine's load hits all rows alike; the export loop, the longest, in the
  first {loop_rounds}). Figures are medians; a ratio is a ratio of medians.
- Rows: **(a)** every member lock and `.ws/` deleted, the root lock current: ws runs `uv lock`
  at the root (which leaves it unchanged) and derives every member lock; (a') keeps `.ws/`, so
  the root's cache key skips `uv lock`. **Baseline**: `uv export --package M --frozen -o
  M.txt` for each member, one process after another, how teams derive per-member requirement
  files from the root lock today (it reads the lock only; it writes a file per member, as ws
  does). **(b)** `ws sync-locks` again with nothing changed. **(c)** `git clone` of the
  workspace (not timed), then `ws sync-locks --check` there: no `.ws/`, so ws runs
  `uv lock --locked` at the root and derives and compares every member lock. **This
  repository**: the same in a fresh `git clone /work/main` (its HEAD, run by the venv's ws,
  which is the working tree's code).
- The old baseline, copying one member's pyproject.toml into an empty folder and `uv lock`ing
  it, is left out: here every plugin and app depends on workspace members, which such a copy
  cannot resolve, and it took about 0.3 s a member in this page's previous version
  (half a minute a run at this size).
- Environment of every timed process: `hermetic_uv_env` (no user uv config, only loopback
  reachable, one warm uv cache), ws given the venv's uv through `WS_UV`, and
  `UV_PYTHON` pointing at the venv's base interpreter: found through this machine's pyenv
  shims, uv spends 0.15-0.25 s of every run finding Python, which is this machine's setup,
  not ws; the row "UV_PYTHON unset" shows it. This machine sets `PYTHONDONTWRITEBYTECODE=1`;
  it is removed from every timed process's environment, and before anything is timed
  {compiled}, so every run starts from compiled bytecode (the warm-ups write anything left).
"""


def document(r: Results, args: argparse.Namespace) -> str:
    kinds = ", ".join(f"{n} {kind}" for kind, n in r.shape.counts.items())
    met = goals(r)
    verdict = [
        f"- {label}: {ratio:.2f} {unit} (goal <= {bound}): "
        + ("**met**" if ok else f"**MISSED** ({over_by(r, label, ratio, bound)})")
        for label, (unit, ratio, bound, ok) in met.items()
    ]
    lines = [
        "# Benchmark: `ws sync-locks` against issue 9's speed goals",
        "",
        "Written by `tooling/bench_locks.py` (run it with the project venv:",
        "`.venv/bin/python tooling/bench_locks.py`); every figure below comes from one run.",
        "",
        METHOD.format(
            members=len(r.shape.specs),
            kinds=kinds,
            third_party=THIRD_PARTY,
            tools=TOOLS,
            rounds=args.rounds,
            loop_rounds=args.loop_rounds,
            compiled=args.compiled,
        ),
        "## Goals",
        "",
        *verdict,
        "",
        "## Results",
        "",
        *timing_table(r),
        "",
        "Checks: " + "; ".join(r.checks) + ".",
        "",
        "## Where the time goes",
        "",
        f"Each scenario once more under a phase timer (medians of {args.profile_runs} "
        "processes each, the scenarios interleaved): the script imports in the order ws "
        "meets them (so each import row is what that import adds), then wraps ws's "
        "functions (exclusive time: a phase inside another counts once) and runs ws's "
        "command line as `main` does (`run_app`), then ends as ws ends (`os._exit`). "
        "A subprocess row is the whole wait for that program. Start-up and exit are "
        "the script's first and last clock readings against the moments this benchmark "
        "started the process and saw it end (the same monotonic clock). The sums add up to "
        "the whole process; wrapping adds a little. These processes run after the timed "
        "rounds, so on this shared machine their totals may differ from the timed medians by "
        "10-20 %: read them for where the time goes, the rounds for the goals.",
        "",
    ]
    lines += [*phase_table(r.profiles), "", *reading(r), ""]
    lines += [
        "## Machine",
        "",
        *r.facts,
        f"- 1-minute load average before / after the run: {args.load_before} / "
        f"{os.getloadavg()[0]:.2f}; after each timed round: "
        f"{', '.join(f'{x:.2f}' for x in LOADS)} ({os.cpu_count()} cores: anything well above 0 "
        "means other work shared them, and the absolute figures are high)",
        "",
    ]
    return "\n".join(lines)


def machine(setup: Setup) -> list[str]:
    head = run(["git", "rev-parse", "--short", "HEAD"], REPO, git_env()).strip()
    dirty = run(["git", "status", "--porcelain", "--", "tooling/ws/src"], REPO, git_env())
    state = "with uncommitted changes in tooling/ws/src" if dirty.strip() else "clean"
    return [
        f"- {bench_graph.machine()}",
        f"- {run([setup.uv, '--version'], REPO, setup.env).strip()}, "
        f"Python {platform.python_version()} ({setup.python})",
        f"- ws from the working tree at {head} ({state}: the tree is shared)",
    ]


# ---------------------------------------------------------------------------------------------


def build_tree(base: Path, setup: Setup, index: LocalIndex, shape: Shape) -> tuple[Tree, str]:
    root = make_workspace(base / "ws", shape.specs, index_url=index.url, root_extra=ROOT_EXTRA)
    seconds, _ = timed(lambda: run([setup.uv, "lock", "--no-progress"], root, setup.env))
    first, report = timed(lambda: sync(setup, root))
    expect(report, "unchanged", "created")
    init_repo(root).commit_all("generated workspace and its locks")
    (base / "export").mkdir()
    (base / "clones").mkdir()
    tree = Tree(root, sorted(shape.specs), base / "clones", base / "export", index)
    note = (
        f"- First `uv lock` of the generated workspace (cold uv cache): {seconds:.1f} s; "
        f"ws's first run after it (every member lock created): {first:.2f} s"
    )
    return tree, note


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7, help="timed rounds after a warm-up")
    parser.add_argument("--loop-rounds", type=int, default=5, help="rounds with the export loop")
    parser.add_argument(
        "--profile-runs",
        type=int,
        default=5,
        help="processes per scenario for the phase table",
    )
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "benchmarks" / "locks.md")
    parser.add_argument("--keep", type=Path, help="build the trees here and keep them")
    return parser.parse_args(argv)


def bench(base: Path, args: argparse.Namespace) -> Results:
    rng = random.Random(args.seed)
    catalogue = make_catalogue(rng)
    shape = make_shape(catalogue, rng)
    setup = make_setup(base / "uv-home")
    args.compiled = compile_bytecode(setup)
    with LocalIndex(catalogue) as index:
        tree, first = build_tree(base, setup, index, shape)
        print(f"workspace ready: {len(tree.names)} members", file=sys.stderr)
        samples = measure(commands(setup, tree), args.rounds, args.loop_rounds)
        checks = verify(tree)
        found = profiles(setup, tree, args.profile_runs)
        facts = [*machine(setup), first]
    return Results(samples, found, checks, facts, shape)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    args.load_before = f"{os.getloadavg()[0]:.2f}"
    with tempfile.TemporaryDirectory(prefix="ws-bench-locks-") as tmp:
        base = args.keep or Path(tmp)
        base.mkdir(parents=True, exist_ok=True)
        results = bench(base, args)
    text = document(results, args)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    print("\n".join(timing_table(results)))
    print("\n".join(phase_table(results.profiles)))
    print(f"written: {args.out}")
    missed = [label for label, (*_, ok) in goals(results).items() if not ok]
    if missed:
        print("goals missed: " + "; ".join(missed))
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())

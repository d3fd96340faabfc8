"""Benchmark `ws publish` of this repository's publishable members against `uv build
--all-packages` plus `uv publish` of the same members' files, both to a loopback pypiserver.

Run: .venv/bin/python tooling/bench_publish.py

One run each, as whole processes, in a fresh clone of this repository's HEAD whose root
pyproject.toml names the loopback index (committed there: ws publish refuses a dirty tree).
ws publish does everything it does for a user: versions, the pinned copy, a wheel and an
sdist per member (`uv build --no-sources`), the checks, the simple API, one `uv publish` per
member, and the smoke test (each member installed from the index into a fresh environment,
its third-party dependencies from PyPI through uv's cache, and imported). The baseline builds
every package and uploads the publishable members' files in one `uv publish`; it checks,
pins and installs nothing. PYTHONDONTWRITEBYTECODE is removed, as for an installed tool.
The figures go to docs/benchmarks/publish.md.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.support.pypiserver import PASSWORD, USER, PyPIServer  # noqa: E402

GOAL = 2.0  # ws publish at most 2 x the baseline (issue 20)
OUT = REPO / "docs" / "benchmarks" / "publish.md"
UV = str(REPO / ".venv" / "bin" / "uv")
WS = str(REPO / ".venv" / "bin" / "ws")


def bench_env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env | {"UV_PUBLISH_USERNAME": USER, "UV_PUBLISH_PASSWORD": PASSWORD}


def clone(folder: Path, server: PyPIServer) -> Path:
    """HEAD of this repository, its root pyproject naming the loopback index `bench`."""
    path = folder / "repo"
    subprocess.run(["git", "clone", "--quiet", "--no-hardlinks", str(REPO), str(path)], check=True)
    index = (
        f'\n[[tool.uv.index]]\nname = "bench"\nurl = "{server.url}"\n'
        f'publish-url = "{server.upload_url}"\nexplicit = true\n'
    )
    with (path / "pyproject.toml").open("a") as handle:
        handle.write(index)
    git = ["git", "-c", "user.name=bench", "-c", "user.email=bench@example.invalid"]
    subprocess.run([*git, "commit", "--quiet", "-am", "bench index"], cwd=path, check=True)
    return path


def timed(argv: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed:\n{done.stdout}{done.stderr}")
    return seconds, done.stdout


def baseline(folder: Path, env: dict[str, str], members: list[str]) -> dict[str, float]:
    server = PyPIServer(folder / "baseline-index")
    try:
        repo = clone(folder / "baseline", server)
        out = repo / "dist-baseline"
        build, _ = timed([UV, "build", "--all-packages", "--out-dir", str(out)], repo, env)
        prefixes = tuple(m.replace("-", "_") + "-" for m in members)
        files = sorted(str(p) for p in out.iterdir() if p.name.startswith(prefixes))
        argv = [UV, "publish", "--publish-url", server.upload_url, "--trusted-publishing", "never"]
        upload, _ = timed([*argv, *files], repo, env)
        return {"build": build, "publish": upload, "files": len(files)}
    finally:
        server.stop()


Run = tuple[float, dict, dict]  # seconds, the JSON report, progress line -> when it came


def ws_publish(folder: Path, env: dict[str, str], *args: str, again: bool = False) -> list[Run]:
    """ws publish in a fresh clone to a fresh index; with again, a second run right after."""
    server = PyPIServer(folder / "ws-index")
    try:
        repo = clone(folder / "ws", server)
        argv = [WS, "publish", "--index", "bench", "--json", *args]
        return [timed_ws(argv, repo, env) for _ in range(2 if again else 1)]
    finally:
        server.stop()


def timed_ws(argv: list[str], repo: Path, env: dict[str, str]) -> Run:
    start = time.perf_counter()
    proc = subprocess.Popen(
        argv, cwd=repo, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    if proc.stderr is None or proc.stdout is None:
        raise SystemExit("ws publish's output was not piped")
    steps = {line.strip(): time.perf_counter() - start for line in proc.stderr}
    out = proc.stdout.read()
    if proc.wait() != 0:
        raise SystemExit(f"ws publish failed:\n{out}\n{steps}")
    return time.perf_counter() - start, json.loads(out), steps


def _smoke_start(steps: dict) -> float:
    return next(t for line, t in steps.items() if line.startswith("smoke test:"))


def main() -> None:
    env = bench_env()
    with tempfile.TemporaryDirectory(prefix="bench-publish-") as temp:
        folder = Path(temp)
        [(dry_seconds, dry, _)] = ws_publish(folder / "dry", env, "--dry-run")
        members = [m["name"] for m in dry["members"]]
        base = baseline(folder / "base", env, members)
        full, again = ws_publish(folder / "full", env, again=True)
    write(base, full, again, dry_seconds)


def write(base: dict[str, float], full: Run, again: Run, dry_seconds: float) -> None:
    ws_seconds, report, steps = full
    anchor = base["build"] + base["publish"]
    ratio = ws_seconds / anchor
    members = ", ".join(f"{m['name']} {m['version']}" for m in report["members"])
    uploaded = sum(f["action"] == "uploaded" for m in report["members"] for f in m["files"])
    verdict = "met" if ratio <= GOAL else "missed"
    smoke_at = _smoke_start(steps)
    again_smoke = again[0] - _smoke_start(again[2])
    lines = [
        "# Benchmark: `ws publish`",
        "",
        "Written by `tooling/bench_publish.py` (`.venv/bin/python tooling/bench_publish.py`);",
        "every figure below comes from one run.",
        "",
        "## What is measured",
        "",
        f"- This repository's publishable members ({members}), from a fresh clone of HEAD",
        "  whose root pyproject.toml names a loopback pypiserver; a new server for each command.",
        "- `ws publish --index bench`, a whole process: versions, the pinned copy of HEAD, a",
        "  wheel and an sdist per member (`uv build --no-sources`), the checks, the simple API,",
        "  one `uv publish` per member and the smoke test (each member installed from the index",
        "  into a fresh environment, third-party dependencies from PyPI through uv's warm cache,",
        "  and its modules imported).",
        "- The baseline: `uv build --all-packages` (every package, example-service too), then one",
        f"  `uv publish` of the publishable members' {int(base['files'])} files. It pins, checks",
        "  and installs nothing.",
        "- One run each (ws publish twice: the second, right after the first, finds everything",
        "  on the index); uv's cache is the user's. PYTHONDONTWRITEBYTECODE removed.",
        f"- Goal: ws publish at most {GOAL:g} x the baseline.",
        "",
        "## Results",
        "",
        "| command | seconds | x baseline |",
        "|---|---:|---:|",
        f"| `uv build --all-packages` | {base['build']:.2f} | |",
        f"| `uv publish` ({int(base['files'])} files) | {base['publish']:.2f} | |",
        f"| baseline: the two together | {anchor:.2f} | 1.00 |",
        f"| `ws publish --dry-run` (build, checks, simple API) | {dry_seconds:.2f} | "
        f"{dry_seconds / anchor:.2f} |",
        f"| `ws publish` ({uploaded} files uploaded, smoke test {report['smoke']}) | "
        f"{ws_seconds:.2f} | {ratio:.2f} |",
        f"| of which up to the smoke test (build, checks, simple API, {len(report['members'])} "
        f"uploads) | {smoke_at:.2f} | {smoke_at / anchor:.2f} |",
        f"| of which the smoke test | {ws_seconds - smoke_at:.2f} | "
        f"{(ws_seconds - smoke_at) / anchor:.2f} |",
        f"| `ws publish` again right after (nothing to upload) | {again[0]:.2f} | "
        f"{again[0] / anchor:.2f} |",
        f"| of which the smoke test | {again_smoke:.2f} | {again_smoke / anchor:.2f} |",
        "",
        f"Goal <= {GOAL:g} x: {verdict} ({ratio:.2f} x).",
        "",
        "## Where the time goes",
        "",
        "Up to the smoke test, ws publish does what the baseline does and more (the copy of",
        "HEAD with pins, one `uv build` per member, the checks, the simple API, one `uv publish`",
        f"per member) in {smoke_at / anchor:.2f} x its time. The smoke test is the work the",
        "baseline leaves out: each member resolved and installed from the index into a fresh",
        "environment of its own, its third-party dependencies asked of the index first (a",
        "sibling must come from there, never from a same-named project elsewhere) and then of",
        "PyPI, whose pages uv fetches again on every install here (each revalidation is",
        "answered as modified, so a warm cache saves little: compare the second run).",
        "ws-monorepo's install alone resolves 21 packages and takes most of it; the libraries'",
        "take a tenth of a second each. The baseline never reaches PyPI; an install of what it",
        "uploaded would pay the same.",
        "",
        f"Machine: {platform.platform()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}.",
        "",
    ]
    OUT.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()

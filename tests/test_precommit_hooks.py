"""The hooks of .pre-commit-hooks.yaml run by the real pre-commit (try-repo) in a workspace repo.

ws reaches the hooks' PATH as README.md says: `uv tool install ./tooling/ws`, its bin folder
on PATH. pre-commit clones this repository from its path and installs nothing (the hooks are
`language: system`); uv resolves against the test's local index only.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.files import make_workspace
from tests.support.gitrepo import GitRepo, git_env, init_repo
from tests.support.pyindex import Package

THIS_REPO = Path(__file__).resolve().parents[1]
HOOKS = ("ws-check", "ws-sync-locks-check")
CATALOGUE = (
    Package("alpha", "1.0"),
    Package("alpha", "2.0"),
    Package("beta", "1.0", requires=("alpha>=1.0",)),
    Package("gamma", "0.1"),
)
MEMBERS = {
    "core": {"dependencies": ["alpha>=1.0"]},
    "report": {"dependencies": ["core", "beta"]},
    "cli": {"dependencies": ["gamma"]},
}


@pytest.fixture
def tool_bin(tmp_path: Path) -> Path:
    """ws installed as README.md says, `uv tool install ./tooling/ws`, into folders of the test.

    Offline: uv's cache holds what the install needs once `make hook-deps` ran (make test
    does). Without it the test skips, unless WS_REQUIRE_HOOKS is set (make test, CI).
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(("UV_TOOL_", "VIRTUAL_ENV"))}
    env.update(
        UV_TOOL_DIR=str(tmp_path / "tools"),
        UV_TOOL_BIN_DIR=str(tmp_path / "tool-bin"),
        UV_OFFLINE="1",
        UV_NO_PROGRESS="1",
    )
    uv = Path(sys.executable).parent / "uv"
    done = subprocess.run(
        [str(uv), "tool", "install", "--compile-bytecode", str(THIS_REPO / "tooling" / "ws")],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        message = f"uv tool install --offline failed (run make hook-deps):\n{done.stderr}"
        if os.environ.get("WS_REQUIRE_HOOKS"):
            pytest.fail(message)
        pytest.skip(message)
    bin_dir = tmp_path / "tool-bin"
    assert sorted(p.name for p in bin_dir.iterdir()) == ["ws"]
    return bin_dir


@pytest.fixture
def repo(tmp_path: Path, pyindex_factory, uv_env: dict[str, str]) -> GitRepo:
    index = pyindex_factory(CATALOGUE)
    root = make_workspace(tmp_path / "ws", MEMBERS, index_url=index.url)
    sync = subprocess.run(
        [str(Path(sys.executable).parent / "ws"), "sync-locks"],
        cwd=root,
        env=uv_env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert sync.returncode == 0, sync.stderr
    repo = init_repo(root)
    repo.commit_all("locked")
    return repo


def hook_env(uv_env: dict[str, str], tool_bin: Path, home: Path) -> dict[str, str]:
    """uv's hermetic environment, git's isolated one, PATH = ws's bin folder and the system's."""
    env = git_env(uv_env)
    env.update(
        PATH=os.pathsep.join([str(tool_bin), "/usr/local/bin", "/usr/bin", "/bin"]),
        PRE_COMMIT_HOME=str(home),
        PRE_COMMIT_COLOR="never",
        NO_COLOR="1",
    )
    return env


def try_repo(repo: GitRepo, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """pre-commit try-repo <this repository> on every file of the workspace repo."""
    return subprocess.run(
        [sys.executable, "-m", "pre_commit", "try-repo", str(THIS_REPO), "--all-files"],
        cwd=repo.path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )


def hook_lines(out: str) -> dict[str, str]:
    """The status pre-commit prints per hook name ('Passed', 'Failed', 'Skipped')."""
    lines = {}
    for line in out.splitlines():
        for status in ("Passed", "Failed", "(no files to check)Skipped"):
            if line.endswith(status) and "..." in line:
                lines[line.split("...")[0].strip()] = status
    return lines


@pytest.mark.slow
def test_hooks_pass_fail_with_the_problems_then_pass_after_sync(
    repo: GitRepo, uv_env: dict[str, str], tool_bin: Path, tmp_path: Path
) -> None:
    env = hook_env(uv_env, tool_bin, tmp_path / "pre-commit-home")

    clean = try_repo(repo, env)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert list(hook_lines(clean.stdout).values()) == ["Passed", "Passed"], clean.stdout

    pyproject = repo.path / "packages/core/pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace("alpha>=1.0", "alpha>=2.0"))
    stale = try_repo(repo, env)
    assert stale.returncode == 1, stale.stdout + stale.stderr
    assert list(hook_lines(stale.stdout).values()) == ["Failed", "Failed"], stale.stdout
    assert "uv.lock" in stale.stdout and "ws sync-locks" in stale.stdout, stale.stdout

    synced = subprocess.run(
        [str(tool_bin / "ws"), "sync-locks"], cwd=repo.path, env=env, capture_output=True
    )
    assert synced.returncode == 0, synced.stderr
    fixed = try_repo(repo, env)
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert list(hook_lines(fixed.stdout).values()) == ["Passed", "Passed"], fixed.stdout
    # pre-commit made no environment: the hooks are language: system, ws came from PATH.
    assert not any((tmp_path / "pre-commit-home").glob("repo*/py_env-*"))

"""A member name uv refuses is refused when ws loads the workspace, as uv itself would: the
name reaches CI matrices and command lines (`ws affected --matrix`)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from ws.errors import ConfigError
from ws.workspace.members import load_workspace

from tests.support.files import build_file_tree
from tests.support.gitrepo import GitRepo

REFUSED = ["y$(touch pwned)", "a b", "-a", "a-", "_a", "a.", "é", "a\nb", "", "a/b"]
ACCEPTED = ["a", "1", "A.B", "a..b", "a_b", "a__b", "Core-Lib_2"]


def workspace(root: Path, name: str) -> Path:
    quoted = name.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return build_file_tree(
        root,
        {
            "pyproject.toml": '[tool.uv.workspace]\nmembers = ["packages/*"]\n',
            "packages/m/pyproject.toml": f'[project]\nname = "{quoted}"\nversion = "0.1.0"\n'
            'requires-python = ">=3.8"\n',
        },
    )


@pytest.mark.parametrize("name", REFUSED)
def test_a_name_uv_refuses_is_a_config_error(tmp_path: Path, name: str) -> None:
    root = workspace(tmp_path, name)
    with pytest.raises(ConfigError) as caught:
        load_workspace(root)
    assert caught.value.path == root / "packages/m/pyproject.toml"
    assert f"[project] name {name!r} is not a valid package name" in caught.value.message
    assert caught.value.fix and "letter or digit" in caught.value.fix


@pytest.mark.parametrize("name", ACCEPTED)
def test_a_name_uv_accepts_loads(tmp_path: Path, name: str) -> None:
    assert len(load_workspace(workspace(tmp_path, name)).members) == 1


@pytest.mark.parametrize("name", REFUSED[:7] + ACCEPTED)
def test_ws_agrees_with_uv(tmp_path: Path, name: str, uv_bin: str, uv_env: dict[str, str]) -> None:
    root = workspace(tmp_path, name)
    done = subprocess.run(
        [uv_bin, "lock", "--offline"], cwd=root, env=uv_env, capture_output=True, text=True
    )
    try:
        load_workspace(root)
        ws_accepts = True
    except ConfigError:
        ws_accepts = False
    assert ws_accepts == (done.returncode == 0), done.stderr


def test_affected_matrix_refuses_a_name_uv_refuses(tmp_path: Path) -> None:
    """What CI runs: `ws affected --matrix` on a branch whose member is named to run a command
    in a matrix step. One error, exit 1, no matrix printed, nothing run."""
    root = workspace(tmp_path / "ws", "y$(touch pwned)")
    repo = GitRepo(root)
    repo.git("init", "--quiet")
    repo.git("add", "-A")
    repo.git("commit", "--quiet", "-m", "a member named to run a command")
    argv = [sys.executable, "-m", "ws", "--root", str(root), "affected", "--matrix"]
    done = subprocess.run(
        [*argv, "--since", "HEAD"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1, done.stdout
    assert done.stdout == ""
    assert "is not a valid package name" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "pwned").exists()

"""The hermetic test infrastructure works with the real uv and git."""

from __future__ import annotations

import base64
import hashlib
import io
import subprocess
import tomllib
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.support.files import build_file_tree, make_workspace
from tests.support.gitrepo import GitRepo
from tests.support.pyindex import LocalIndex, Package
from tests.support.wheels import build_wheel, write_wheel

# A member with a workspace dependency and one on beta (which pulls alpha from the index).
TWO_MEMBERS: dict[str, dict[str, object]] = {
    "app": {"dependencies": ["lib", "beta>=1.0"], "dependency-groups": {"dev": ["devtool"]}},
    "lib": {"version": "0.2.0", "dependencies": ["delta"]},
}


def uv(uv_bin: str, env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [uv_bin, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, f"uv {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
    return done


def locked(root: Path) -> dict[str, dict[str, Any]]:
    data = tomllib.loads((root / "uv.lock").read_text())
    return {pkg["name"]: pkg for pkg in data["package"]}


def fetch(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:  # noqa: S310 -- loopback only
            return resp.status, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, b""


def test_wheel_has_spec_metadata_and_record_hashes() -> None:
    wheel = build_wheel(
        "Foo.Bar", "1.0.0", ["alpha>=1"], requires_python=">=3.8", extras={"x": ["gamma"]}
    )

    assert wheel.filename == "foo_bar-1.0.0-py3-none-any.whl"
    with zipfile.ZipFile(io.BytesIO(wheel.data)) as zf:
        metadata = zf.read("foo_bar-1.0.0.dist-info/METADATA").decode()
        assert "Metadata-Version: 2.1\nName: Foo.Bar\nVersion: 1.0.0\n" in metadata
        assert "Requires-Python: >=3.8" in metadata
        assert "Requires-Dist: alpha>=1\n" in metadata
        assert 'Requires-Dist: gamma; extra == "x"' in metadata
        assert "Root-Is-Purelib: true" in zf.read("foo_bar-1.0.0.dist-info/WHEEL").decode()
        assert zf.read("foo_bar/__init__.py") == b'__version__ = "1.0.0"\n'
        rows = zf.read("foo_bar-1.0.0.dist-info/RECORD").decode().splitlines()
        for row in rows:
            path, digest, size = row.split(",")
            if path.endswith("RECORD"):
                assert digest == size == ""
                continue
            data = zf.read(path)
            b64 = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            assert digest == f"sha256={b64}"
            assert int(size) == len(data)
    assert (
        build_wheel(
            "Foo.Bar", "1.0.0", ["alpha>=1"], requires_python=">=3.8", extras={"x": ["gamma"]}
        ).sha256
        == wheel.sha256
    )


def test_write_wheel_installs_with_real_uv(
    tmp_path: Path, uv_bin: str, uv_env: dict[str, str]
) -> None:
    path = write_wheel(tmp_path / "dist", "my-tool", "3.2")
    uv(uv_bin, uv_env, tmp_path, "venv", "--quiet", str(tmp_path / "venv"))

    uv(uv_bin, uv_env, tmp_path, "pip", "install", "--python", str(tmp_path / "venv"), str(path))

    out = subprocess.run(
        [str(tmp_path / "venv/bin/python"), "-c", "import my_tool; print(my_tool.__version__)"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == "3.2"


def test_index_serves_pep503_pages(pyindex: LocalIndex) -> None:
    status, root = fetch(pyindex.url)
    assert status == 200
    assert b'<a href="beta/">beta</a>' in root

    status, page = fetch(pyindex.url + "Beta")  # redirected to /simple/beta/
    beta = pyindex.releases("beta")
    assert status == 200
    assert {w.filename for w in beta} == {"beta-1.0-py3-none-any.whl", "beta-1.1-py3-none-any.whl"}
    for wheel in beta:
        assert f"files/{wheel.filename}#sha256={wheel.sha256}".encode() in page

    _, future = fetch(pyindex.url + "future/")
    assert b'data-requires-python="&gt;=4"' in future
    assert fetch(pyindex.url + "no-such-project/")[0] == 404
    status, data = fetch(f"{pyindex.base_url}/files/{beta[0].filename}")
    assert (status, data) == (200, beta[0].data)


def test_uv_locks_workspace_from_local_index(
    tmp_path: Path, pyindex: LocalIndex, uv_bin: str, uv_env: dict[str, str]
) -> None:
    root = make_workspace(tmp_path / "ws", TWO_MEMBERS, index_url=pyindex.url)

    uv(uv_bin, uv_env, root, "lock")

    pins = locked(root)
    assert {name: pins[name]["version"] for name in ("alpha", "beta", "gamma", "delta")} == {
        "alpha": "2.0",
        "beta": "1.1",
        "gamma": "0.2",
        "delta": "1.0",
    }
    for name in ("alpha", "beta", "devtool"):
        assert pins[name]["source"] == {"registry": pyindex.url}
    assert pins["lib"]["source"] == {"editable": "packages/lib"}
    assert {"name": "lib"} in pins["app"]["dependencies"]


def test_uv_syncs_workspace_without_fetching_a_build_backend(
    tmp_path: Path,
    pyindex_factory: Callable[..., LocalIndex],
    uv_bin: str,
    uv_env: dict[str, str],
) -> None:
    index = pyindex_factory()
    root = make_workspace(tmp_path / "ws", TWO_MEMBERS, index_url=index.url)
    uv(uv_bin, uv_env, root, "lock")

    uv(uv_bin, uv_env, root, "sync", "--all-packages", "--locked")

    code = "import alpha, beta, lib, app, devtool; print(alpha.__version__, lib.__version__)"
    out = subprocess.run(
        [str(root / ".venv/bin/python"), "-c", code], capture_output=True, text=True, check=True
    )
    assert out.stdout.split() == ["2.0", "0.2.0"]
    # uv builds uv_build members in-process: the index is never asked for uv-build.
    assert not [p for p in index.requested() if "uv-build" in p or "uv_build" in p]


def test_locked_sync_works_offline_from_a_warm_cache(
    tmp_path: Path,
    pyindex_factory: Callable[..., LocalIndex],
    uv_bin: str,
    uv_env: dict[str, str],
) -> None:
    index = pyindex_factory()
    root = make_workspace(tmp_path / "ws", TWO_MEMBERS, index_url=index.url)
    uv(uv_bin, uv_env, root, "sync", "--all-packages")
    index.close()
    build_file_tree(root, {"packages/lib/src/lib/extra.py": "X = 1\n"})

    uv(
        uv_bin,
        {**uv_env, "UV_OFFLINE": "1"},
        root,
        "sync",
        "--all-packages",
        "--locked",
        "--reinstall-package",
        "lib",
        "--no-editable",
    )

    # A non-editable install copies the module: the new file shows lib was rebuilt offline.
    assert list(root.glob(".venv/lib/python3*/site-packages/lib/extra.py"))


def test_new_release_is_picked_up_by_upgrade(
    tmp_path: Path,
    pyindex_factory: Callable[..., LocalIndex],
    uv_bin: str,
    uv_env: dict[str, str],
) -> None:
    index = pyindex_factory([Package("alpha", "1.0"), Package("beta", "1.0", ("alpha>=1.0",))])
    root = make_workspace(tmp_path / "ws", {"app": {"dependencies": ["beta"]}}, index_url=index.url)
    uv(uv_bin, uv_env, root, "lock")
    assert locked(root)["beta"]["version"] == "1.0"

    index.add("beta", "1.2", ["alpha>=1.1"])
    index.add("alpha", "1.1")
    uv(uv_bin, uv_env, root, "lock", "--upgrade")

    pins = locked(root)
    assert (pins["beta"]["version"], pins["alpha"]["version"]) == ("1.2", "1.1")
    with pytest.raises(ValueError, match="already in the index"):
        index.add("beta", "1.2")


def test_hermetic_env_refuses_non_loopback_hosts(
    tmp_path: Path, uv_bin: str, uv_env: dict[str, str]
) -> None:
    env = {**uv_env, "UV_HTTP_RETRIES": "0"}
    done = subprocess.run(
        [
            uv_bin,
            "pip",
            "compile",
            "--no-cache",
            "--default-index",
            "http://pkgs.invalid/simple/",
            "-",
        ],
        input="anything\n",
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode != 0
    assert "Connection refused" in done.stderr


def test_make_workspace_writes_members(tmp_path: Path) -> None:
    root = make_workspace(
        tmp_path,
        {
            "svc-a": {
                "dependencies": ["Lib_B>=0.1"],
                "optional-dependencies": {"x": ["gamma"]},
                "files": {"README.md": "  hi\n"},
            },
            "lib-b": {"package": False, "dependency-groups": {"dev": ["svc-a"]}},
        },
        index_url="http://127.0.0.1:1/simple/",
    )

    svc = tomllib.loads((root / "packages/svc-a/pyproject.toml").read_text())
    assert svc["tool"]["uv"]["sources"] == {"lib-b": {"workspace": True}}
    assert svc["project"]["optional-dependencies"] == {"x": ["gamma"]}
    assert svc["build-system"]["build-backend"] == "uv_build"
    assert (root / "packages/svc-a/src/svc_a/__init__.py").read_text() == '__version__ = "0.1.0"\n'
    assert (root / "packages/svc-a/README.md").read_text() == "hi\n"
    lib = tomllib.loads((root / "packages/lib-b/pyproject.toml").read_text())
    assert lib["tool"]["uv"]["package"] is False and "build-system" not in lib
    top = tomllib.loads((root / "pyproject.toml").read_text())
    assert top["tool"]["uv"]["index"] == [
        {"name": "local", "url": "http://127.0.0.1:1/simple/", "default": True}
    ]
    with pytest.raises(ValueError, match="unknown keys"):
        make_workspace(tmp_path / "bad", {"x": {"deps": []}})


def test_git_repo_commits_and_diffs(git_repo: GitRepo) -> None:
    first = git_repo.commit_files({"a.txt": "one\n", "dir/b.txt": "two\n"}, "first")
    second = git_repo.commit_files({"dir/b.txt": "changed\n"}, "second")

    assert len(first) == len(second) == 40 and first != second
    assert git_repo.changed_files(first) == ["dir/b.txt"]
    assert git_repo.git("log", "-1", "--format=%an <%ae>") == "ws tests <ws-tests@example.invalid>"
    assert git_repo.git("branch", "--show-current") == "main"
    git_repo.checkout(first)
    assert (git_repo.path / "dir/b.txt").read_text() == "two\n"

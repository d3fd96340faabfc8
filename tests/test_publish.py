"""`ws publish` end to end against a real pypiserver on loopback: pinned siblings in every
wheel and sdist, what installs from the index, re-runs, resumes, dry runs, and one clear
error before any upload for each bad input."""

from __future__ import annotations

import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from tests.support.backend_wheels import backend_index
from tests.support.gitrepo import GitRepo
from tests.support.publishing import (
    actions,
    libraries,
    library,
    make_repo,
    publish_env,
    report,
    requires,
    sdist_metadata,
    wheel_metadata,
    ws_publish,
)
from tests.support.pyindex import LocalIndex, build_wheel
from tests.support.pypiserver import PyPIServer, free_port, pypiserver

__all__ = ["backend_index", "pypiserver"]  # fixtures: imported for pytest to find

EVERY_FILE = sorted(
    f"{name}-1.0.0{suffix}"
    for name in ("base", "mid", "top")
    for suffix in ("-py3-none-any.whl", ".tar.gz")
)


@pytest.fixture
def repo(tmp_path: Path, pyindex: LocalIndex, pypiserver: PyPIServer) -> GitRepo:
    return make_repo(tmp_path / "ws", pyindex.url, pypiserver, libraries())


@pytest.fixture
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return publish_env(tmp_path_factory.getbasetemp() / "uv-publish")


def test_publish_pins_siblings_in_every_wheel_and_sdist(
    repo: GitRepo, env: dict[str, str], pypiserver: PyPIServer
) -> None:
    data = report(ws_publish(repo.path, env, "--json"))
    assert [m["name"] for m in data["members"]] == ["base", "mid", "top"]  # dependencies first
    assert set(actions(data).values()) == {"uploaded"}
    assert data["smoke"] == "passed"
    assert pypiserver.files() == EVERY_FILE
    files = pypiserver.folder
    assert requires(wheel_metadata(files / "top-1.0.0-py3-none-any.whl")) == [
        "base==1.0.0",
        "mid==1.0.0",
    ]
    mid = requires(wheel_metadata(files / "mid-1.0.0-py3-none-any.whl"))
    # the extra and its marker are kept, the version pinned
    assert mid == [
        "base==1.0.0",
        "base[speed]==1.0.0 ; python_full_version >= '3.8' and extra == 'fast'",
    ]
    pkg_info, pyproject = sdist_metadata(files / "top-1.0.0.tar.gz")
    assert requires(pkg_info) == ["base==1.0.0", "mid==1.0.0"]
    assert '"mid==1.0.0"' in pyproject and '"base==1.0.0"' in pyproject
    assert requires(wheel_metadata(files / "base-1.0.0-py3-none-any.whl")) == ["alpha>=1.0"]
    # the pins went into a copy: the user's files are untouched
    assert repo.git("status", "--porcelain") == ""
    assert '"base>=0.5"' in (repo.path / "packages/top/pyproject.toml").read_text()


def test_sdist_rebuilds_pinned(
    repo: GitRepo, env: dict[str, str], pypiserver: PyPIServer, tmp_path: Path, uv_bin: str
) -> None:
    report(ws_publish(repo.path, env, "--json"))
    out = tmp_path / "rebuilt"
    sdist = pypiserver.folder / "top-1.0.0.tar.gz"
    with tarfile.open(sdist) as tar:
        tar.extractall(tmp_path / "unpacked", filter="data")
    source = tmp_path / "unpacked" / "top-1.0.0"
    done = subprocess.run(
        [uv_bin, "build", "--wheel", str(source), "--out-dir", str(out)],
        env=env,
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert requires(wheel_metadata(out / "top-1.0.0-py3-none-any.whl")) == [
        "base==1.0.0",
        "mid==1.0.0",
    ]


def test_installing_the_top_member_gets_the_published_siblings(
    repo: GitRepo, env: dict[str, str], pypiserver: PyPIServer, tmp_path: Path, uv_bin: str
) -> None:
    report(ws_publish(repo.path, env, "--json"))
    newer = build_wheel("base", "9.0.0", ("alpha>=1.0",))  # a newer sibling on the index
    (pypiserver.folder / newer.filename).write_bytes(newer.data)
    venv = tmp_path / "venv"
    subprocess.run([uv_bin, "venv", str(venv), "-q"], env=env, check=True)
    install = [uv_bin, "pip", "install", "-q", "--python", str(venv / "bin/python")]
    install += ["--index", f"pub={pypiserver.url}", "--default-index", env_index(repo), "top"]
    subprocess.run(install, env=env, check=True)
    listed = subprocess.run(
        [uv_bin, "pip", "freeze", "--python", str(venv / "bin/python")],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    assert {"base==1.0.0", "mid==1.0.0", "top==1.0.0"} <= set(listed)


def env_index(repo: GitRepo) -> str:
    text = (repo.path / "pyproject.toml").read_text()
    return text.split('url = "', 1)[1].split('"', 1)[0]


def test_a_second_run_uploads_nothing(
    repo: GitRepo, env: dict[str, str], pypiserver: PyPIServer
) -> None:
    report(ws_publish(repo.path, env, "--json"))
    before = {p.name: p.stat().st_mtime_ns for p in pypiserver.folder.iterdir()}
    again = report(ws_publish(repo.path, env, "--json"))
    assert set(actions(again).values()) == {"skipped"}
    assert {p.name: p.stat().st_mtime_ns for p in pypiserver.folder.iterdir()} == before
    assert again["smoke"] == "passed"


def test_a_run_stopped_halfway_resumes(
    repo: GitRepo, env: dict[str, str], pypiserver: PyPIServer
) -> None:
    """Stopped after base's wheel: base alone published, then its sdist lost, as if the run
    had ended between the two files. The next run uploads what is missing, nothing twice."""
    first = report(ws_publish(repo.path, env, "--json", "base"))
    assert [m["name"] for m in first["members"]] == ["base"]
    (pypiserver.folder / "base-1.0.0.tar.gz").unlink()
    wheel = pypiserver.folder / "base-1.0.0-py3-none-any.whl"
    kept = wheel.stat().st_mtime_ns
    data = report(ws_publish(repo.path, env, "--json"))
    done = actions(data)
    assert done.pop("base-1.0.0-py3-none-any.whl") == "skipped"
    assert set(done.values()) == {"uploaded"}
    assert wheel.stat().st_mtime_ns == kept
    assert pypiserver.files() == EVERY_FILE


def test_named_members_bring_the_siblings_they_require(
    repo: GitRepo, env: dict[str, str], pypiserver: PyPIServer
) -> None:
    data = report(ws_publish(repo.path, env, "--json", "mid"))
    assert [m["name"] for m in data["members"]] == ["base", "mid"]


def test_dry_run_uploads_nothing(
    repo: GitRepo, env: dict[str, str], pypiserver: PyPIServer
) -> None:
    no_credentials = {k: v for k, v in env.items() if not k.startswith("UV_PUBLISH_")}
    data = report(ws_publish(repo.path, no_credentials, "--json", "--dry-run"))
    assert data["dry_run"] is True
    assert set(actions(data).values()) == {"would upload"}
    assert data["smoke"] == "not run"
    assert pypiserver.files() == []


def test_text_report(repo: GitRepo, env: dict[str, str]) -> None:
    result = ws_publish(repo.path, env)
    assert result.exit_code == 0, result.output
    assert "base 1.0.0: uploaded base-1.0.0-py3-none-any.whl, base-1.0.0.tar.gz" in result.stdout
    again = ws_publish(repo.path, env)
    assert "top 1.0.0: already on pub top-1.0.0-py3-none-any.whl, top-1.0.0.tar.gz" in again.stdout


# Bad input: each is one clear error (exit 1, the file or member named, a hint), and the
# index holds nothing afterwards.


def refused(repo: GitRepo, env: dict[str, str], server: PyPIServer, *args: str) -> str:
    result = ws_publish(repo.path, env, *args)
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    assert "hint:" in result.output
    assert server.files() == []
    return result.output


def test_dirty_tree_is_refused(repo: GitRepo, env: dict[str, str], pypiserver: PyPIServer) -> None:
    (repo.path / "packages/base/src/base/__init__.py").write_text("NAME = 'changed'\n")
    output = refused(repo, env, pypiserver)
    assert "changes git does not hold" in output and "commit or stash" in output


@pytest.mark.parametrize(
    ("filename", "why"),
    [
        ("mid-1.0.0-py3-none-any.whl", "other bytes"),  # mid 1.0.0, built from something else
        ("mid-1.0.0-cp311-cp311-linux_x86_64.whl", "not built by this run"),
    ],
)
def test_a_version_already_published_is_refused(
    repo: GitRepo, env: dict[str, str], pypiserver: PyPIServer, filename: str, why: str
) -> None:
    other = build_wheel("mid", "1.0.0", ("base",))
    (pypiserver.folder / filename).write_bytes(other.data)
    (pypiserver.folder / "mid-0.9.0.tar.gz").write_bytes(b"an older release: no matter")
    result = ws_publish(repo.path, env)
    assert result.exit_code == 1
    assert "pub already holds these versions, with files other than this run's" in result.output
    assert f"{filename} ({why})" in result.output
    assert "0.9.0" not in result.output
    assert pypiserver.files() == sorted([filename, "mid-0.9.0.tar.gz"])  # base was not uploaded


def test_a_publishable_member_requiring_an_unpublishable_one_is_refused(
    tmp_path: Path, pyindex: LocalIndex, pypiserver: PyPIServer, env: dict[str, str]
) -> None:
    files = libraries(base="\n[tool.ws.publish]\npublish = false")
    repo = make_repo(tmp_path / "ws", pyindex.url, pypiserver, files)
    output = refused(repo, env, pypiserver)
    assert "mid is publishable but requires base, which is not" in output
    assert "packages/mid/pyproject.toml" in output


def test_dynamic_dependencies_are_refused(
    tmp_path: Path, pyindex: LocalIndex, pypiserver: PyPIServer, env: dict[str, str]
) -> None:
    files = libraries()
    files["packages/base/pyproject.toml"] = files["packages/base/pyproject.toml"].replace(
        'dependencies = ["alpha>=1.0"]', 'dynamic = ["dependencies"]'
    )
    repo = make_repo(tmp_path / "ws", pyindex.url, pypiserver, files)
    output = refused(repo, env, pypiserver)
    assert "base: [project] dynamic lists its dependencies" in output


def test_missing_credentials_are_refused(
    repo: GitRepo, env: dict[str, str], pypiserver: PyPIServer
) -> None:
    bare = {k: v for k, v in env.items() if not k.startswith("UV_PUBLISH_")}
    output = refused(repo, bare, pypiserver)
    assert "no credentials to publish to pub" in output and "UV_PUBLISH_TOKEN" in output


def test_an_index_that_cannot_be_read_is_refused(
    tmp_path: Path, pyindex: LocalIndex, pypiserver: PyPIServer, env: dict[str, str]
) -> None:
    files = libraries()
    repo = make_repo(tmp_path / "ws", pyindex.url, pypiserver, files)
    closed = f"http://127.0.0.1:{free_port()}"
    text = (repo.path / "pyproject.toml").read_text().replace(pypiserver.url, f"{closed}/simple/")
    repo.commit_files({"pyproject.toml": text})
    output = refused(repo, env, pypiserver)
    assert "refused to list base" in output and "nothing was uploaded" in output


def test_an_index_that_refuses_the_upload(
    repo: GitRepo, env: dict[str, str], pypiserver: PyPIServer
) -> None:
    wrong = env | {"UV_PUBLISH_PASSWORD": "not-the-password"}
    output = refused(repo, wrong, pypiserver)
    assert "uploading base-1.0.0-py3-none-any.whl, base-1.0.0.tar.gz to pub failed" in output
    assert "uploaded before: nothing" in output
    assert "not-the-password" not in output


def test_a_member_without_a_licence_fails_the_checks(
    tmp_path: Path, pyindex: LocalIndex, pypiserver: PyPIServer, env: dict[str, str]
) -> None:
    files = libraries()
    files["packages/top/pyproject.toml"] = files["packages/top/pyproject.toml"].replace(
        'license = "MIT"\n', ""
    )
    repo = make_repo(tmp_path / "ws", pyindex.url, pypiserver, files)
    output = refused(repo, env, pypiserver, "--dry-run")
    assert "top-1.0.0-py3-none-any.whl: no licence" in output
    assert "top-1.0.0.tar.gz: no licence" in output


def test_the_example_workspace_libraries(
    tmp_path: Path, backend_index: LocalIndex, pypiserver: PyPIServer, env: dict[str, str]
) -> None:
    """This repository's packages/example-core and example-report, published as they are."""
    here = Path(__file__).resolve().parents[1] / "packages"
    files: dict[str, str] = {}
    repo = make_repo(tmp_path / "ws", backend_index.url, pypiserver, files)
    for name in ("example-core", "example-report"):
        shutil.copytree(
            here / name,
            repo.path / "packages" / name,
            ignore=shutil.ignore_patterns("__pycache__", "uv.lock", ".venv"),
        )
    repo.commit_all("the example libraries")
    data = report(ws_publish(repo.path, env, "--json"))
    assert [m["name"] for m in data["members"]] == ["example-core", "example-report"]
    assert data["smoke"] == "passed"
    wheel = pypiserver.folder / "example_report-0.2.0-py3-none-any.whl"
    assert "example-core==0.3.0" in requires(wheel_metadata(wheel))
    pkg_info, _ = sdist_metadata(pypiserver.folder / "example_report-0.2.0.tar.gz")
    assert "example-core==0.3.0" in requires(pkg_info)


def test_affected_members_with_the_siblings_they_require(
    tmp_path: Path, pyindex: LocalIndex, pypiserver: PyPIServer, env: dict[str, str]
) -> None:
    files = libraries() | library("solo", [])
    repo = make_repo(tmp_path / "ws", pyindex.url, pypiserver, files)
    base = repo.head()
    repo.commit_files({"packages/solo/README.md": "# solo\n\nChanged.\n"})
    data = report(ws_publish(repo.path, env, "--json", "--dry-run", "--affected", "--since", base))
    assert [m["name"] for m in data["members"]] == ["solo"]
    repo.commit_files({"packages/top/README.md": "# top\n\nChanged.\n"})
    data = report(ws_publish(repo.path, env, "--json", "--dry-run", "--affected", "--since", base))
    assert [m["name"] for m in data["members"]] == ["base", "mid", "solo", "top"]


@pytest.mark.parametrize(
    "args", [("--affected",), ("--since", "HEAD"), ("base", "--affected", "--since", "HEAD")]
)
def test_usage_errors(repo: GitRepo, env: dict[str, str], args: tuple[str, ...]) -> None:
    result = ws_publish(repo.path, env, *args)
    assert result.exit_code == 2
    assert "error:" in result.output


def test_an_unpublishable_member_named_is_refused(
    tmp_path: Path, pyindex: LocalIndex, pypiserver: PyPIServer, env: dict[str, str]
) -> None:
    files = libraries(top="classifiers = ['Private :: Do Not Upload']")
    files["packages/app/pyproject.toml"] = (
        '[project]\nname = "app"\nversion = "0.1.0"\ndependencies = ["mid"]\n\n'
        "[tool.uv]\npackage = false\n\n[tool.uv.sources]\nmid = { workspace = true }\n"
    )
    repo = make_repo(tmp_path / "ws", pyindex.url, pypiserver, files)
    output = refused(repo, env, pypiserver, "top")
    assert "top is not publishable: its classifiers hold `Private :: Do Not Upload`" in output
    data = report(ws_publish(repo.path, env, "--json", "--dry-run"))
    assert [m["name"] for m in data["members"]] == ["base", "mid"]
    assert data["skipped"] == [
        {
            "name": "app",
            "reason": "uv does not build it (`tool.uv.package = false`, or no [build-system])",
        },
        {"name": "top", "reason": "its classifiers hold `Private :: Do Not Upload`"},
    ]


def test_an_index_refusing_halfway_then_a_run_that_resumes(
    repo: GitRepo, env: dict[str, str], pypiserver: PyPIServer
) -> None:
    """pypiserver refuses to store a file whose name it holds already; a folder of that name
    is not a file it lists, so ws sees nothing there until the upload of mid is refused."""
    blocker = pypiserver.folder / "mid-1.0.0-py3-none-any.whl"
    blocker.mkdir()
    result = ws_publish(repo.path, env)
    assert result.exit_code == 1
    assert "uploading mid-1.0.0-py3-none-any.whl, mid-1.0.0.tar.gz to pub failed" in result.output
    assert "uploaded before: base-1.0.0-py3-none-any.whl, base-1.0.0.tar.gz" in result.output
    blocker.rmdir()
    kept = {p.name: p.stat().st_mtime_ns for p in pypiserver.folder.iterdir()}
    data = report(ws_publish(repo.path, env, "--json"))
    done = actions(data)
    assert [name for name, action in done.items() if action == "skipped"] == sorted(kept)
    assert {
        p.name: p.stat().st_mtime_ns for p in pypiserver.folder.iterdir() if p.name in kept
    } == kept
    assert pypiserver.files() == EVERY_FILE

"""Which uv ws runs: one the workspace's `required-version` allows, found or fetched by uv."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from ws import uv
from ws.errors import ConfigError, WsError
from ws.locks.sync import LockOptions, sync_locks
from ws.uv import (
    BUNDLED,
    ON_PATH,
    RequiredVersion,
    choose_uv,
    fetch_argv,
    first_error,
    required_version,
    version_of,
)
from ws.workspace.members import load_workspace, read_toml

from tests.support.files import build_file_tree, make_workspace
from tests.support.pyindex import Package

MEMBERS = {"core": {"dependencies": ["alpha"]}, "svc": {"dependencies": ["core"]}}


def fake_uv(folder: Path, version: str, real: str) -> Path:
    """A uv that says it is `version` and runs the real uv for anything else, noting each
    command line in folder/calls (a second uv release, without the internet)."""
    folder.mkdir(parents=True, exist_ok=True)
    script = folder / "uv"
    script.write_text(
        "#!/bin/sh\n"
        f'if [ "$1" = "--version" ]; then echo "uv {version} (fake)"; exit 0; fi\n'
        f'echo "$*" >> "{folder}/calls"\n'
        f'exec "{real}" "$@"\n'
    )
    script.chmod(0o755)
    return script


def pinned(root: Path, spec: str) -> RequiredVersion:
    found = required_version(root, read_toml(root / "pyproject.toml"))
    assert found is not None and found.text == spec
    return found


def run_ws(root: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    code = "import sys; from ws.entry import main; sys.argv = ['ws', *sys.argv[1:]]; main()"
    return subprocess.run(
        [sys.executable, "-c", code, "--root", str(root), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def index(pyindex_factory):
    return pyindex_factory([Package("alpha", "1.0")])


def workspace(tmp_path: Path, index, spec: str | None) -> Path:
    extra = "" if spec is None else f'[tool.uv]\nrequired-version = "{spec}"\n'
    return make_workspace(tmp_path / "ws", MEMBERS, index_url=index.url, root_extra=extra)


def no_uv_path(tmp_path: Path) -> str:
    """A PATH with a shell and no uv."""
    empty = tmp_path / "no-uv"
    empty.mkdir(exist_ok=True)
    return f"{empty}:/usr/bin:/bin"


# --- required-version, read where uv reads it


@pytest.mark.parametrize(
    ("written", "allowed", "refused"),
    [
        ("~=0.12.0", "0.12.7", "0.13.9"),
        (">=0.5,<0.6", "0.5.31", "0.6.0"),
        ("0.5.0", "0.5.0", "0.5.1"),  # a bare version is that version exactly, as uv reads it
        ("==0.13.*", "0.13.9", "0.14.0"),
    ],
)
def test_required_version_is_read_as_uv_reads_it(
    tmp_path: Path, written: str, allowed: str, refused: str
) -> None:
    root = build_file_tree(
        tmp_path, {"pyproject.toml": f'[tool.uv]\nrequired-version = "{written}"\n'}
    )
    spec = pinned(root, written)
    assert spec.allows(allowed) and not spec.allows(refused)
    assert spec.source == root / "pyproject.toml" and spec.key == "tool.uv.required-version"


def test_a_root_uv_toml_wins_over_the_pyproject(tmp_path: Path) -> None:
    """uv reads uv.toml and ignores [tool.uv] beside it, required-version included."""
    root = build_file_tree(
        tmp_path,
        {
            "pyproject.toml": '[tool.uv]\nrequired-version = "~=0.12.0"\n',
            "uv.toml": 'required-version = ">=0.13"\n',
        },
    )
    spec = required_version(root, read_toml(root / "pyproject.toml"))
    assert spec is not None and spec.source == root / "uv.toml" and spec.allows("0.13.9")
    (root / "uv.toml").write_text("native-tls = true\n")
    assert required_version(root, read_toml(root / "pyproject.toml")) is None


@pytest.mark.parametrize("value", ['"not a version"', "5", '"=>0.5"'])
def test_a_bad_required_version_is_one_config_error(tmp_path: Path, value: str) -> None:
    root = build_file_tree(tmp_path, {"pyproject.toml": f"[tool.uv]\nrequired-version = {value}\n"})
    with pytest.raises(ConfigError) as err:
        required_version(root, read_toml(root / "pyproject.toml"))
    assert str(root / "pyproject.toml") in err.value.message
    assert "`tool.uv.required-version`" in err.value.message and err.value.fix


# --- the choice


def test_without_a_pin_ws_runs_its_own_uv(tmp_path: Path, uv_bin: str) -> None:
    other = fake_uv(tmp_path / "path", "0.5.0", uv_bin)
    choice = choose_uv({"PATH": str(other.parent)}, None, uv_bin)
    assert (choice.binary, choice.why) == (uv_bin, BUNDLED)
    mute = tmp_path / "mute-uv"  # a uv that cannot say its version: without a pin, none asks
    mute.write_text("#!/bin/sh\nexit 3\n")
    mute.chmod(0o755)
    assert choose_uv({"PATH": str(other.parent)}, None, str(mute)).binary == str(mute)
    assert choose_uv({"PATH": str(other.parent), "WS_UV": str(mute)}, None, uv_bin).why == "WS_UV"


def test_the_uv_on_path_comes_first_when_the_pin_allows_it(tmp_path: Path, uv_bin: str) -> None:
    root = build_file_tree(
        tmp_path / "ws", {"pyproject.toml": '[tool.uv]\nrequired-version = ">=0.13"\n'}
    )
    spec = pinned(root, ">=0.13")
    allowed = fake_uv(tmp_path / "allowed", "0.13.1", uv_bin)
    choice = choose_uv({"PATH": str(allowed.parent)}, spec, uv_bin)
    assert (choice.binary, choice.version) == (str(allowed), "0.13.1")
    assert choice.why.startswith(ON_PATH) and "required-version" in choice.why

    refused = fake_uv(tmp_path / "refused", "0.12.0", uv_bin)
    choice = choose_uv({"PATH": str(refused.parent)}, spec, uv_bin)
    assert choice.binary == uv_bin and choice.why.startswith(BUNDLED)


def test_a_uv_on_path_that_does_not_run_is_passed_over(tmp_path: Path, uv_bin: str) -> None:
    """A pyenv shim named uv fails (exit 127) in a folder whose .python-version selects an
    interpreter without uv: a pin then takes the next uv, as it does for one it refuses."""
    root = build_file_tree(
        tmp_path / "ws", {"pyproject.toml": '[tool.uv]\nrequired-version = ">=0.1"\n'}
    )
    shim = tmp_path / "shims" / "uv"
    shim.parent.mkdir()
    shim.write_text('#!/bin/sh\necho "pyenv: uv: command not found" >&2\nexit 127\n')
    shim.chmod(0o755)
    choice = choose_uv({"PATH": str(shim.parent)}, pinned(root, ">=0.1"), uv_bin)
    assert choice.binary == uv_bin and choice.why.startswith(BUNDLED)


def test_ws_uv_that_the_pin_refuses_is_an_error_naming_both(tmp_path: Path, uv_bin: str) -> None:
    root = build_file_tree(
        tmp_path / "ws", {"pyproject.toml": '[tool.uv]\nrequired-version = "~=0.12.0"\n'}
    )
    old = fake_uv(tmp_path / "old", "0.5.0", uv_bin)
    with pytest.raises(WsError) as err:
        choose_uv({"WS_UV": str(old), "PATH": ""}, pinned(root, "~=0.12.0"), uv_bin)
    message = err.value.message
    assert f"WS_UV={old} is uv 0.5.0" in message
    assert f"`tool.uv.required-version = '~=0.12.0'` in {root / 'pyproject.toml'}" in message
    assert err.value.fix is not None and "WS_UV" in err.value.fix


def test_the_fetch_command_line(tmp_path: Path) -> None:
    root = build_file_tree(tmp_path, {"uv.toml": 'required-version = ">=0.5, <0.6"\n'})
    spec = required_version(root, {})
    assert spec is not None
    argv = fetch_argv("/opt/uv", spec)
    assert argv[:5] == ["/opt/uv", "tool", "run", "--from", "uv<0.6,>=0.5"]
    assert argv[5:7] == ["python", "-c"] and "find_uv_bin" in argv[7]


def uv_release(version: str, real: str) -> dict[str, str]:
    """The files of a `uv` wheel whose command says it is version and runs the real uv: the
    uv package's own layout (uv.find_uv_bin, the binary among the scripts)."""
    script = (
        "#!python\nimport os, sys\n"
        f'if sys.argv[1:] == ["--version"]:\n    print("uv {version} (fake)")\n    sys.exit(0)\n'
        f"os.execv({real!r}, [{real!r}, *sys.argv[1:]])\n"
    )
    finder = (
        "import os, sysconfig\n\n\ndef find_uv_bin():\n"
        '    return os.path.join(sysconfig.get_path("scripts"), "uv")\n'
    )
    return {"uv/__init__.py": finder, f"uv-{version}.data/scripts/uv": script}


def test_a_release_the_pin_allows_is_fetched_by_uv_and_locks(
    tmp_path: Path, index, uv_bin: str, uv_env: dict[str, str]
) -> None:
    """Neither the uv on PATH nor ws's own is allowed: uv's `tool run` gets an allowed release
    from the index (this one on loopback), once, and ws runs that binary."""
    index.add("uv", "0.12.0", files=uv_release("0.12.0", uv_bin))
    index.add("uv", "0.13.42", files=uv_release("0.13.42", uv_bin))
    root = workspace(tmp_path, index, ">=0.13")
    old = fake_uv(tmp_path / "old", "0.5.0", uv_bin)  # ws's own uv, too old for the pin
    env = {**uv_env, "PATH": no_uv_path(tmp_path), "UV_DEFAULT_INDEX": index.url}
    ws = load_workspace(root)
    choice = choose_uv(env, required_version(root, ws.data), str(old))
    assert choice.version == "0.13.42" and Path(choice.binary).is_file()
    assert "uv tool run --from 'uv>=0.13'" in choice.why and f"{BUNDLED} (0.5.0)" in choice.why
    assert (old.parent / "calls").read_text().startswith("tool run --from uv>=0.13 python")

    report = sync_locks(ws, None, LockOptions(uv=choice.binary, env=uv_env))
    assert report.root == "created" and (root / "packages/svc/uv.lock").is_file()
    index_hits = len(index.requested())
    again = choose_uv(env, required_version(root, ws.data), str(old))
    assert again.binary == choice.binary
    assert len(index.requested()) == index_hits, "the second run takes it from uv's cache"


def test_no_allowed_uv_and_no_index_is_one_clear_error(
    tmp_path: Path, index, uv_bin: str, uv_env: dict[str, str]
) -> None:
    root = workspace(tmp_path, index, "~=0.12.0")
    spec = pinned(root, "~=0.12.0")
    env = {**uv_env, "PATH": no_uv_path(tmp_path), "UV_HTTP_RETRIES": "0"}  # the internet: refused
    with pytest.raises(WsError) as err:
        choose_uv(env, spec, uv_bin)
    message = err.value.message
    assert "`uv tool run --from 'uv~=0.12.0'` failed" in message
    assert f"{BUNDLED} ({version_of(uv_bin)})" in message
    assert "\nerror: " in message, "uv's first error line, not its last"


def test_first_error_keeps_the_first_error_and_its_causes() -> None:
    stderr = (
        "Using CPython 3.11.7\nwarning: something\n"
        "error: Request failed after 3 retries\n"
        "  cause: Failed to fetch: http://127.0.0.1:9/simple/idna/\n"
        "  cause: Connection refused (os error 111)\n"
        "hint: try again\n"
    )
    assert first_error(stderr) == (
        "error: Request failed after 3 retries\n"
        "  cause: Failed to fetch: http://127.0.0.1:9/simple/idna/\n"
        "  cause: Connection refused (os error 111)"
    )
    assert first_error("  × No solution found\n") == "× No solution found"


# --- through the command line


def test_sync_locks_runs_the_allowed_uv_on_path_and_says_so(
    tmp_path: Path, index, uv_bin: str, uv_env: dict[str, str]
) -> None:
    root = workspace(tmp_path, index, ">=0.13")
    mine = fake_uv(tmp_path / "bin", "0.13.1", uv_bin)
    env = {**uv_env, "PATH": f"{mine.parent}:{no_uv_path(tmp_path)}"}
    done = run_ws(root, env, "-v", "sync-locks")
    assert done.returncode == 0, done.stderr
    assert f"uv 0.13.1 at {mine}: {ON_PATH}, allowed by `tool.uv.required-version" in done.stderr
    assert "lock" in (mine.parent / "calls").read_text()


def test_sync_locks_refuses_a_ws_uv_the_pin_refuses(
    tmp_path: Path, index, uv_bin: str, uv_env: dict[str, str]
) -> None:
    root = workspace(tmp_path, index, "~=0.12.0")
    old = fake_uv(tmp_path / "old", "0.5.0", uv_bin)
    done = run_ws(root, {**uv_env, "WS_UV": str(old)}, "sync-locks")
    assert done.returncode == 1
    first, hint = done.stderr.splitlines()[:2]
    assert first == (
        f"error: WS_UV={old} is uv 0.5.0, which `tool.uv.required-version = '~=0.12.0'` in "
        f"{root / 'pyproject.toml'} does not allow"
    )
    assert hint.startswith("hint: point WS_UV at a uv ~=0.12.0")
    assert not (old.parent / "calls").exists(), "no uv ran"


def test_check_with_a_pin_no_uv_here_allows_is_no_out_of_date(
    tmp_path: Path, index, uv_bin: str, uv_env: dict[str, str]
) -> None:
    """A version mismatch is not a stale lock: --check names the pin, not 'out of date'."""
    root = workspace(tmp_path, index, None)
    subprocess.run([uv_bin, "lock"], cwd=root, env=uv_env, check=True, capture_output=True)
    with (root / "pyproject.toml").open("a") as f:
        f.write('\n[tool.uv]\nrequired-version = "~=0.12.0"\n')
    env = {**uv_env, "PATH": no_uv_path(tmp_path), "UV_HTTP_RETRIES": "0"}
    done = run_ws(root, env, "sync-locks", "--check")
    assert done.returncode == 1
    assert "out of date" not in done.stderr
    assert "error: no uv here is one `tool.uv.required-version = '~=0.12.0'`" in done.stderr


def test_version_is_read_from_uv(uv_bin: str) -> None:
    out = subprocess.run([uv_bin, "--version"], capture_output=True, text=True, check=True)
    assert version_of(uv_bin) == out.stdout.split()[1]
    assert os.access(uv_bin, os.X_OK)


def test_the_identity_of_a_shim_follows_the_uv_it_hands_over_to(tmp_path: Path) -> None:
    """A pyenv or asdf shim stays the same file while it hands over to another uv: the key
    of a recorded `uv lock --locked` must move with the version it answers."""
    answer = tmp_path / "version"
    shim = tmp_path / "uv"
    shim.write_text(f'#!/bin/sh\necho "uv $(cat {answer})"\n')
    shim.chmod(0o755)
    answer.write_text("0.13.9")
    before = uv.identity(str(shim))
    uv.version_of.cache_clear()
    answer.write_text("0.12.24")
    assert uv.identity(str(shim)) != before


def test_publish_command_lines() -> None:
    """Credentials never on the command line (errors repeat it); trusted publishing asked
    for exactly when wanted, never probed for (uv spends seconds on the probe)."""
    argv = uv.publish_argv("/opt/uv", "https://up/legacy/", [Path("a.whl")], trusted=False)
    assert argv[:6] == [
        "/opt/uv",
        "publish",
        "--publish-url",
        "https://up/legacy/",
        "--trusted-publishing",
        "never",
    ]
    assert argv[-1] == "a.whl"
    assert "always" in uv.publish_argv("/opt/uv", "https://up/", [], trusted=True)
    build = uv.build_dists_argv("/opt/uv", Path("/copy/pkg"), Path("/out"), "/py/bin/python")
    assert build[:6] == [
        "/opt/uv",
        "build",
        "/copy/pkg",
        "--no-sources",
        "--python",
        "/py/bin/python",
    ]
    assert "--wheel" not in build and "--sdist" not in build  # the wheel is built from the sdist
    install = uv.install_argv(
        "/opt/uv", Path("/v/bin/python"), ["core==1.0"], ["pub=https://p/"], None
    )
    assert install[-1] == "core==1.0"
    assert ["--index", "pub=https://p/"] == install[install.index("--index") :][:2]
    assert ["--refresh-package", "core"] == install[install.index("--refresh-package") :][:2]

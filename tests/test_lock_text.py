"""Root locks uv accepts but ws must read with care, through the command line with the real uv:
a table header hidden in a string, CRLF line endings, and fields of the wrong type."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tests.support.files import build_file_tree, make_workspace
from tests.support.pyindex import Package

MEMBERS = {"a": {}, "core": {"dependencies": ["alpha"]}, "svc": {"dependencies": ["core"]}}

# A member whose version a build backend computes, as setuptools-scm does: `ws list` reads
# the root lock for it.
DYNAMIC_BACKEND = """
import pathlib, zipfile

_META = "Metadata-Version: 2.1\\nName: dyn\\nVersion: 2.5.0\\n"
_WHEEL = "Wheel-Version: 1.0\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n"

def _info(directory):
    info = pathlib.Path(directory) / "dyn-2.5.0.dist-info"
    info.mkdir(parents=True, exist_ok=True)
    (info / "METADATA").write_text(_META)
    (info / "WHEEL").write_text(_WHEEL)
    return info.name

def get_requires_for_build_wheel(config_settings=None):
    return []

def prepare_metadata_for_build_wheel(directory, config_settings=None):
    return _info(directory)

def build_wheel(directory, config_settings=None, metadata_directory=None):
    name = "dyn-2.5.0-py3-none-any.whl"
    with zipfile.ZipFile(pathlib.Path(directory) / name, "w") as whl:
        for file, text in (("METADATA", _META), ("WHEEL", _WHEEL), ("RECORD", "")):
            whl.writestr(f"dyn-2.5.0.dist-info/{file}", text)
    return name

get_requires_for_build_editable = get_requires_for_build_wheel
prepare_metadata_for_build_editable = prepare_metadata_for_build_wheel
build_editable = build_wheel
"""
DYNAMIC = {
    "packages/dyn/pyproject.toml": """
        [project]
        name = "dyn"
        requires-python = ">=3.11"
        dynamic = ["version"]
        dependencies = ["core"]

        [tool.uv.sources]
        core = { workspace = true }

        [build-system]
        requires = []
        build-backend = "backend"
        backend-path = ["."]
    """,
    "packages/dyn/backend.py": DYNAMIC_BACKEND,
}


def uv(root: Path, uv_bin: str, env: dict[str, str], *args: str) -> None:
    done = subprocess.run([uv_bin, *args], cwd=root, env=env, capture_output=True, text=True)
    assert done.returncode == 0, f"uv {' '.join(args)}:\n{done.stderr}"


def ws(root: Path, uv_bin: str, env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    """The real command line, as a user runs it."""
    argv = [sys.executable, "-m", "ws", "--root", str(root), *args]
    return subprocess.run(
        argv, env={**env, "WS_UV": uv_bin}, capture_output=True, text=True, timeout=120
    )


def sources(lock: Path) -> dict[str, str]:
    packages = tomllib.loads(lock.read_text())["package"]
    return {p["name"]: next(iter(p["source"].values())) for p in packages}


@pytest.fixture
def locked(tmp_path: Path, pyindex_factory, uv_bin: str, uv_env: dict[str, str]) -> Path:
    index = pyindex_factory([Package("alpha", "1.0")])
    root = make_workspace(tmp_path / "ws", MEMBERS, index_url=index.url)
    uv(root, uv_bin, uv_env, "lock")
    return root


def smuggle(lock: str, index_url: str, wheel_url: str, sha256: str) -> str:
    """uv's lock, with alpha's header indented (TOML allows it) and an unknown key after it
    whose multi-line string holds another alpha, from another index, at column 0."""
    other = (
        "note = '''\n"
        "[[package]]\n"
        'name = "alpha"\n'
        'version = "1.0"\n'
        f'source = {{ registry = "{index_url}" }}\n'
        "wheels = [\n"
        f'    {{ url = "{wheel_url}", hash = "sha256:{sha256}" }},\n'
        "]\n"
        "x = \"'''#\"\n"  # to uv: the string ends, a comment follows
    )
    start = lock.index('[[package]]\nname = "alpha"')
    end = lock.index("[[package]]", start + 1)
    return lock[:start] + " " + lock[start:end].rstrip("\n") + "\n" + other + "\n" + lock[end:]


def test_a_header_in_a_string_cannot_put_a_package_into_a_member_lock(
    locked: Path, pyindex_factory, uv_bin: str, uv_env: dict[str, str]
) -> None:
    """uv reads the edited lock as it read the original ({a, alpha, core, svc}, alpha from
    the workspace's index); the text cut at `[` lines sees a second alpha. Today's ws paired
    that text with alpha's entry, and svc's member lock installed alpha from the other index."""
    root = locked
    lock = root / "uv.lock"
    good = sources(lock)["alpha"]
    other = pyindex_factory([Package("alpha", "1.0", requires_python=">=3")])
    wheel = other.releases("alpha")[0]
    url = f"{other.base_url}/files/{wheel.filename}"
    lock.write_text(smuggle(lock.read_text(), other.url, url, wheel.sha256))
    edited = lock.read_bytes()
    uv(root, uv_bin, uv_env, "lock", "--locked")
    uv(root, uv_bin, uv_env, "sync", "--frozen", "--all-packages")
    assert lock.read_bytes() == edited, "uv accepts the lock as it is"
    assert sources(lock) == {"a": "packages/a", "alpha": good, "core": "packages/core",
                             "svc": "packages/svc"}  # fmt: skip

    line = edited.decode().split("note = '''")[0].count("\n") + 2  # the hidden header's
    synced = ws(root, uv_bin, uv_env, "sync-locks")
    svc_lock = root / "packages/svc/uv.lock"
    assert not svc_lock.exists() or sources(svc_lock)["alpha"] == good, "wrong member lock"
    for done in (synced, ws(root, uv_bin, uv_env, "check")):
        assert done.returncode == 1, done.stdout + done.stderr
        assert "Traceback" not in done.stderr
        assert f"{lock}:{line}: this table header lies inside a multi-line" in done.stderr
        assert "hint: restore uv.lock as uv wrote it" in done.stderr
    assert not svc_lock.exists()


def inline_extras(lock: str) -> str:
    """uv's lock with core's extras written inline in its table, as TOML allows."""
    start = lock.index('[[package]]\nname = "core"')
    end = lock.index("[[package]]", start + 1)
    block = lock[start:end]
    table, metadata = block.index("[package.optional-dependencies]"), block.index("[package.")
    assert table == metadata, "the extras come first"
    source = 'source = { editable = "packages/core" }\n'
    inline = (
        'optional-dependencies = { a = [{ name = "plugin-a" }], b = [{ name = "plugin-b" }] }\n'
    )
    rest = block[block.index("[package.metadata]") :]
    return lock[:start] + block[:table].replace(source, source + inline) + rest + lock[end:]


def test_a_member_lock_is_read_back_before_it_is_written(
    tmp_path: Path, pyindex, uv_bin: str, uv_env: dict[str, str]
) -> None:
    """uv reads core's extras inline as it reads them in their own table; the text trim does
    not see them there. Today's ws kept extra b in app's lock without plugin-b, a lock uv
    refuses, and `ws check` passed: now the read-back refuses it."""
    members = {
        "core": {"optional-dependencies": {"a": ["plugin-a"], "b": ["plugin-b"]}},
        "plugin-a": {"dependencies": ["core"]},
        "plugin-b": {"dependencies": ["core", "gamma"]},
        "app": {"dependencies": ["core[a]"]},
    }
    root = make_workspace(tmp_path / "ws", members, index_url=pyindex.url)
    uv(root, uv_bin, uv_env, "lock")
    lock = root / "uv.lock"
    lock.write_text(inline_extras(lock.read_text()))
    edited = lock.read_bytes()
    uv(root, uv_bin, uv_env, "lock", "--locked")
    uv(root, uv_bin, uv_env, "sync", "--frozen", "--all-packages")
    assert lock.read_bytes() == edited, "uv accepts the lock as it is"

    synced = ws(root, uv_bin, uv_env, "sync-locks")
    app_lock = root / "packages/app/uv.lock"
    if app_lock.exists():
        packages = tomllib.loads(app_lock.read_text())["package"]
        core = next(p for p in packages if p["name"] == "core")
        assert "b" not in core.get("optional-dependencies", {}), "a lock uv refuses"
    for done in (synced, ws(root, uv_bin, uv_env, "check")):
        assert done.returncode == 1, done.stdout + done.stderr
        assert "Traceback" not in done.stderr
        assert f"error: {lock}: a member lock cut from it does not read back" in done.stderr
        assert "(package core: optional-dependencies differ)" in done.stderr
        assert "(members: app, plugin-a, plugin-b)" in done.stderr
        assert "hint: restore uv.lock as uv wrote it" in done.stderr


def crlf(data: bytes) -> bytes:
    return data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def test_a_crlf_root_lock_gives_crlf_member_locks_and_a_check_that_converges(
    locked: Path, uv_bin: str, uv_env: dict[str, str]
) -> None:
    """A checkout with `core.autocrlf` turns every text file to CRLF; uv reads such a lock and
    keeps it as it is. Member locks follow the root lock's line ending, one per file."""
    root = locked
    assert ws(root, uv_bin, uv_env, "sync-locks").returncode == 0
    member_locks = sorted(root.glob("packages/*/uv.lock"))
    lf = {p: p.read_bytes() for p in member_locks}
    lock = root / "uv.lock"
    lock.write_bytes(crlf(lock.read_bytes()))
    uv(root, uv_bin, uv_env, "lock", "--locked")
    assert b"\r\n" in lock.read_bytes(), "uv keeps a CRLF lock as it is"

    done = ws(root, uv_bin, uv_env, "sync-locks")
    assert done.returncode == 0, done.stderr
    for path in member_locks:
        assert path.read_bytes() == crlf(lf[path]), path
    for command in (["sync-locks", "--check"], ["check"]):
        done = ws(root, uv_bin, uv_env, *command)
        assert done.returncode == 0, done.stdout + done.stderr

    # A member lock whose line endings differ from the root lock's is stale; a sync mends it.
    core = root / "packages/core/uv.lock"
    core.write_bytes(lf[core])
    done = ws(root, uv_bin, uv_env, "sync-locks", "--check")
    assert done.returncode == 1 and "packages/core/uv.lock: out of date" in done.stderr
    assert ws(root, uv_bin, uv_env, "sync-locks").returncode == 0
    assert core.read_bytes() == crlf(lf[core])
    assert ws(root, uv_bin, uv_env, "sync-locks", "--check").returncode == 0


def manifest_5(lock: bytes) -> bytes:
    start, end = lock.index(b"[manifest]"), lock.index(b"[[package]]")
    return lock[:start] + b"manifest = 5\n\n" + lock[end:]


def package_5(lock: bytes) -> bytes:
    start, end = lock.index(b"[manifest]"), lock.index(b"[[package]]")
    return lock[:start] + b"package = 5\n\n" + lock[start:end]


def source_list(lock: bytes) -> bytes:
    old = b'source = { editable = "packages/core" }'
    assert old in lock
    return lock.replace(old, b"source = [1]")


def not_utf8(lock: bytes) -> bytes:
    return lock.replace(b'name = "svc"', b'name = "sv\xffc"')


BAD_LOCKS = {
    "manifest = 5": (manifest_5, "`manifest` must be a table"),
    "package = 5": (package_5, "`package` must be [[package]] tables"),
    "source = [1]": (source_list, "`source` of package core must be a table"),
    "not UTF-8": (not_utf8, "not UTF-8 text"),
}


@pytest.mark.parametrize("dynamic", [False, True], ids=["static", "dynamic-version"])
@pytest.mark.parametrize("case", list(BAD_LOCKS))
def test_a_lock_field_of_the_wrong_kind_is_one_clear_error(
    tmp_path: Path, pyindex, uv_bin: str, uv_env: dict[str, str], case: str, dynamic: bool
) -> None:
    """uv refuses each of these locks; ws says which file, which field and what to do, never
    a traceback. With a dynamic version even `ws list` reads the lock."""
    root = make_workspace(tmp_path / "ws", MEMBERS, index_url=pyindex.url)
    if dynamic:
        build_file_tree(root, DYNAMIC)
    uv(root, uv_bin, uv_env, "lock")
    lock = root / "uv.lock"
    edit, problem = BAD_LOCKS[case]
    lock.write_bytes(edit(lock.read_bytes()))
    commands = [["sync-locks", "--check"], ["check"]] + ([["list"]] if dynamic else [])
    for command in commands:
        done = ws(root, uv_bin, uv_env, *command)
        assert done.returncode == 1, (command, done.stdout, done.stderr)
        assert "Traceback" not in done.stderr, (command, done.stderr)
        assert f"error: {lock}:" in done.stderr and problem in done.stderr, (command, done.stderr)
        assert "hint: restore uv.lock as uv wrote it" in done.stderr, (command, done.stderr)

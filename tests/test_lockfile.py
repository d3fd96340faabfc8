"""Deriving a member lock from a root lock: what is kept, what is trimmed, and bad locks."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from ws.errors import ConfigError, LockError
from ws.lockfile import member_lock, members_of, parse_lock

REG = 'source = { registry = "http://127.0.0.1/simple" }'
# A plugin shape with a fork: core offers plugin-a and plugin-b as extras, both plugins need
# core, app asks for core[a]; numpy is locked twice (two Python ranges), and only plugin-b
# reaches it. core has a dev group; the root has groups of its own.
ROOT_LOCK = f"""version = 1
revision = 3
requires-python = ">=3.10"
resolution-markers = [
    "python_full_version >= '3.12'",
    "python_full_version < '3.12'",
]

[manifest]
members = [
    "app",
    "core",
    "plugin-a",
    "plugin-b",
]

[manifest.dependency-groups]
lint = [{{ name = "ruff" }}]

[[package]]
name = "app"
version = "1.0"
source = {{ editable = "packages/app" }}
dependencies = [
    {{ name = "core", extra = ["a"] }},
]

[[package]]
name = "core"
version = "1.0"
source = {{ editable = "packages/core" }}
dependencies = [
    {{ name = "six" }},
]

[package.optional-dependencies]
a = [
    {{ name = "plugin-a" }},
]
b = [
    {{ name = "plugin-b" }},
]

[package.dev-dependencies]
dev = [
    {{ name = "ruff" }},
]

[package.metadata]
requires-dist = [{{ name = "six" }}]
provides-extras = ["a", "b"]

[[package]]
name = "numpy"
version = "1.26.4"
{REG}
resolution-markers = [
    "python_full_version < '3.12'",
]

[[package]]
name = "numpy"
version = "2.1.0"
{REG}
resolution-markers = [
    "python_full_version >= '3.12'",
]

[[package]]
name = "plugin-a"
version = "1.0"
source = {{ editable = "packages/plugin-a" }}
dependencies = [
    {{ name = "core" }},
]

[[package]]
name = "plugin-b"
version = "1.0"
source = {{ editable = "packages/plugin-b" }}
dependencies = [
    {{ name = "core" }},
    {{ name = "numpy", version = "1.26.4", {REG}, marker = "python_full_version < '3.12'" }},
    {{ name = "numpy", version = "2.1.0", {REG}, marker = "python_full_version >= '3.12'" }},
]

[[package]]
name = "ruff"
version = "0.8.0"
{REG}

[[package]]
name = "six"
version = "1.16.0"
{REG}
"""


@pytest.fixture
def lock():
    return parse_lock(ROOT_LOCK, Path("uv.lock"))


def names(data: bytes) -> list[tuple[str, str]]:
    return [(p["name"], p["version"]) for p in tomllib.loads(data.decode())["package"]]


def test_a_member_gets_what_it_installs_and_only_the_extras_it_asks(lock) -> None:
    app = member_lock(lock, "app")
    assert names(app) == [("app", "1.0"), ("core", "1.0"), ("plugin-a", "1.0"), ("six", "1.16.0")]
    text = app.decode()
    # core's extra b names plugin-b, which app never installs: uv would refuse the file
    assert "b = [" not in text and "a = [" in text
    # core is not the target: its group goes, its metadata stays the root lock's bytes
    assert "[package.dev-dependencies]" not in text
    assert 'provides-extras = ["a", "b"]' in text
    assert 'members = [\n    "app",\n    "core",\n    "plugin-a",\n]' in text
    assert "[manifest.dependency-groups]" not in text  # the root's groups are not app's
    assert text.startswith(ROOT_LOCK[: ROOT_LOCK.index("[manifest]")])


def test_a_member_keeps_its_own_extras_groups_and_every_fork(lock) -> None:
    core = member_lock(lock, "core")
    assert ("ruff", "0.8.0") in names(core)
    assert ("numpy", "1.26.4") in names(core) and ("numpy", "2.1.0") in names(core)
    assert "[package.dev-dependencies]\ndev = [" in core.decode()
    assert members_of(lock, "core") == {"core", "plugin-a", "plugin-b"}
    assert members_of(lock, "plugin-a") == {"plugin-a", "core"}


def test_kept_entries_are_the_root_locks_bytes(lock) -> None:
    plugin_b = member_lock(lock, "plugin-b").decode()
    start = ROOT_LOCK.index('[[package]]\nname = "plugin-b"')
    entry = ROOT_LOCK[start : ROOT_LOCK.index("[[package]]", start + 1)]
    assert entry in plugin_b
    assert plugin_b.endswith('name = "six"\nversion = "1.16.0"\n' + REG + "\n")


def test_a_dependency_the_lock_lacks_is_one_clear_error(lock) -> None:
    broken = parse_lock(
        ROOT_LOCK.replace('name = "six"\nversion', 'name = "seven"\nversion'), Path("uv.lock")
    )
    with pytest.raises(LockError) as err:
        member_lock(broken, "app")
    assert "core 1.0 needs six, which the lock has no entry for" in str(err.value)
    assert "fix: re-lock the workspace" in str(err.value)
    with pytest.raises(LockError, match="no entry for workspace member ghost"):
        member_lock(lock, "ghost")


def test_an_unreadable_lock_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="uv.lock: unreadable lock"):
        parse_lock("version = \n", tmp_path / "uv.lock")

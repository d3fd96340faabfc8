"""Deriving a member lock from a root lock: what is kept, what is trimmed, and bad locks."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from ws.errors import ConfigError, LockError
from ws.workspace.lockfile import parse_lock
from ws.workspace.member_lock import member_lock

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


def manifest_members(data: bytes) -> list[str]:
    return tomllib.loads(data.decode())["manifest"]["members"]


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
    assert manifest_members(core) == ["core", "plugin-a", "plugin-b"]
    assert manifest_members(member_lock(lock, "plugin-a")) == ["core", "plugin-a"]


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
    with pytest.raises(ConfigError, match="uv.lock:1:11: unreadable lock: Invalid value"):
        parse_lock("version = \n", tmp_path / "uv.lock")


def test_a_crlf_lock_gives_crlf_member_locks_and_a_mixed_one_lf() -> None:
    """A checkout may turn every line to CRLF: member locks follow the root's line ending,
    one per file; a lock of mixed endings is read by its first line."""
    lf = member_lock(parse_lock(ROOT_LOCK, Path("uv.lock")), "app")
    crlf = parse_lock(ROOT_LOCK.replace("\n", "\r\n"), Path("uv.lock"))
    assert member_lock(crlf, "app") == lf.replace(b"\n", b"\r\n")
    first, rest = ROOT_LOCK.split("\n", 1)
    mixed = parse_lock(first + "\n" + rest.replace("\n", "\r\n"), Path("uv.lock"))
    assert member_lock(mixed, "app") == lf


APP_SOURCE = 'source = { editable = "packages/app" }\n'
BAD_FIELDS = [
    ('members = [\n    "app",', 'members = "app"\nx = [', "`manifest.members` must be an array"),
    ('"six"\nversion = "1.16.0"', '"six"\nversion = 1.16', "uv.lock:92: `version` of package six"),
    ('name = "app"\n', "", "uv.lock:20: `name` of a [[package]] is missing"),
    ('{ name = "six" },\n]', '"six",\n]', "`dependencies[0]` of package core must be a table"),
    ('extra = ["a"]', 'extra = "a"', "`dependencies[0].extra` of package app must be an array"),
    ("a = [\n    { name", "a = 1\nz = [\n    { name", "`optional-dependencies.a` of package core"),
    ("dev = [\n    { name", "dev = 5\nz = [\n    { name", "`dev-dependencies.dev` of package core"),
    (
        APP_SOURCE,
        APP_SOURCE + "dev-dependencies = 5\n",
        "`dev-dependencies` of package app must be",
    ),
    (REG + "\nresolution-markers", "source = { registry = 5 }\nresolution-markers", "`source` of"),
]


@pytest.mark.parametrize(("old", "new", "problem"), BAD_FIELDS)
def test_a_field_of_the_wrong_kind_names_the_field_and_its_line(old, new, problem) -> None:
    text = ROOT_LOCK.replace(old, new, 1)
    assert text != ROOT_LOCK
    with pytest.raises(ConfigError) as err:
        parse_lock(text, Path("uv.lock"))
    assert problem in str(err.value)
    assert "fix: restore uv.lock as uv wrote it" in str(err.value)


CORE = 'source = { editable = "packages/core" }\n'
B_ITEMS = '    { name = "plugin-b" },\n]\n\n[package.dev'
# Two layouts TOML allows and uv reads, which the text trim does not expect: core's extras
# inline in its table, and an array's items at column 0.
INLINE_EXTRAS = (
    ROOT_LOCK.replace("[package.optional-dependencies]", "[package.x]").replace(
        CORE,
        CORE
        + 'optional-dependencies = { a = [{ name = "plugin-a" }], b = [{ name = "plugin-b" }] }\n',
    ),
    "package core: optional-dependencies differ",
)
ITEMS_AT_COLUMN_0 = (
    ROOT_LOCK.replace(B_ITEMS, B_ITEMS.lstrip()),
    "app's member lock:36:1: unreadable",
)


@pytest.mark.parametrize(("text", "why"), [INLINE_EXTRAS, ITEMS_AT_COLUMN_0])
def test_a_member_lock_that_does_not_read_back_as_meant_is_refused(text, why) -> None:
    """Today's text trim assumes uv's layout; any other layout that would give a member lock
    other than its part of the root lock is one LockError naming the root lock."""
    assert text != ROOT_LOCK
    lock = parse_lock(text, Path("uv.lock"))
    with pytest.raises(LockError) as err:
        member_lock(lock, "app")
    message = str(err.value)
    assert message.startswith("uv.lock: a member lock cut from it does not read back")
    assert why in message and "fix: restore uv.lock as uv wrote it" in message


APP = 'source = { editable = "packages/app" }\n'
LAYOUTS = [
    (
        ROOT_LOCK.replace(APP, APP + "note = '''\n[[package]]\nname = \"evil\"\n'''\n"),
        "uv.lock:25: this table header lies inside a multi-line value",
    ),
    (ROOT_LOCK + '\n[manifest]\nx = "y"\n', "uv.lock:92: not laid out as uv writes a lock"),
    (ROOT_LOCK.replace(APP, APP + "x = [\n"), "uv.lock:25:1: unreadable lock: "),
]


@pytest.mark.parametrize(("text", "problem"), LAYOUTS)
def test_a_lock_ws_cannot_cut_as_uv_reads_it_is_refused(text: str, problem: str) -> None:
    """The lock is cut before each `[[package]]` line and each part parsed on its own; a cut
    the whole file's parser would not make is refused at its line, never followed."""
    with pytest.raises(ConfigError) as err:
        parse_lock(text, Path("uv.lock"))
    assert problem in str(err.value)
    assert "fix: restore uv.lock as uv wrote it" in str(err.value)


def test_a_name_shared_by_many_entries_is_indexed_in_one_pass() -> None:
    """30,000 entries of one name took 3.6 s to index, copying a growing tuple per entry.
    Structural guard: each name's entries are appended to one list, then frozen once, so
    the index holds each entry once, in the lock's order (timing stays in benchmarks)."""
    head = 'version = 1\nrevision = 3\nrequires-python = ">=3.11"\n\n'
    entry = '[[package]]\nname = "x"\nversion = "{i}"\n' + REG + "\n\n"
    text = head + "".join(entry.replace("{i}", str(i)) for i in range(5000))
    lock = parse_lock(text, Path("uv.lock"))
    shared = lock.by_name("x")
    assert [e.version for e in shared] == [str(i) for i in range(5000)]
    assert shared == lock.entries and all(a is b for a, b in zip(shared, lock.entries, strict=True))


def test_a_metadata_header_in_a_string_or_twice_is_refused() -> None:
    """An entry's metadata is parsed apart from the rest of the entry: a `[package.metadata]`
    line inside a string is refused at its line, and metadata the entry's first part already
    defines is not laid out as uv writes a lock."""
    in_string = ROOT_LOCK.replace(APP, APP + "note = '''\n[package.metadata]\nx = 1\n'''\n")
    with pytest.raises(ConfigError, match="uv.lock:25: this table header lies inside"):
        parse_lock(in_string, Path("uv.lock"))
    twice = ROOT_LOCK.replace('source = { editable = "packages/core" }\n', CORE + "metadata = 1\n")
    with pytest.raises(ConfigError, match="uv.lock:28: not laid out as uv writes a lock"):
        parse_lock(twice, Path("uv.lock"))


def _without_files(package: dict) -> dict:
    return {k: v for k, v in package.items() if k not in ("sdist", "wheels")}


def test_leaving_the_files_lines_unparsed_changes_no_other_key() -> None:
    """The files lines of uv's form are not parsed (they are most of a lock): on this
    repository's own lock, every entry reads as tomllib reads the whole file, files aside."""
    path = Path(__file__).parents[1] / "uv.lock"
    text = path.read_text()
    whole = tomllib.loads(text)["package"]
    lock = parse_lock(text, path)
    assert len(lock.entries) == len(whole) > 40
    for entry, package in zip(lock.entries, whole, strict=True):
        assert dict(entry.data) == _without_files(package)


def test_files_lines_not_of_uvs_form_are_parsed() -> None:
    """A wheel URL with an escape, or a multi-line string, is not of the inert form: the
    lines are parsed as any other, and what they say is kept."""
    text = ROOT_LOCK.replace(
        REG + "\n",
        REG + '\nwheels = [\n    { url = "https://x/a\\u0041.whl", note = """\n]\n""" },\n]\n',
        1,
    )
    lock = parse_lock(text, Path("uv.lock"))
    assert any(
        "wheels" in e.data and e.data["wheels"][0]["url"].endswith("aA.whl") for e in lock.entries
    )

"""Real uv workspace shapes: ws reads each as uv does, and its member locks follow uv's root lock.

Each fixture reproduces one shape met in public uv workspaces. For every shape: the members
and edges ws reads equal uv's (`uv workspace list`, the root uv.lock); `ws sync-locks` leaves a
current root lock byte-unchanged; every member lock's entries are the root lock's; uv exports
from a member lock, in a workspace holding only the member's closure, exactly what it exports
for that member from the root lock; a second run writes nothing; `--check` passes.
"""

from __future__ import annotations

import textwrap
import tomllib
from collections.abc import Callable
from pathlib import Path

import pytest
from ws.docker.generate.root_pyproject import isolated_root_pyproject
from ws.locks.sync import LockOptions, check_locks, member_lock_path, sync_locks
from ws.workspace.graph import build_graph, closure
from ws.workspace.members import load_workspace

from tests.support.files import UV_BUILD_REQUIRES, build_file_tree, make_workspace, toml_str
from tests.support.gitrepo import init_repo
from tests.support.uvview import (
    check_member_lock,
    export_args,
    exported_from_member_lock,
    uv,
    uv_edges,
    uv_members,
)
from tests.support.wheels import write_wheel

BUILD = f'[build-system]\nrequires = ["{UV_BUILD_REQUIRES}"]\nbuild-backend = "uv_build"\n'


def root_project(root: Path, url: str, *, package: bool = True) -> None:
    """A root that is itself a project, depending on a member; its dev group installs it
    with one of its own extras (a self-reference uv and pip accept)."""
    make_workspace(root, {"core": {"dependencies": ["alpha"]}, "cli": {}}, index_url=url)
    extra = f"""
        [project]
        name = "app"
        version = "1.0"
        requires-python = ">=3.11"
        dependencies = ["core", "beta"]

        [project.optional-dependencies]
        fast = ["delta"]

        [dependency-groups]
        dev = ["app[fast]", "devtool"]

        [tool.uv.sources]
        core = {{ workspace = true }}
        {"" if package else chr(10) + "[tool.uv]" + chr(10) + "package = false"}
    """
    with (root / "pyproject.toml").open("a") as f:
        f.write(textwrap.dedent(extra) + ("\n" + BUILD if package else ""))
    if package:
        build_file_tree(root, {"src/app/__init__.py": ""})


def plugins(root: Path, url: str) -> None:
    """A core offering each plugin as an extra, plugins depending on the core, an app asking
    for one plugin through the core's extra: cycles through extras."""
    make_workspace(
        root,
        {
            "core": {
                "dependencies": ["alpha"],
                "optional-dependencies": {"a": ["plugin-a"], "b": ["plugin-b"]},
            },
            "plugin-a": {"dependencies": ["core", "epsilon"]},
            "plugin-b": {"dependencies": ["core", "delta"]},
            "app": {"dependencies": ["core[a]"], "dependency-groups": {"dev": ["devtool"]}},
        },
        index_url=url,
    )


DYNAMIC_BACKEND = '''
"""A build backend computing a member's version (git tags) and dependencies (a file outside
the member), as hatch metadata hooks and setuptools-scm do."""
import pathlib, subprocess, zipfile

_WHEEL = "Wheel-Version: 1.0\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n"

def _version():
    tag = ["git", "describe", "--tags", "--abbrev=0"]
    out = subprocess.run(tag, capture_output=True, text=True)
    return out.stdout.strip().lstrip("v") if out.returncode == 0 else "0.0.0"

def _metadata():
    deps = pathlib.Path("../../shared/deps.txt").read_text().split()
    lines = ["Metadata-Version: 2.1", "Name: dyn", f"Version: {_version()}"]
    return "\\n".join(lines + [f"Requires-Dist: {d}" for d in deps]) + "\\n"

def _dist_info(directory):
    info = pathlib.Path(directory) / f"dyn-{_version()}.dist-info"
    info.mkdir(parents=True, exist_ok=True)
    (info / "METADATA").write_text(_metadata())
    (info / "WHEEL").write_text(_WHEEL)
    return info.name

def get_requires_for_build_wheel(config_settings=None):
    return []

def prepare_metadata_for_build_wheel(directory, config_settings=None):
    return _dist_info(directory)

def build_wheel(directory, config_settings=None, metadata_directory=None):
    name = f"dyn-{_version()}-py3-none-any.whl"
    with zipfile.ZipFile(pathlib.Path(directory) / name, "w") as whl:
        info = f"dyn-{_version()}.dist-info"
        whl.writestr(f"{info}/METADATA", _metadata())
        whl.writestr(f"{info}/WHEEL", _WHEEL)
        whl.writestr(f"{info}/RECORD", "")
    return name

get_requires_for_build_editable = get_requires_for_build_wheel
prepare_metadata_for_build_editable = prepare_metadata_for_build_wheel
build_editable = build_wheel
'''


def dyn_member(root: Path) -> None:
    """packages/dyn: its dependencies (core and gamma) read by a backend hook from a file
    outside it, its version from a git tag."""
    build_file_tree(
        root,
        {
            "shared/deps.txt": "core\ngamma\n",
            "packages/dyn/pyproject.toml": """
                [project]
                name = "dyn"
                requires-python = ">=3.11"
                dynamic = ["version", "dependencies"]

                [tool.uv.sources]
                core = { workspace = true }

                [build-system]
                requires = []
                build-backend = "dynback"
                backend-path = ["."]
            """,
            "packages/dyn/dynback.py": DYNAMIC_BACKEND,
        },
    )


def dynamic(root: Path, url: str) -> None:
    """A member whose dependencies a backend hook reads from a file outside it, and whose
    version comes from a git tag."""
    make_workspace(root, {"core": {"dependencies": ["alpha"]}}, index_url=url)
    dyn_member(root)
    repo = init_repo(root)
    repo.commit_all("dynamic")
    repo.git("tag", "v2.5.0")


DEFAULT_GROUPS = '[dependency-groups]\nlint = ["devtool"]\n\n[tool.uv]\ndefault-groups = ["lint"]\n'


def default_groups(root: Path, url: str) -> None:
    """Root groups and default-groups naming them: no member image may inherit either."""
    make_workspace(
        root,
        {"core": {"dependencies": ["alpha"]}, "svc": {"dependencies": ["core"]}},
        index_url=url,
        root_extra=DEFAULT_GROUPS,
    )


def wide_python(root: Path, url: str) -> None:
    """A member whose requires-python is wider than the workspace's."""
    make_workspace(
        root,
        {
            "core": {"dependencies": ["future"], "requires-python": ">=3.8"},
            "svc": {"dependencies": ["core", "alpha"]},
        },
        index_url=url,
    )


def discovery(root: Path, url: str) -> None:
    """The five places where uv's discovery differed from ws's: a `managed = false` project,
    a folder holding only ignored files, legacy dev-dependencies, an unused workspace source,
    an exclude written with `./`."""
    make_workspace(
        root,
        {
            "core": {"dependencies": ["alpha"]},
            "svc": {"dependencies": ["beta"], "extra": LEGACY_DEV},
            "unmanaged": {"extra": "[tool.uv]\nmanaged = false"},
            "skipped": {},
        },
        index_url=url,
        root_extra="[tool.uv.sources]\nnowhere = { workspace = true }\n",
    )
    text = (
        (root / "pyproject.toml")
        .read_text()
        .replace(
            'members = ["packages/*"]', 'members = ["packages/*"]\nexclude = ["./packages/skipped"]'
        )
    )
    (root / "pyproject.toml").write_text(text)
    build_file_tree(root, {".gitignore": "__pycache__/\n", "packages/ghost/__pycache__/x.pyc": ""})
    init_repo(root).commit_all("discovery")


LEGACY_DEV = """
[tool.uv]
dev-dependencies = ["core", "devtool"]

[tool.uv.sources]
core = { workspace = true }
"""


def git_source(root: Path, url: str) -> None:
    """A member taking a package from a git repository."""
    upstream = root.parent / "upstream"
    repo = init_repo(
        upstream,
        {
            "pyproject.toml": f'[project]\nname = "vendored"\nversion = "3.0"\n'
            f'requires-python = ">=3.11"\ndependencies = ["alpha"]\n\n{BUILD}',
            "src/vendored/__init__.py": "",
        },
    )
    make_workspace(
        root,
        {
            "svc": {
                "dependencies": ["vendored"],
                "extra": f"[tool.uv.sources]\nvendored = {{ git = {toml_str(upstream.as_uri())} }}",
            }
        },
        index_url=url,
    )
    assert repo.head()


SHAPES: dict[str, Callable[[Path, str], None]] = {
    "root-project": root_project,
    "virtual-root-project": lambda root, url: root_project(root, url, package=False),
    "plugins": plugins,
    "dynamic": dynamic,
    "default-groups": default_groups,
    "wide-python": wide_python,
    "discovery": discovery,
    "git-source": git_source,
}


@pytest.fixture
def opts(uv_bin: str, uv_env: dict[str, str]) -> LockOptions:
    return LockOptions(uv=uv_bin, env=uv_env, wait=5)


def snapshot(root: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in sorted(root.rglob("*.lock")) if ".venv" not in p.parts}


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_ws_reads_and_locks_the_shape_as_uv_does(
    shape: str, tmp_path: Path, pyindex, opts: LockOptions
) -> None:
    root = tmp_path / "ws"
    SHAPES[shape](root, pyindex.url)
    uv(root, opts.uv, opts.env, "lock")
    ws = load_workspace(root)
    graph = build_graph(ws)
    assert set(ws.members) == uv_members(root, opts.uv, opts.env)
    assert set(graph.edges) == uv_edges(root)

    root_lock = (root / "uv.lock").read_bytes()
    lock = load_workspace(root).lock.parsed()
    report = sync_locks(ws, None, opts)
    assert (root / "uv.lock").read_bytes() == root_lock, "a current root lock is left alone"
    assert report.root in ("fresh", "unchanged")
    for name in ws.members:
        path = member_lock_path(ws, name)
        assert path != root / "uv.lock"
        check_member_lock(root / "uv.lock", path, name)
        names = closure(graph, name)
        kept = {p["name"] for p in tomllib.loads(path.read_text())["package"]}
        assert kept & set(lock.members) == names, "ws's closure is the lock's"
        pyprojects = {str(ws.members[n].rel): ws.members[n].pyproject for n in names}
        if "." not in pyprojects:  # a closure holding the root project exports from the root
            mine = exported_from_member_lock(
                root, pyprojects, isolated_root_pyproject(ws, names), path, name,
                opts.uv, opts.env, tmp_path / f"export-{name}",
            )  # fmt: skip
            assert mine == uv(root, opts.uv, opts.env, *export_args(name)), name

    before = snapshot(root)
    again = sync_locks(load_workspace(root), None, opts)
    assert set(again.members.values()) == {"unchanged"}
    assert snapshot(root) == before
    check_locks(ws, None, opts)


def test_a_root_project_gets_its_own_member_lock(tmp_path: Path, pyindex, opts) -> None:
    root = tmp_path / "ws"
    root_project(root, pyindex.url)
    ws = load_workspace(root)
    sync_locks(ws, None, opts)
    assert member_lock_path(ws, "app") == root / "uv.member.lock"
    text = (root / "uv.member.lock").read_text()
    assert 'name = "core"' in text and 'name = "cli"' not in text


def test_dynamic_edges_and_versions_come_from_uv(tmp_path: Path, pyindex, opts) -> None:
    root = tmp_path / "ws"
    dynamic(root, pyindex.url)
    uv(root, opts.uv, opts.env, "lock")
    ws = load_workspace(root)
    assert [d.name for d in ws.members["dyn"].dependencies] == ["core"]
    assert closure(build_graph(ws), "dyn") == {"dyn", "core"}


def test_discovery_agrees_with_uv(tmp_path: Path, pyindex) -> None:
    root = tmp_path / "ws"
    discovery(root, pyindex.url)
    ws = load_workspace(root)
    assert sorted(ws.members) == ["core", "svc"]
    assert [(d.name, d.kind, d.group) for d in ws.members["svc"].dependencies] == [
        ("core", "group", "dev")
    ]


def test_a_bump_in_one_plugin_moves_only_the_locks_that_install_it(
    tmp_path: Path, pyindex_factory, opts
) -> None:
    index = pyindex_factory()
    root = tmp_path / "ws"
    plugins(root, index.url)
    ws = load_workspace(root)
    sync_locks(ws, None, opts)
    repo = init_repo(root)
    repo.commit_all("locked")
    index.add("epsilon", "1.1")
    text = (root / "packages/plugin-a/pyproject.toml").read_text()
    (root / "packages/plugin-a/pyproject.toml").write_text(
        text.replace('"epsilon"', '"epsilon>=1.1"')
    )
    ws = load_workspace(root)
    with pytest.raises(Exception, match="plugin-a/uv.lock|uv.lock: out of date"):
        check_locks(ws, None, opts)
    sync_locks(ws, None, opts)
    changed = set(repo.git("diff", "--name-only").splitlines())
    # plugin-a, the core (its extra a installs plugin-a) and the app (core[a]); not plugin-b
    assert changed == {
        "packages/plugin-a/pyproject.toml",
        "uv.lock",
        "packages/plugin-a/uv.lock",
        "packages/core/uv.lock",
        "packages/app/uv.lock",
    }
    check_locks(ws, None, opts)


WHEEL = "extra-1.0-py3-none-any.whl"


def test_a_vendored_wheel_path_source_is_kept(tmp_path: Path, pyindex, opts) -> None:
    root = tmp_path / "ws"
    make_workspace(
        root,
        {
            "svc": {
                "dependencies": ["extra"],
                "extra": f'[tool.uv.sources]\nextra = {{ path = "../../vendor/{WHEEL}" }}',
            }
        },
        index_url=pyindex.url,
    )
    write_wheel(root / "vendor", "extra", "1.0")
    ws = load_workspace(root)
    sync_locks(ws, None, opts)
    assert 'name = "extra"' in (root / "packages/svc/uv.lock").read_text()


def test_dynamic_edges_without_a_root_lock_are_a_warning(tmp_path: Path, pyindex) -> None:
    root = tmp_path / "ws"
    dynamic(root, pyindex.url)
    ws = load_workspace(root)
    assert ws.members["dyn"].dependencies == ()
    assert any("its dependencies are dynamic" in w and "ws sync-locks" in w for w in ws.warnings)

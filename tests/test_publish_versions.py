"""Release versions from git tags (`<member>-v<version>`): the tag's version on the tagged
commit, X.Y.(Z+1).devN after it with N counting commits over the member and the workspace
dependencies it requires; and a run publishing those versions with pins to match."""

from __future__ import annotations

from pathlib import Path

import pytest
from packaging.version import Version
from ws.errors import ConfigError
from ws.publish.plan import plan_publish
from ws.publish.versions import next_dev, release_versions, tag_version
from ws.workspace.members import load_workspace

from tests.support.gitrepo import GitRepo
from tests.support.publishing import (
    MID_EXTRA,
    libraries,
    make_repo,
    publish_env,
    report,
    requires,
    wheel_metadata,
    ws_publish,
)
from tests.support.pyindex import LocalIndex
from tests.support.pypiserver import PyPIServer, pypiserver

__all__ = ["pypiserver"]  # a fixture: imported for pytest to find

GIT = '\n[tool.ws.publish]\nversion = "git"\n'


@pytest.fixture
def repo(tmp_path: Path, pyindex: LocalIndex, pypiserver: PyPIServer) -> GitRepo:
    files = libraries(base=GIT, mid=MID_EXTRA + "\n" + GIT, top=GIT)
    return make_repo(tmp_path / "ws", pyindex.url, pypiserver, files)


def versions(repo: GitRepo) -> dict[str, str]:
    ws = load_workspace(repo.path)
    return release_versions(ws, plan_publish(ws, None))


def tag_all(repo: GitRepo, version: str) -> None:
    for name in ("base", "mid", "top"):
        repo.git("tag", f"{name}-v{version}")


def test_no_tag_yet_counts_every_commit(repo: GitRepo) -> None:
    repo.commit_files({"packages/top/src/top/extra.py": "X = 2\n"})
    assert versions(repo) == {"base": "0.0.1.dev1", "mid": "0.0.1.dev1", "top": "0.0.1.dev2"}


def test_the_tagged_commit_is_the_tags_version(repo: GitRepo) -> None:
    tag_all(repo, "1.2.0")
    assert versions(repo) == {"base": "1.2.0", "mid": "1.2.0", "top": "1.2.0"}


def test_a_change_bumps_the_member_and_every_member_requiring_it(repo: GitRepo) -> None:
    tag_all(repo, "1.2.0")
    repo.commit_files({"packages/base/src/base/__init__.py": 'NAME = "base, changed"\n'})
    assert versions(repo) == {"base": "1.2.1.dev1", "mid": "1.2.1.dev1", "top": "1.2.1.dev1"}
    repo.commit_files({"packages/top/README.md": "# top\n\nChanged.\n"})
    assert versions(repo) == {"base": "1.2.1.dev1", "mid": "1.2.1.dev1", "top": "1.2.1.dev2"}
    repo.commit_files({"docs/notes.md": "outside every member\n"})
    assert versions(repo) == {"base": "1.2.1.dev1", "mid": "1.2.1.dev1", "top": "1.2.1.dev2"}


def test_the_newest_tag_counts_and_other_members_tags_do_not(repo: GitRepo) -> None:
    repo.git("tag", "base-v1.0.0")
    repo.git("tag", "mid-v7.0.0")
    repo.commit_files({"packages/base/README.md": "# base\n\nNew.\n"})
    repo.git("tag", "base-v1.1.0")
    repo.git("tag", "basement-v9.0.0")  # another member's prefix, not base's
    found = versions(repo)
    assert found["base"] == "1.1.0"
    assert found["mid"] == "7.0.1.dev1"  # base changed after mid's tag


def test_a_local_version_tag_is_refused(repo: GitRepo) -> None:
    repo.git("tag", "base-v1.0.0+abc123")
    with pytest.raises(ConfigError, match="local version"):
        versions(repo)


@pytest.mark.parametrize(
    ("pattern", "tag", "expected"),
    [
        ("{name}-v{version}", "core-v1.2.3", Version("1.2.3")),
        ("{name}-v{version}", "core-1.2.3", None),
        ("v{version}", "v2.0.0rc1", Version("2.0.0rc1")),
        ("{name}@{version}", "core@1.0", Version("1.0")),
        ("{name}-v{version}", "core-vnot-a-version", None),
    ],
)
def test_tag_patterns(pattern: str, tag: str, expected: Version | None) -> None:
    assert tag_version(pattern, "core", tag) == expected


def test_publish_dev_versions_with_matching_pins(
    repo: GitRepo, pypiserver: PyPIServer, tmp_path: Path
) -> None:
    tag_all(repo, "1.0.0")
    repo.commit_files({"packages/mid/README.md": "# mid\n\nChanged.\n"})
    env = publish_env(tmp_path / "uv")
    data = report(ws_publish(repo.path, env, "--json"))
    assert {m["name"]: m["version"] for m in data["members"]} == {
        "base": "1.0.0",
        "mid": "1.0.1.dev1",
        "top": "1.0.1.dev1",
    }
    assert data["smoke"] == "passed"  # an exact pin on a dev release installs
    top = wheel_metadata(pypiserver.folder / "top-1.0.1.dev1-py3-none-any.whl")
    assert requires(top) == ["base==1.0.0", "mid==1.0.1.dev1"]
    assert repo.git("status", "--porcelain") == ""  # the version went into the copy only


@pytest.mark.parametrize(
    ("base", "expected"),
    [
        ("1.2.3", "1.2.4.dev5"),
        ("2", "2.0.1.dev5"),
        ("1.0.0rc1", "1.0.0rc2.dev5"),
        ("3.1", "3.1.1.dev5"),
    ],
)
def test_the_next_development_release(base: str, expected: str) -> None:
    assert next_dev(Version(base), 5) == expected

"""The workspace lock and .ws/: real folders and files only, one clear error otherwise."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from ws.errors import Busy, WsError
from ws.mutex import workspace_lock
from ws.state import IGNORE_TEXT, read_digests, state_dir, write_digests

from tests.support.mounts import fill, make_read_only, tmpfs


def test_state_dir_is_made_with_its_gitignore(tmp_path: Path) -> None:
    path = state_dir(tmp_path)
    assert path == tmp_path / ".ws"
    assert (path / ".gitignore").read_text() == IGNORE_TEXT


def test_an_empty_gitignore_is_written_again(tmp_path: Path) -> None:
    (tmp_path / ".ws").mkdir()
    (tmp_path / ".ws/.gitignore").write_text("")  # what a full disk left
    state_dir(tmp_path)
    assert (tmp_path / ".ws/.gitignore").read_text() == IGNORE_TEXT


def test_digests_round_trip_and_a_bad_map_reads_as_empty(tmp_path: Path) -> None:
    write_digests(tmp_path, "locks.json", {"svc": "abc"})
    assert read_digests(tmp_path, "locks.json") == {"svc": "abc"}
    (tmp_path / ".ws/locks.json").write_text("{not json")  # what a crash of another tool left
    assert read_digests(tmp_path, "locks.json") == {}
    (tmp_path / ".ws/docker.json").write_text('["a list"]')
    assert read_digests(tmp_path, "docker.json") == {}
    assert read_digests(tmp_path, "missing.json") == {}


def test_a_digest_map_that_is_a_link_is_not_read_and_its_target_kept(tmp_path: Path) -> None:
    outside = tmp_path / "outside.json"
    outside.write_text('{"svc": "planted"}')
    root = tmp_path / "ws"
    root.mkdir()
    state_dir(root)
    (root / ".ws/locks.json").symlink_to(outside)
    assert read_digests(root, "locks.json") == {}
    with pytest.raises(WsError):
        write_digests(root, "locks.json", {"svc": "abc"})
    assert outside.read_text() == '{"svc": "planted"}'


def test_the_lock_excludes_a_second_holder(tmp_path: Path) -> None:
    with workspace_lock(tmp_path, timeout=1):
        with pytest.raises(Busy, match=rf"pid {os.getpid()}\)"):
            with workspace_lock(tmp_path, timeout=0.2):
                pass
    with workspace_lock(tmp_path, timeout=0):
        pass


def test_a_lock_file_that_is_a_link_is_refused_and_its_target_kept(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    root = tmp_path / "root"
    (root / ".ws").mkdir(parents=True)
    (root / ".ws/lock").symlink_to(victim)
    with pytest.raises(WsError, match=r"cannot open the workspace lock .*lock: .*\n  fix: .*link"):
        with workspace_lock(root, timeout=0):
            pass
    assert victim.read_text() == "precious\n"


def test_a_dangling_lock_link_creates_nothing(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / ".ws").mkdir(parents=True)
    (root / ".ws/lock").symlink_to(tmp_path / "created")
    with pytest.raises(WsError, match="cannot open the workspace lock"):
        with workspace_lock(root, timeout=0):
            pass
    assert not (tmp_path / "created").exists()


def test_a_lock_that_is_a_fifo_is_an_error_not_a_hang(tmp_path: Path) -> None:
    (tmp_path / ".ws").mkdir()
    os.mkfifo(tmp_path / ".ws/lock")
    with pytest.raises(WsError, match="not a regular file"):
        with workspace_lock(tmp_path, timeout=0):
            pass


def test_a_state_dir_that_is_a_link_is_refused(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    root = tmp_path / "root"
    root.mkdir()
    (root / ".ws").symlink_to(elsewhere, target_is_directory=True)
    with pytest.raises(WsError, match=r"\.ws is not a folder \(it is a link or a file\)"):
        state_dir(root)
    assert list(elsewhere.iterdir()) == []
    (root / ".ws").unlink()
    (root / ".ws").symlink_to(tmp_path / "dangling")
    with pytest.raises(WsError, match="is not a folder"):
        state_dir(root)
    assert not (tmp_path / "dangling").exists()


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    with tmpfs(tmp_path / "fs", size="256k") as path:
        yield path


def test_read_only_root_is_one_clear_error(small_fs: Path) -> None:
    make_read_only(small_fs)
    with pytest.raises(WsError, match=r"cannot create the folder .*\.ws: Read-only file system"):
        with workspace_lock(small_fs, timeout=0):
            pass


def test_full_disk_leaves_no_empty_gitignore_for_ever(small_fs: Path) -> None:
    (small_fs / ".ws").mkdir()
    fill(small_fs)
    with pytest.raises(WsError, match="No space left on device"):
        state_dir(small_fs)
    assert not (small_fs / ".ws/.gitignore").exists()  # not an empty one
    (small_fs / ".filler").unlink()
    state_dir(small_fs)
    assert (small_fs / ".ws/.gitignore").read_text() == IGNORE_TEXT

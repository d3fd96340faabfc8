"""The workspace lock and .ws/: real folders and files only, one clear error otherwise."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from ws.errors import Busy, WsError
from ws.mutex import workspace_lock
from ws.state import IGNORE_TEXT, RECORDS_FILE, Records, load_records, machine_key, state_dir

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


def test_records_round_trip_sealed_for_this_machine_and_folder(tmp_path: Path) -> None:
    key = machine_key(tmp_path / "cache")
    assert key is not None and machine_key(tmp_path / "cache") == key  # made once, kept
    assert (tmp_path / "cache/ws/state.key").stat().st_mode & 0o077 == 0
    records = load_records(tmp_path, key, lambda _: False)
    records.note("locks/root", "inputs")
    records.save()
    again = load_records(tmp_path, key, lambda _: False)
    assert again.vouches("locks/root", "inputs")
    assert not again.vouches("locks/root", "other inputs")
    assert not load_records(tmp_path, b"x" * 32, lambda _: False).vouches("locks/root", "inputs")
    assert not load_records(tmp_path, key, lambda _: True).vouches("locks/root", "inputs")
    assert not Records(tmp_path / "elsewhere", key, again._entries).vouches("locks/root", "inputs")


def test_bad_records_read_as_none(tmp_path: Path) -> None:
    key = bytes(32)
    state_dir(tmp_path)
    for text in ("{not json", '["a list"]', "[" * 50_000 + "]" * 50_000, '{"a": 1}'):
        (tmp_path / ".ws" / RECORDS_FILE).write_text(text)
        assert load_records(tmp_path, key, lambda _: False)._entries == {}


def test_a_records_file_that_is_a_link_is_not_read_and_its_target_kept(tmp_path: Path) -> None:
    outside = tmp_path / "outside.json"
    outside.write_text('{"svc": "planted"}')
    root = tmp_path / "ws"
    root.mkdir()
    state_dir(root)
    (root / ".ws" / RECORDS_FILE).symlink_to(outside)
    records = load_records(root, bytes(32), lambda _: False)
    assert records._entries == {}
    records.note("svc", "abc")
    records.save()  # refused quietly: a lost record costs only time
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

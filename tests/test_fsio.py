"""Atomic writes replace files whole, keep their mode, and leave nothing behind on failure."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from ws.errors import WsError
from ws.fsio import atomic_write_bytes, atomic_write_text

from tests.support.immutable import immutable


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def current_umask() -> int:
    old = os.umask(0o022)
    os.umask(old)
    return old


def test_new_file_gets_exact_text_and_the_umask_mode(tmp_path: Path) -> None:
    target = tmp_path / "Dockerfile"
    atomic_write_text(target, "FROM scratch\r\nCOPY a b\n")
    assert target.read_bytes() == b"FROM scratch\r\nCOPY a b\n"  # no newline translation
    assert mode(target) == 0o666 & ~current_umask()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["Dockerfile"]


def test_replacing_keeps_the_mode_and_swaps_the_inode(tmp_path: Path) -> None:
    target = tmp_path / "run.sh"
    target.write_text("old\n")
    target.chmod(0o750)
    inode = target.stat().st_ino
    atomic_write_bytes(target, b"new\n")
    assert target.read_bytes() == b"new\n"
    assert mode(target) == 0o750
    # A new inode is what makes it atomic: readers holding the old file keep the old text.
    assert target.stat().st_ino != inode
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.sh"]


def test_a_symlink_is_followed_and_kept(tmp_path: Path) -> None:
    real = tmp_path / "real.lock"
    real.write_text("old")
    link = tmp_path / "link.lock"
    link.symlink_to(real)
    atomic_write_text(link, "new")
    assert link.is_symlink()
    assert real.read_text() == "new"


def test_failure_leaves_the_target_and_no_temp_file(tmp_path: Path) -> None:
    target = tmp_path / "pins.lock"
    target.mkdir()  # os.replace cannot put a file over a directory
    with pytest.raises(WsError, match=r"cannot write .*pins\.lock"):
        atomic_write_text(target, "data")
    assert target.is_dir()
    assert [p.name for p in tmp_path.iterdir()] == ["pins.lock"]


def test_failure_on_an_immutable_file_keeps_its_old_content(tmp_path: Path) -> None:
    target = tmp_path / "uv.lock"
    target.write_text("old\n")
    with immutable(target):
        with pytest.raises(WsError, match="Operation not permitted"):
            atomic_write_text(target, "new\n")
    assert target.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["uv.lock"]


def test_a_missing_directory_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(WsError, match="cannot write .*nowhere.*No such file or directory"):
        atomic_write_text(tmp_path / "nowhere" / "file", "x")

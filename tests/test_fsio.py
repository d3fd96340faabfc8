"""Atomic writes replace files whole, keep their mode, and leave nothing behind on failure."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from ws.errors import WsError
from ws.fsio import (
    atomic_write_bytes,
    atomic_write_text,
    read_regular,
    refuse_links,
    remove_abandoned,
)

from tests.support.immutable import immutable
from tests.support.mounts import fill, make_read_only, tmpfs


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


# ---------------------------------------------------------------- never through a link


def test_a_symlink_to_a_file_outside_is_refused_and_the_file_kept(tmp_path: Path) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("precious\n")
    root = tmp_path / "root"
    root.mkdir()
    (root / "uv.lock").symlink_to(outside)
    with pytest.raises(WsError, match=r"uv\.lock: it is a symbolic link .*outside\.txt"):
        atomic_write_text(root / "uv.lock", "lock text\n", root=root)
    assert outside.read_text() == "precious\n"
    assert (root / "uv.lock").is_symlink()
    assert sorted(p.name for p in root.iterdir()) == ["uv.lock"]


def test_a_dangling_symlink_is_refused_and_its_target_not_created(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    target = tmp_path / "made-by-ws"
    (root / "Dockerfile").symlink_to(target)
    with pytest.raises(WsError, match="never writes through a link"):
        atomic_write_text(root / "Dockerfile", "FROM scratch\n")  # refused even without root
    assert not target.exists()


def test_a_folder_link_on_the_way_is_refused_with_root(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    root = tmp_path / "root"
    (root / "packages").mkdir(parents=True)
    (root / "packages/m").symlink_to(outside, target_is_directory=True)
    with pytest.raises(WsError, match=r"packages/m is a symbolic link or not a folder"):
        atomic_write_text(root / "packages/m/uv.lock", "x", root=root)
    assert list(outside.iterdir()) == []


def test_a_path_outside_root_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    with pytest.raises(WsError, match="not inside the workspace"):
        atomic_write_text(root / ".." / "escape", "x", root=root)
    assert not (tmp_path / "escape").exists()


def test_writes_below_root_work(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "packages/m").mkdir(parents=True)
    atomic_write_text(root / "packages/m/uv.lock", "x", root=root)
    assert (root / "packages/m/uv.lock").read_text() == "x"


# ---------------------------------------------------------------- failing file systems


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    with tmpfs(tmp_path / "fs", size="256k") as path:
        yield path


def test_read_only_file_system_is_one_clear_error(small_fs: Path) -> None:
    (small_fs / "uv.lock").write_text("old\n")
    make_read_only(small_fs)
    with pytest.raises(WsError, match="Read-only file system\n  fix: .*read-only"):
        atomic_write_text(small_fs / "uv.lock", "new\n", root=small_fs)
    assert (small_fs / "uv.lock").read_text() == "old\n"


def test_full_disk_is_one_clear_error_and_leaves_no_temp_file(small_fs: Path) -> None:
    (small_fs / "uv.lock").write_text("old\n")
    fill(small_fs)
    with pytest.raises(WsError, match="No space left on device\n  fix: free some disk space"):
        atomic_write_bytes(small_fs / "uv.lock", b"x" * 65536, root=small_fs)
    assert (small_fs / "uv.lock").read_text() == "old\n"
    assert sorted(p.name for p in small_fs.iterdir()) == [".filler", "uv.lock"]


# ---------------------------------------------------------------- what a killed run leaves

_SLOW_WRITER = """
import sys, time
from pathlib import Path
import ws.fsio as fsio
real = fsio.os.replace
def slow(*args, **kwargs):
    time.sleep(60)  # killed here: after the temporary file is written, before the rename
fsio.os.replace = slow
fsio.atomic_write_text(Path(sys.argv[1]), "half\\n")
"""


def _wait_for_temp(folder: Path, timeout: float = 30) -> Path:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        temps = [p for p in folder.iterdir() if p.name.endswith(".tmp")]
        if temps:
            return temps[0]
        time.sleep(0.01)
    raise AssertionError("the writer never made its temporary file")


def test_a_killed_writers_temp_file_is_removed_by_the_next_write(tmp_path: Path) -> None:
    target = tmp_path / "uv.lock"
    target.write_text("old\n")
    writer = subprocess.Popen([sys.executable, "-c", _SLOW_WRITER, str(target)])
    try:
        temp = _wait_for_temp(tmp_path)  # killed on the event, not after a sleep
        # While its writer lives, the temporary file is left alone.
        atomic_write_text(tmp_path / "uv.lock", "other\n")
        assert temp.exists()
    finally:
        writer.send_signal(signal.SIGKILL)
        writer.wait()
    assert target.read_text() == "other\n"
    atomic_write_text(target, "new\n")
    assert target.read_text() == "new\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["uv.lock"]


def test_a_run_that_writes_nothing_still_sweeps_abandoned_temp_files(tmp_path: Path) -> None:
    (tmp_path / "uv.lock").write_text("old\n")
    writer = subprocess.Popen([sys.executable, "-c", _SLOW_WRITER, str(tmp_path / "uv.lock")])
    try:
        temp = _wait_for_temp(tmp_path)
        assert remove_abandoned(tmp_path) == []  # its writer still lives
    finally:
        writer.send_signal(signal.SIGKILL)
        writer.wait()
    (tmp_path / ".notes.txt.tmp").write_text("not ws's")  # not named as ws names them
    assert remove_abandoned(tmp_path) == [temp.name]
    assert sorted(p.name for p in tmp_path.iterdir()) == [".notes.txt.tmp", "uv.lock"]
    assert (tmp_path / "uv.lock").read_text() == "old\n"


# ---------------------------------------------------------------- reading what is sent on


def test_read_regular_reads_a_file_and_refuses_a_link_or_a_fifo(tmp_path: Path) -> None:
    secret = tmp_path / "shadow"
    secret.write_text("root:x\n")
    root = tmp_path / "root"
    (root / "packages/m").mkdir(parents=True)
    (root / "packages/m/Dockerfile").write_text("FROM scratch\n")
    assert read_regular(root / "packages/m/Dockerfile", root=root) == b"FROM scratch\n"
    (root / "packages/m/link").symlink_to(secret)
    with pytest.raises(WsError, match="refusing to read .*link: it is a symbolic link"):
        read_regular(root / "packages/m/link")
    os.mkfifo(root / "packages/m/pipe")
    with pytest.raises(WsError, match="not a regular file"):
        read_regular(root / "packages/m/pipe")  # and no hang on the open
    (root / "packages/n").symlink_to(tmp_path, target_is_directory=True)
    with pytest.raises(WsError, match="packages/n is a symbolic link or not a folder"):
        read_regular(root / "packages/n/shadow", root=root)


def test_refuse_links_guards_files_another_program_writes(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    refuse_links(root / "uv.lock", root=root)  # missing: fine
    (root / "uv.lock").write_text("x")
    refuse_links(root / "uv.lock", root=root)  # a regular file: fine
    (root / "uv.lock").unlink()
    (root / "uv.lock").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(WsError, match="uv.lock: it is a symbolic link"):
        refuse_links(root / "uv.lock", root=root)


def test_a_writer_survives_another_runs_clean_up_of_the_same_folder(tmp_path: Path) -> None:
    """Writers beside a run that removes abandoned temporary files: a temporary file removed
    between its creation and its lock is made again, never a failed write."""
    import threading

    from ws.fsio import atomic_write_bytes, remove_abandoned

    stop = threading.Event()
    failures: list[BaseException] = []

    def clean() -> None:
        while not stop.is_set():
            remove_abandoned(tmp_path)

    def write(n: int) -> None:
        try:
            for i in range(300):
                atomic_write_bytes(tmp_path / f"f{n}", b"%d" % i)
        except Exception as e:  # a WsError wrapping the OSError, as ws reports it
            failures.append(e)

    cleaner = threading.Thread(target=clean)
    writers = [threading.Thread(target=write, args=(n,)) for n in range(4)]
    cleaner.start()
    for t in writers:
        t.start()
    for t in writers:
        t.join()
    stop.set()
    cleaner.join()
    assert failures == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f0", "f1", "f2", "f3"]

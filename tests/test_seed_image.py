"""tooling/seed_image.py: seed image digests depend on their files only; the engine takes them."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any

import pytest

from tests.support.loopback_images import LOOPBACK, docker_client, unique_repository  # noqa: F401

SCRIPT = Path(__file__).parents[1] / "tooling" / "seed_image.py"
EPOCH = 1793491200  # the epoch tooling/engine.sh gives its seed images
AFTER = EPOCH + 86400 * 20  # a file written by a package's install script, days later
BEFORE = EPOCH - 86400 * 200  # a file as a .deb ships it, with its own old mtime


def seed(action: str, root: Path, ref: str = "seed/test:1", *extra: str) -> str:
    argv = [sys.executable, str(SCRIPT), action, str(root), "127.0.0.1:5000", ref]
    argv += ["--epoch", str(EPOCH), "--env", "A=1", "--cmd", '["/bin/true"]', *extra]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def make_tree(root: Path, order: list[str], mtime: int, old_mtime: int = BEFORE) -> Path:
    """The same small filesystem, its files created in the given order."""
    contents = {"etc/app.conf": "x = 1\n", "usr/bin/tool": "#!/bin/sh\n", "usr/lib/a.py": "a = 1\n"}
    for rel in order:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(contents[rel])
        os.chmod(path, 0o755 if "bin" in rel else 0o644)
        os.utime(path, (mtime, mtime))
    os.utime(root / "usr/lib/a.py", (old_mtime, old_mtime))
    (root / "proc").mkdir()
    (root / "proc" / "1").write_text("not in the image")
    return root


FILES = ["etc/app.conf", "usr/bin/tool", "usr/lib/a.py"]


def test_the_digest_does_not_depend_on_when_or_in_what_order_files_were_written(
    tmp_path: Path,
) -> None:
    first = make_tree(tmp_path / "a", FILES, AFTER)
    second = make_tree(tmp_path / "b", list(reversed(FILES)), AFTER + 3600)
    digest = seed("digest", first, "seed/test:1", "--exclude", "proc")
    assert digest.startswith("sha256:") and len(digest) == 71
    assert seed("digest", second, "seed/test:1", "--exclude", "proc") == digest
    (second / "proc" / "1").write_text("another run's process")
    assert seed("digest", second, "seed/test:1", "--exclude", "proc") == digest
    assert seed("digest", second, "seed/test:1") != digest, "without --exclude, proc/1 counts"


def test_content_mtimes_before_the_epoch_and_options_change_the_digest(tmp_path: Path) -> None:
    base = seed("digest", make_tree(tmp_path / "a", FILES, AFTER))
    changed = make_tree(tmp_path / "b", FILES, AFTER)
    (changed / "etc/app.conf").write_text("x = 2\n")
    older = make_tree(tmp_path / "c", FILES, AFTER, old_mtime=BEFORE - 1)
    assert seed("digest", changed) != base
    assert seed("digest", older) != base, "an mtime before the epoch is kept, as .pyc checks need"
    assert seed("digest", make_tree(tmp_path / "d", FILES, AFTER), "x:1", "--env", "B=2") != base


@pytest.mark.docker
def test_the_engine_pulls_the_pushed_image_with_its_files_time_and_config(
    docker_client: Any,  # noqa: F811
    tmp_path: Path,
) -> None:
    root = make_tree(tmp_path / "root", FILES, AFTER)
    repository = unique_repository("seed")
    name = repository.removeprefix(f"{LOOPBACK}/")
    digest = seed("push", root, f"{name}:1", "--exclude", "proc")
    assert seed("push", root, f"{name}:1", "--exclude", "proc") == digest, "a re-push is a no-op"
    image = docker_client.images.pull(f"{repository}@{digest}")
    try:
        assert image.attrs["Created"].startswith("2026-11-01T00:00:00")
        assert "A=1" in image.attrs["Config"]["Env"]
        assert image.attrs["Config"]["Cmd"] == ["/bin/true"]
        container = docker_client.containers.create(image.id, network_mode="none")
        try:
            stream, _ = container.get_archive("/etc/app.conf")
            with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tar:
                member = tar.getmember("app.conf")
                assert tar.extractfile(member).read() == b"x = 1\n"  # type: ignore[union-attr]
                assert member.mtime == EPOCH, "a later mtime is clamped to the epoch"
        finally:
            container.remove()
    finally:
        docker_client.images.remove(image.id, force=True)

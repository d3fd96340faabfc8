"""Context tars: what a .dockerignore keeps, nothing else, streamed and reproducible."""

from __future__ import annotations

import io
import os
import socket
import tarfile
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import pytest
from ws.docker.builds.context import ContextReport, DockerIgnore, _Held, context_tar, write_context
from ws.errors import WsError

from tests.support.buildctx import COPY_ALL, copied, engine
from tests.support.files import build_file_tree
from tests.support.gitrepo import init_repo

CANARY = "CANARY-7f3a9c"


def _tar(root: Path, ignore: DockerIgnore, **kwargs: object) -> tuple[bytes, ContextReport]:
    buf = io.BytesIO()
    report = write_context(root, ignore, buf, **kwargs)  # type: ignore[arg-type]
    return buf.getvalue(), report


def _members(data: bytes) -> dict[str, tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return {m.name: m for m in tar.getmembers()}


def _contents(data: bytes) -> dict[str, bytes]:
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        files = {}
        for member in tar.getmembers():
            handle = tar.extractfile(member) if member.isfile() else None
            if handle is not None:
                files[member.name] = handle.read()
        return files


def _all_files(root: Path) -> set[str]:
    found = set()
    for dirpath, _, filenames in os.walk(root):
        for name in filenames:
            found.add((Path(dirpath) / name).relative_to(root).as_posix())
    return found


@pytest.fixture
def monorepo(tmp_path: Path) -> Path:
    """A workspace with secrets planted where real ones end up."""
    root = build_file_tree(
        tmp_path / "repo",
        {
            "README.md": "readme\n",
            "pyproject.toml": "[tool.uv.workspace]\n",
            ".env": f"TOKEN={CANARY}\n",
            "deploy/id_rsa": f"-----BEGIN {CANARY}-----\n",
            "deploy/tls.pem": f"{CANARY}\n",
            "packages/foo/pyproject.toml": "[project]\nname = 'foo'\n",
            "packages/foo/src/foo/__init__.py": "VALUE = 1\n",
            "packages/foo/.env.local": f"{CANARY}\n",
            "packages/foo/certs/server.pem": f"{CANARY}\n",
            "packages/bar/pyproject.toml": "[project]\nname = 'bar'\n",
            "node_modules/dep/index.js": "x\n",
        },
    )
    outside = tmp_path / "outside-secret.txt"
    outside.write_text(f"{CANARY}\n", encoding="utf-8")
    (root / "packages/foo/leak").symlink_to(outside)
    (root / "packages/foo/src/foo/sneaky").symlink_to("../../../../../outside-secret.txt")
    (root / "packages/foo/readme-link").symlink_to("pyproject.toml")
    return root


WHITELIST = "*\n!packages/foo\n**/.env*\n**/id_rsa\n**/*.pem\n"


def test_canary_secrets_never_reach_the_tar(monorepo: Path) -> None:
    for text in (WHITELIST, "**/.env*\n**/id_rsa\n**/*.pem\n"):
        data, report = _tar(monorepo, DockerIgnore.from_text(text))
        assert CANARY.encode() not in data
        names = set(_members(data))
        assert not {n for n in names if ".env" in n or n.endswith((".pem", "id_rsa"))}
        assert "packages/foo/leak" not in names
        skipped = {s.path: s.reason for s in report.skipped}
        assert "resolves outside the context" in skipped["packages/foo/leak"]
        assert "resolves outside the context" in skipped["packages/foo/src/foo/sneaky"]


def test_whitelist_keeps_exactly_the_member(monorepo: Path) -> None:
    data, report = _tar(monorepo, DockerIgnore.from_text(WHITELIST))
    # "packages" itself is excluded by '*': it is written only because a kept path is below.
    assert report.members == [
        "packages",
        "packages/foo",
        "packages/foo/certs",
        "packages/foo/pyproject.toml",
        "packages/foo/readme-link",
        "packages/foo/src",
        "packages/foo/src/foo",
        "packages/foo/src/foo/__init__.py",
    ]
    assert list(_members(data)) == report.members
    assert (report.files, report.symlinks, report.directories) == (2, 1, 5)
    assert report.bytes == len("[project]\nname = 'foo'\n") + len("VALUE = 1\n")


def test_symlinks_inside_the_root_stay_links(monorepo: Path) -> None:
    (monorepo / "packages/foo/src-link").symlink_to("src", target_is_directory=True)
    data, _ = _tar(monorepo, DockerIgnore.from_text(WHITELIST))
    members = _members(data)
    assert members["packages/foo/readme-link"].issym()
    assert members["packages/foo/readme-link"].linkname == "pyproject.toml"
    # A link to a directory is not followed: its target's files appear once.
    assert members["packages/foo/src-link"].issym()
    assert not [n for n in members if n.startswith("packages/foo/src-link/")]


def test_excluded_directories_are_walked_for_glob_exceptions(tmp_path: Path) -> None:
    root = build_file_tree(
        tmp_path,
        {"a/keep": "1", "a/b/keep": "2", "a/b/drop": "3", "c/drop": "4", "keep": "5"},
    )
    _, report = _tar(root, DockerIgnore.from_text("*\n!**/keep\n"))
    assert report.members == ["a", "a/b", "a/b/keep", "a/keep", "keep"]


@pytest.mark.parametrize(
    "text",
    [
        WHITELIST,
        "packages\n!packages/foo/src\n",
        "**\n!**/*.toml\npackages/bar\n",
        "*/*\n!packages/*/pyproject.toml\n",
        "a\n!a/b\na\n",
        "",
    ],
)
def test_the_walk_keeps_what_excluded_says(monorepo: Path, text: str) -> None:
    ignore = DockerIgnore.from_text(text)
    _, report = _tar(monorepo, ignore)
    files = {s.path for s in report.skipped} | set(report.members)
    expected = {f for f in _all_files(monorepo) if not ignore.excluded(f)}
    assert {f for f in files if f in _all_files(monorepo)} == expected


def test_fifo_and_socket_are_skipped_with_a_reason(tmp_path: Path) -> None:
    root = build_file_tree(tmp_path / "c", {"app.py": "x\n"})
    os.mkfifo(root / "pipe")
    server = socket.socket(socket.AF_UNIX)
    try:
        server.bind(str(root / "sock"))
        data, report = _tar(root, DockerIgnore(()))
    finally:
        server.close()
    assert list(_members(data)) == ["app.py"]
    reasons = {s.path: s.reason for s in report.skipped}
    assert reasons["pipe"].startswith("a named pipe (FIFO)")
    assert reasons["sock"].startswith("a socket")


def test_excluded_special_files_are_not_reported(tmp_path: Path) -> None:
    root = build_file_tree(tmp_path / "c", {"app.py": "x\n"})
    os.mkfifo(root / "pipe")
    _, report = _tar(root, DockerIgnore(["pipe"]))
    assert report.skipped == []


def test_metadata_is_normalised_and_output_reproducible(monorepo: Path) -> None:
    script = monorepo / "packages/foo/run.sh"
    script.write_text("#!/bin/sh\n", encoding="utf-8")
    script.chmod(0o750)
    os.utime(script, (1_700_000_000, 1_700_000_000))
    ignore = DockerIgnore.from_text(WHITELIST)
    first, _ = _tar(monorepo, ignore)
    assert first == _tar(monorepo, ignore)[0]
    members = _members(first)
    assert {(m.uid, m.gid, m.uname, m.gname) for m in members.values()} == {(0, 0, "", "")}
    assert members["packages/foo/run.sh"].mode == 0o750
    assert members["packages/foo/run.sh"].mtime == 1_700_000_000
    stamped, _ = _tar(monorepo, ignore, mtime=0)
    assert {m.mtime for m in _members(stamped).values()} == {0}


def test_generated_dockerfile_is_added_and_wins(monorepo: Path) -> None:
    (monorepo / "Dockerfile").write_text("FROM old\n", encoding="utf-8")
    ignore = DockerIgnore.from_text("Dockerfile\n**/.env*\n**/id_rsa\n**/*.pem\n")
    data, report = _tar(monorepo, ignore, dockerfile=("Dockerfile", b"FROM new\n"))
    assert _contents(data)["Dockerfile"] == b"FROM new\n"
    assert report.members[-1] == "Dockerfile"
    assert list(_members(data)).count("Dockerfile") == 1
    (monorepo / "docker").mkdir()
    (monorepo / "docker/app.Dockerfile").write_text("FROM old\n", encoding="utf-8")
    _, report = _tar(monorepo, DockerIgnore(()), dockerfile=("./docker/app.Dockerfile", b"X"))
    assert {s.path: s.reason for s in report.skipped}["docker/app.Dockerfile"].startswith(
        "replaced by the generated Dockerfile"
    )


@pytest.mark.parametrize("name", ["../Dockerfile", "/Dockerfile", ".", "a\\b"])
def test_dockerfile_name_must_stay_inside(tmp_path: Path, name: str) -> None:
    with pytest.raises(WsError, match="relative path inside the context"):
        _tar(tmp_path, DockerIgnore(()), dockerfile=(name, b"FROM scratch\n"))


def test_root_must_be_a_directory(tmp_path: Path) -> None:
    with pytest.raises(WsError, match="not a directory"):
        _tar(tmp_path / "missing", DockerIgnore(()))


def test_an_unreadable_kept_file_is_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Root reads any file, so a permission error cannot be produced for real here.
    root = build_file_tree(tmp_path / "c", {"ok.txt": "1", "locked.txt": "2"})
    real_open = os.open

    def deny(path: object, flags: int, *args: int, **kwargs: object) -> int:
        if str(path).endswith("locked.txt"):
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, flags, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "open", deny)
    with pytest.raises(WsError, match="locked.txt: cannot read it into the build context"):
        _tar(root, DockerIgnore(()))
    _, report = _tar(root, DockerIgnore(["locked.txt"]))
    assert report.members == ["ok.txt"]


def test_large_files_are_streamed_not_loaded(tmp_path: Path) -> None:
    root = tmp_path / "c"
    root.mkdir()
    size = 64 * 1024 * 1024
    with open(root / "big.bin", "wb") as handle:
        handle.truncate(size)  # sparse: cheap on disk, still 64 MiB to read
    with open(os.devnull, "wb") as sink:
        tracemalloc.start()
        try:
            report = write_context(root, DockerIgnore(()), sink)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert report.bytes == size
    assert peak < 4 * 1024 * 1024


def test_context_tar_is_rewound_and_complete(monorepo: Path) -> None:
    init_repo(monorepo).commit_all()
    handle, report = context_tar(
        monorepo, DockerIgnore.from_text(WHITELIST), dockerfile=("Dockerfile", COPY_ALL)
    )
    with handle:
        assert handle.tell() == 0
        with tarfile.open(fileobj=handle) as tar:
            assert tar.getnames() == report.members


@pytest.mark.docker
def test_engine_copies_exactly_the_report(monorepo: Path) -> None:
    init_repo(monorepo).commit_all()
    client = engine()
    handle, report = context_tar(
        monorepo, DockerIgnore.from_text(WHITELIST), dockerfile=("Dockerfile", COPY_ALL)
    )
    with handle:
        entries = {m.name: m for m in copied(client, handle, "Dockerfile")}
    assert sorted(entries) == sorted(report.members)
    assert entries["packages/foo/readme-link"].issym()
    assert entries["packages/foo/readme-link"].linkname == "pyproject.toml"
    assert not [name for name in entries if ".env" in name or name.endswith(".pem")]


# ---------------------------------------------------------------- what git holds, no secrets

# Credential files as they end up in a member's folder; none may reach an image.
SECRET_FILES = (
    ".netrc",
    ".git-credentials",
    ".aws/credentials",
    ".docker/config.json",
    ".envrc",
    "id_ecdsa",
    "id_dsa",
    "cert.p12",
    "credentials",
    "prod.env",
    ".npmrc",
    ".pypirc",
)
MEMBER_WHITELIST = "*\n!packages/foo\n"


def _member_with_secrets(root: Path, *, ignored: bool) -> None:
    files = {f"packages/foo/{name}": f"{CANARY}\n" for name in SECRET_FILES}
    files["packages/foo/src/foo/__init__.py"] = "VALUE = 1\n"
    files["packages/foo/pyproject.toml"] = "[project]\nname = 'foo'\n"
    if ignored:
        files[".gitignore"] = "".join(f"packages/foo/{name}\n" for name in SECRET_FILES)
    build_file_tree(root, files)


@pytest.mark.parametrize("ignored", [True, False], ids=["git-ignored", "committed"])
def test_credential_files_never_reach_the_tar(tmp_path: Path, ignored: bool) -> None:
    repo = init_repo(tmp_path / "repo")
    _member_with_secrets(repo.path, ignored=ignored)
    repo.commit_all()
    handle, report = context_tar(repo.path, DockerIgnore.from_text(MEMBER_WHITELIST))
    with handle:
        data = handle.read()
    assert CANARY.encode() not in data
    assert "packages/foo/src/foo/__init__.py" in report.members
    left_out = {s.path for s in report.skipped}
    # Committed ones are named (the user should know); ignored ones are simply not held.
    expected = {f"packages/foo/{n}" for n in SECRET_FILES} if not ignored else set()
    assert left_out == expected


def test_the_deny_list_holds_without_git_too(tmp_path: Path) -> None:
    _member_with_secrets(tmp_path, ignored=False)
    data, report = _tar(tmp_path, DockerIgnore.from_text(MEMBER_WHITELIST))
    assert CANARY.encode() not in data
    reasons = {s.path: s.reason for s in report.skipped}
    assert "never sends credentials" in reasons["packages/foo/.netrc"]
    assert "it is .docker/config.json" in reasons["packages/foo/.docker/config.json"]


def test_context_tar_sends_tracked_and_untracked_not_ignored_files(tmp_path: Path) -> None:
    repo = init_repo(
        tmp_path / "repo",
        {
            ".gitignore": "*.log\nbuild/\n",
            "packages/foo/src/foo/__init__.py": "VALUE = 1\n",
        },
    )
    repo.write(
        {
            "packages/foo/src/foo/new.py": "NEW = 1\n",  # untracked, not ignored: sent
            "packages/foo/debug.log": f"{CANARY}\n",  # ignored: not sent
            "packages/foo/build/lib/foo.py": f"{CANARY}\n",  # ignored folder: not even walked
        }
    )
    handle, report = context_tar(repo.path, DockerIgnore.from_text(MEMBER_WHITELIST))
    with handle:
        assert CANARY.encode() not in handle.read()
    assert report.members == [
        "packages",
        "packages/foo",
        "packages/foo/src",
        "packages/foo/src/foo",
        "packages/foo/src/foo/__init__.py",
        "packages/foo/src/foo/new.py",
    ]
    assert report.skipped == []


def test_context_tar_outside_git_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(WsError, match="cannot list the files the git repository holds"):
        context_tar(tmp_path, DockerIgnore(()))


def test_a_hard_link_to_a_file_outside_stays_out(tmp_path: Path) -> None:
    outside = tmp_path / "shadow"
    outside.write_text(f"{CANARY}\n")
    repo = init_repo(tmp_path / "repo", {"packages/foo/app.py": "x = 1\n"})
    os.link(outside, repo.path / "packages/foo/data.txt")
    repo.commit_all()
    handle, report = context_tar(repo.path, DockerIgnore.from_text(MEMBER_WHITELIST))
    with handle:
        assert CANARY.encode() not in handle.read()
    reasons = {s.path: s.reason for s in report.skipped}
    assert reasons["packages/foo/data.txt"].startswith("a hard link (2 names)")


# ---------------------------------------------------------------- swapped during the walk

MARKER = b"SWAP-NOW-" * 8192  # larger than tarfile's stream buffer: written while it is read


class _SwapOnMarker(io.BytesIO):
    """A tar sink that runs swap once the marker file's bytes pass through it."""

    def __init__(self, swap: Callable[[], None]) -> None:
        super().__init__()
        self.swap: Callable[[], None] | None = swap

    def write(self, data: bytes, /) -> int:  # type: ignore[override]  # BytesIO's buffer type
        if self.swap is not None and b"SWAP-NOW-" in data:
            swap, self.swap = self.swap, None
            swap()
        return super().write(data)


def _swap_for_link(folder: Path, aside: Path, target: Path) -> Callable[[], None]:
    def swap() -> None:
        folder.rename(aside)
        folder.symlink_to(target, target_is_directory=True)

    return swap


@pytest.fixture
def etc(tmp_path: Path) -> Path:
    """A folder outside the root standing in for /etc."""
    return build_file_tree(tmp_path / "etc", {"shadow": f"{CANARY}\n"})


def test_a_folder_swapped_for_a_link_before_it_is_entered_stays_out(
    tmp_path: Path, etc: Path
) -> None:
    root = tmp_path / "root"
    build_file_tree(root, {"pkg/shadow": "decoy\n"})
    (root / "a-marker").write_bytes(MARKER)  # sorts before pkg
    sink = _SwapOnMarker(_swap_for_link(root / "pkg", tmp_path / "aside", etc))
    report = write_context(root, DockerIgnore(()), sink)
    assert sink.swap is None  # the swap happened mid-walk
    assert CANARY.encode() not in sink.getvalue()
    assert {s.path: s.reason for s in report.skipped}["pkg"] == (
        "changed while the context was written"
    )


def test_a_parent_swapped_for_a_link_after_its_listing_is_still_read_from_inside(
    tmp_path: Path, etc: Path
) -> None:
    root = tmp_path / "root"
    build_file_tree(root, {"pkg/shadow": "decoy\n"})
    (root / "pkg/a-marker").write_bytes(MARKER)  # pkg is listed, then a-marker read, then shadow
    sink = _SwapOnMarker(_swap_for_link(root / "pkg", tmp_path / "aside", etc))
    write_context(root, DockerIgnore(()), sink)
    assert sink.swap is None
    assert CANARY.encode() not in sink.getvalue()
    assert _contents(sink.getvalue())["pkg/shadow"] == b"decoy\n"


@pytest.mark.docker
def test_engine_image_holds_no_credential_file(tmp_path: Path) -> None:
    client = engine()
    repo = init_repo(tmp_path / "repo")
    _member_with_secrets(repo.path, ignored=False)
    # Half of them committed, half ignored by git: neither kind reaches the image.
    repo.write({".gitignore": "".join(f"packages/foo/{n}\n" for n in SECRET_FILES[::2])})
    repo.commit_all()
    handle, _ = context_tar(
        repo.path, DockerIgnore.from_text(MEMBER_WHITELIST), dockerfile=("Dockerfile", COPY_ALL)
    )
    with handle:
        names = {m.name for m in copied(client, handle, "Dockerfile")}
    assert "packages/foo/src/foo/__init__.py" in names
    assert not names & {f"packages/foo/{n}" for n in SECRET_FILES}


def test_the_folders_above_held_files_are_every_parent_and_no_more() -> None:
    files = ["README.md", "a/b/c/d.py", "a/b/e.py", "a/x.py", "z/y/w.txt", "a b/ü/f"]
    held = _Held.of(files)
    assert held.folders == {"a", "a/b", "a/b/c", "z", "z/y", "a b", "a b/ü"}
    assert held.holds("a/b", directory=True) and not held.holds("a/b", directory=False)
    assert held.holds("a/b/e.py", directory=False) and not held.holds("q", directory=True)

"""What a build session offers, worked out on real files: the logins uv would use (URL, uv's
index variables, netrc, in that order), the lock's indexes and ssh git hosts, the host keys
known_hosts holds for them (plain and hashed), and the masking of what ws prints."""

from __future__ import annotations

import base64
import hashlib
import hmac
import subprocess
import sys
from pathlib import Path

import pytest
from ws.docker.session.indexes import (
    Index,
    MissingCredentials,
    Where,
    find_logins,
    lock_sources,
    refusal,
)
from ws.docker.session.known_hosts import matching_lines
from ws.docker.session.plan import Access, Redactor, member_offer
from ws.errors import WsError

URL = "http://127.0.0.1:9/simple"  # port 9: nothing answers, so no test asks the network


def test_uv_variables_name_the_index_in_capitals_with_underscores() -> None:
    assert Index(URL, "private-feed.v2").variables == (
        "UV_INDEX_PRIVATE_FEED_V2_USERNAME",
        "UV_INDEX_PRIVATE_FEED_V2_PASSWORD",
    )
    assert Index(URL).variables is None


def test_logins_come_from_the_url_then_the_variables_then_the_netrc(tmp_path: Path) -> None:
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login n password from-netrc\n")
    index = Index(URL, "feed")
    env = {"UV_INDEX_FEED_USERNAME": "v", "UV_INDEX_FEED_PASSWORD": "from-vars"}
    in_url = {"UV_INDEX": "feed=http://u:from%2Durl@127.0.0.1:9/simple/", **env}

    def login(environ: dict[str, str]) -> tuple[str, str, str]:
        found = find_logins([index], Where(environ, netrc), "uv.lock").logins[0]
        return found.username, found.password, found.source

    assert login(in_url) == ("u", "from-url", "the URL in UV_INDEX")
    assert login(env) == ("v", "from-vars", "UV_INDEX_FEED_USERNAME and UV_INDEX_FEED_PASSWORD")
    assert login({}) == ("n", "from-netrc", f"{netrc} (127.0.0.1)")
    logins = find_logins([index], Where(env, netrc), "uv.lock")
    assert logins.netrc() == b"machine 127.0.0.1 login v password from-vars\n"


def test_an_index_that_always_authenticates_without_a_login_is_one_error(tmp_path: Path) -> None:
    index = Index(URL, "feed", authenticate="always")
    with pytest.raises(MissingCredentials) as caught:
        find_logins([index], Where({}, tmp_path / ".netrc"), "packages/svc/uv.lock")
    text = str(caught.value)
    assert "packages/svc/uv.lock" in text and "'feed'" in text
    assert "UV_INDEX_FEED_USERNAME and UV_INDEX_FEED_PASSWORD" in text
    assert f"`machine 127.0.0.1` entry in {tmp_path / '.netrc'}" in text
    assert caught.value.fix and "set UV_INDEX_FEED_USERNAME" in caught.value.fix


def test_two_logins_for_one_host_are_refused(tmp_path: Path) -> None:
    env = {
        "UV_INDEX_A_USERNAME": "a",
        "UV_INDEX_A_PASSWORD": "one",
        "UV_INDEX_B_USERNAME": "b",
        "UV_INDEX_B_PASSWORD": "two",
    }
    indexes = [Index(URL, "a"), Index("http://127.0.0.1:9/other", "b")]
    with pytest.raises(WsError, match="two different logins for 127.0.0.1"):
        find_logins(indexes, Where(env, tmp_path / "none"), "uv.lock")


def test_the_lock_names_its_indexes_and_ssh_git_hosts(tmp_path: Path) -> None:
    lock = tmp_path / "uv.lock"
    lock.write_text(
        "version = 1\n"
        '[[package]]\nname = "a"\nversion = "1"\n'
        'source = { registry = "http://127.0.0.1:9/simple/" }\n'
        '[[package]]\nname = "b"\nversion = "1"\n'
        'source = { git = "ssh://git@127.0.0.1:2222/srv/b.git?rev=main#0123" }\n'
        '[[package]]\nname = "c"\nversion = "1"\n'
        'source = { git = "https://127.0.0.1:3/c.git#0123" }\n'
    )
    sources = lock_sources(lock, lock.read_bytes())
    assert sources.indexes == (URL,)
    assert sources.ssh_hosts == (("127.0.0.1", 2222),)


def test_known_hosts_lines_match_plain_and_hashed_names(tmp_path: Path) -> None:
    salt = b"0123456789abcdef0123"
    digest = hmac.new(salt, b"[127.0.0.1]:2222", hashlib.sha1).digest()
    hashed = f"|1|{base64.b64encode(salt).decode()}|{base64.b64encode(digest).decode()}"
    known = tmp_path / "known_hosts"
    known.write_text(
        f"{hashed} ssh-ed25519 AAAAhashed\n"
        "*.example,!bad.example ssh-ed25519 AAAAplain\n"
        "[127.0.0.1]:2223 ssh-ed25519 AAAAport\n"
        "other ssh-ed25519 AAAAother\n"
    )
    hosts = [("127.0.0.1", 2222), ("Git.Example", 22), ("127.0.0.1", 2223)]
    lines, unknown = matching_lines(hosts, [known])
    assert lines.splitlines() == [
        f"{hashed} ssh-ed25519 AAAAhashed",
        "*.example,!bad.example ssh-ed25519 AAAAplain",
        "[127.0.0.1]:2223 ssh-ed25519 AAAAport",
    ]
    assert unknown == []
    _, unknown = matching_lines([("bad.example", 22)], [known])
    assert unknown == ["bad.example"]


def test_every_secret_is_masked() -> None:
    redact = Redactor()
    redact.add("hunter2", "hunter2-long", "")
    assert redact("a hunter2-long and hunter2") == "a **** and ****"


def test_an_index_refusing_the_build_is_named_with_where_its_login_came_from(
    tmp_path: Path,
) -> None:
    env = {"UV_INDEX_FEED_USERNAME": "u", "UV_INDEX_FEED_PASSWORD": "p"}
    logins = find_logins([Index(URL, "feed")], Where(env, tmp_path / "none"), "uv.lock")
    output = [
        "error: Failed to fetch: `http://127.0.0.1:9/simple/alpha/`",
        "  Caused by: HTTP status client error (401 Unauthorized) for url "
        "(http://127.0.0.1:9/simple/alpha/)",
    ]
    assert refusal(output, logins) == (
        "127.0.0.1 answered 401 Unauthorized to the login from "
        "UV_INDEX_FEED_USERNAME and UV_INDEX_FEED_PASSWORD"
    )
    other = ["  cause: HTTP status client error (403 Forbidden) for url (http://10.9.9.9/x)"]
    assert refusal(other, logins) == (
        "10.9.9.9 answered 403 Forbidden: it asks for a login, and ws handed the build none"
    )
    assert refusal(["error: No solution found"], logins) is None


def test_an_index_named_in_uv_index_takes_its_login_from_its_variables(tmp_path: Path) -> None:
    lock = tmp_path / "uv.lock"
    lock.write_text(
        f'version = 1\n[[package]]\nname = "a"\nversion = "1"\nsource = {{ registry = "{URL}" }}\n'
    )
    env = {
        "UV_INDEX": f"other=http://127.0.0.1:9/other feed={URL}/",
        "UV_INDEX_FEED_USERNAME": "u",
        "UV_INDEX_FEED_PASSWORD": "p",
    }
    access = Access(Where(env, tmp_path / "none"), None, (), tmp_path)
    offer = member_offer(lock, lock.read_bytes(), "uv.lock", [], access, lambda _host: None)
    assert offer.secrets == {"uv-netrc": b"machine 127.0.0.1 login u password p\n"}
    assert offer.index_logins.logins[0].source == (
        "UV_INDEX_FEED_USERNAME and UV_INDEX_FEED_PASSWORD"
    )


@pytest.mark.parametrize("command", [["list"], ["check"]])
def test_only_ws_docker_build_imports_the_session_stack(command: list[str]) -> None:
    """grpclib, h2 and protobuf cost `ws docker build` alone (about 70 ms here)."""
    repository = Path(__file__).resolve().parents[1]
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "ws", "--root", str(repository), *command],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr[-2000:]
    imported = {line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines()}
    assert "ws.cli.app" in imported
    assert not {"grpclib", "h2", "google.protobuf", "ws.docker.session"} & imported

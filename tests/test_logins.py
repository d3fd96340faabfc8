"""docker's logins as ws.registry.logins reads them (through docker-py): config.json's auths,
and real credential helper programs (small scripts on PATH that speak the helpers' protocol)."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

import pytest
from ws.errors import RegistryError
from ws.registry.logins import Login, holds_logins, login_for

HOST = "localhost:5000"
REFRESH = "refresh"


def config(folder: Path, **fields: object) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(fields))
    return folder


def basic(user: str, password: str) -> str:
    return base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.fixture
def helpers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder on PATH for docker-credential-* programs."""
    folder = tmp_path / "bin"
    folder.mkdir()
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ['PATH']}")
    return folder


def helper(folder: Path, name: str, script: str) -> None:
    """docker-credential-NAME: reads the host on stdin, then runs script (sh)."""
    path = folder / f"docker-credential-{name}"
    path.write_text(f'#!/bin/sh\n[ "$1" = get ] || exit 3\nread host\n{script}\n')
    path.chmod(0o755)


def test_no_config_file_is_no_login(tmp_path: Path) -> None:
    assert login_for(HOST, tmp_path / "absent") is None


def test_an_auths_entry_matches_with_or_without_scheme_and_path(tmp_path: Path) -> None:
    for key in (HOST, f"http://{HOST}", f"https://{HOST}/v1/"):
        folder = config(tmp_path / key.replace("/", "_"), auths={key: {"auth": basic("a", "pw")}})
        login = login_for(HOST, folder)
        assert login is not None
        assert (login.username, login.secret, login.identity_token) == ("a", "pw", False)
        assert "pw" not in repr(login), "a secret never shows in a repr"
    other = config(tmp_path / "other", auths={"localhost:5001": {"auth": basic("a", "pw")}})
    assert login_for(HOST, other) is None


def test_username_password_and_identity_token_fields(tmp_path: Path) -> None:
    plain = config(tmp_path / "p", auths={HOST: {"auth": basic("u", "p")}})
    assert login_for(HOST, plain) == Login("u", "p", login_source(plain))
    # docker-py, like `docker login`, keeps a login only in `auth`: loose fields are none
    loose = config(tmp_path / "l", auths={HOST: {"username": "u", "password": "p"}})
    assert login_for(HOST, loose) is None
    token = config(tmp_path / "t", auths={HOST: {"identitytoken": REFRESH}})
    login = login_for(HOST, token)
    assert login is not None and login.identity_token and login.secret == REFRESH
    assert login_for(HOST, config(tmp_path / "e", auths={HOST: {}})) is None


def login_source(folder: Path) -> str:
    return f"{folder / 'config.json'} (auths {HOST!r})"


def test_a_config_that_is_not_json_is_an_error_without_its_content(tmp_path: Path) -> None:
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "config.json").write_text('{"auths": {"x": {"auth": "c2VjcmV0"}')
    with pytest.raises(RegistryError) as caught:
        login_for(HOST, folder)
    assert str(folder / "config.json") in caught.value.message
    assert "c2VjcmV0" not in str(caught.value)


def test_a_bad_auth_field_names_the_entry_and_the_fix(tmp_path: Path) -> None:
    folder = config(tmp_path / "b", auths={HOST: {"auth": "%%%"}})
    with pytest.raises(RegistryError) as caught:
        login_for(HOST, folder)
    assert "auth field" in caught.value.message and "%%%" not in caught.value.message
    assert caught.value.fix == f"run `docker login {HOST}` again"


def test_cred_helpers_win_over_the_store_and_auths(tmp_path: Path, helpers: Path) -> None:
    helper(helpers, "team", 'printf \'{"ServerURL":"%s","Username":"t","Secret":"s"}\' "$host"')
    helper(helpers, "store", 'echo \'{"Username":"store","Secret":"x"}\'')
    folder = config(
        tmp_path / "c",
        auths={HOST: {"auth": basic("file", "f")}},
        credsStore="store",
        credHelpers={HOST: "team"},
    )
    assert login_for(HOST, folder) == Login("t", "s", "docker-credential-team")
    # Another registry takes the store, and never the auths entry docker leaves empty.
    assert login_for("localhost:5001", folder) == Login("store", "x", "docker-credential-store")


def test_a_helper_gets_the_host_and_may_answer_an_identity_token(
    tmp_path: Path, helpers: Path
) -> None:
    helper(
        helpers,
        "echo",
        '[ "$host" = localhost:5000 ] || exit 4\n'
        'echo \'{"Username":"<token>","Secret":"refresh"}\'',
    )
    login = login_for(HOST, config(tmp_path / "c", credsStore="echo"))
    assert login is not None and login.identity_token and login.secret == REFRESH


def test_a_helper_without_a_login_is_no_login(tmp_path: Path, helpers: Path) -> None:
    helper(helpers, "empty", "echo 'credentials not found in native keychain'; exit 1")
    assert login_for(HOST, config(tmp_path / "c", credsStore="empty")) is None


def test_a_failing_or_missing_helper_is_one_error(tmp_path: Path, helpers: Path) -> None:
    helper(helpers, "broken", "echo 'secret-in-stderr' >&2; exit 2")
    with pytest.raises(RegistryError) as caught:
        login_for(HOST, config(tmp_path / "b", credsStore="broken"))
    assert "docker-credential-broken failed" in caught.value.message
    assert "secret-in-stderr" not in str(caught.value)
    with pytest.raises(RegistryError) as caught:
        login_for(HOST, config(tmp_path / "m", credHelpers={HOST: "missing"}))
    assert "docker-credential-missing, which is not installed" in caught.value.message


@pytest.mark.parametrize(
    ("fields", "holds"),
    [
        (None, False),
        ({}, False),
        ({"auths": {}, "credHelpers": {}}, False),
        ({"auths": {"localhost:5000": {"auth": "eDp5"}}}, True),
        ({"credsStore": "desktop"}, True),
        ({"credHelpers": {"localhost:5000": "ecr-login"}}, True),
    ],
)
def test_whether_docker_config_holds_any_login(
    tmp_path: Path, fields: dict[str, object] | None, holds: bool
) -> None:
    """What decides whether a build session serves registry logins at all (no helper runs)."""
    folder = tmp_path / "docker"
    folder.mkdir()
    if fields is not None:
        config(folder, **fields)
    assert holds_logins(folder) is holds


def test_a_docker_config_that_cannot_be_read_may_hold_logins(tmp_path: Path) -> None:
    """login_for says what is wrong with it once a registry asks; until then ws assumes it may."""
    (tmp_path / "config.json").write_text("{not json")
    assert holds_logins(tmp_path)

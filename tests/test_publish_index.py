"""The index's simple API as ws reads it (PEP 691 JSON and PEP 503 HTML, from a real
pypiserver and a loopback index), and the target and credentials named as uv names them."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from ws.errors import ConfigError, WsError
from ws.publish.index import IndexAuth, _html_files, _json_files, published_files
from ws.publish.target import PYPI_UPLOAD, Target, env_key, find_credentials, find_target

from tests.support.pyindex import LocalIndex
from tests.support.pypiserver import PyPIServer, free_port, pypiserver

__all__ = ["pypiserver"]  # a fixture: imported for pytest to find

SHA = "ab" * 32


def test_files_from_pypiserver(pypiserver: PyPIServer) -> None:
    (pypiserver.folder / "demo-1.0-py3-none-any.whl").write_bytes(b"wheel")
    found = published_files(pypiserver.url, "demo", None)
    assert found == {"demo-1.0-py3-none-any.whl": hashlib.sha256(b"wheel").hexdigest()}
    assert published_files(pypiserver.url, "nothing-here", None) == {}


def test_files_from_a_pep_503_index(pyindex: LocalIndex) -> None:
    found = published_files(pyindex.url, "alpha", IndexAuth("user", "pw"))
    assert set(found) == {w.filename for w in pyindex.releases("alpha")}
    assert all(digest and len(digest) == 64 for digest in found.values())


def test_json_and_html_pages() -> None:
    body = json.dumps(
        {"meta": {}, "files": [{"filename": "x-1.tar.gz", "hashes": {"sha256": SHA}}]}
    )
    assert _json_files(body) == {"x-1.tar.gz": SHA}
    html = f'<a href="../../files/x-1.tar.gz#sha256={SHA}">x</a><a href="/f/x%2B-2.whl">y</a>'
    assert _html_files(html) == {"x-1.tar.gz": SHA, "x+-2.whl": None}


def test_an_index_that_does_not_answer() -> None:
    with pytest.raises(WsError, match="refused to list demo .*cannot reach it"):
        published_files(f"http://user:secret@127.0.0.1:{free_port()}/simple/", "demo", None)


def test_the_error_shows_no_credentials_of_the_url() -> None:
    with pytest.raises(WsError) as caught:
        published_files(f"http://user:secret@127.0.0.1:{free_port()}/simple/", "demo", None)
    assert "secret" not in caught.value.message


ROOT_DATA = {
    "tool": {
        "uv": {
            "index": [
                {"name": "local", "url": "http://127.0.0.1:1/simple/", "default": True},
                {
                    "name": "corp-pypi",
                    "url": "https://corp/simple/",
                    "publish-url": "https://corp/up/",
                },
                {"name": "pinned", "url": "https://pinned/simple/", "explicit": True},
            ]
        }
    }
}


def test_targets(tmp_path: Path) -> None:
    corp = find_target(tmp_path, ROOT_DATA, "corp-pypi")
    assert (corp.url, corp.publish_url) == ("https://corp/simple/", "https://corp/up/")
    assert corp.others == ("local=http://127.0.0.1:1/simple/",)  # explicit ones stay out
    assert corp.default == "http://127.0.0.1:1/simple/"
    assert find_target(tmp_path, ROOT_DATA, None).publish_url == PYPI_UPLOAD
    with pytest.raises(ConfigError, match="no \\[\\[tool.uv.index\\]\\] is named 'nope'"):
        find_target(tmp_path, ROOT_DATA, "nope")
    with pytest.raises(ConfigError, match="'local' has no publish-url"):
        find_target(tmp_path, ROOT_DATA, "local")


def test_credentials(tmp_path: Path) -> None:
    corp = find_target(tmp_path, ROOT_DATA, "corp-pypi")
    assert env_key("corp-pypi") == "CORP_PYPI"
    token = find_credentials(corp, {"UV_PUBLISH_TOKEN": "t"})
    assert not token.trusted and token.upload_env == {}
    named = find_credentials(
        corp, {"UV_INDEX_CORP_PYPI_USERNAME": "u", "UV_INDEX_CORP_PYPI_PASSWORD": "p"}
    )
    assert named.upload_env == {"UV_PUBLISH_USERNAME": "u", "UV_PUBLISH_PASSWORD": "p"}
    assert named.read == IndexAuth("u", "p")
    github = {"GITHUB_ACTIONS": "true", "ACTIONS_ID_TOKEN_REQUEST_URL": "https://x"}
    assert find_credentials(corp, github).trusted
    assert find_credentials(corp, {"GITLAB_CI": "true", "PYPI_ID_TOKEN": "eyJ..."}).trusted
    with pytest.raises(WsError, match="id_tokens"):
        find_credentials(corp, {"GITLAB_CI": "true"})
    with pytest.raises(WsError, match="no credentials to publish to corp-pypi"):
        find_credentials(corp, {"GITHUB_ACTIONS": "true"})


def test_uv_defaults_and_uv_toml(tmp_path: Path) -> None:
    own = {"tool": {"uv": {"publish-url": "https://corp/up/", "check-url": "https://corp/simple/"}}}
    assert find_target(tmp_path, own, None).publish_url == "https://corp/up/"
    assert find_target(tmp_path, own, None).url == "https://corp/simple/"
    no_check = {"tool": {"uv": {"publish-url": "https://corp/up/"}}}
    with pytest.raises(ConfigError, match="without `tool.uv.check-url`"):
        find_target(tmp_path, no_check, None)
    (tmp_path / "uv.toml").write_text(
        '[[index]]\nname = "team"\nurl = "https://team/simple/"\npublish-url = "https://team/up/"\n'
    )
    assert (
        find_target(tmp_path, ROOT_DATA, "team").publish_url == "https://team/up/"
    )  # uv.toml wins
    with pytest.raises(ConfigError, match=r"uv.toml: no \[\[index\]\] is named 'corp-pypi'"):
        find_target(tmp_path, ROOT_DATA, "corp-pypi")


def test_credentials_in_the_urls(pypiserver: PyPIServer) -> None:
    (pypiserver.folder / "demo-1.0.tar.gz").write_bytes(b"sdist")
    with_user = pypiserver.url.replace("http://", "http://reader:pw@")
    assert list(published_files(with_user, "demo", None)) == ["demo-1.0.tar.gz"]
    target = Target("corp", "https://corp/simple/", "https://u:secret@corp/up/")
    assert find_credentials(target, {}).trusted is False

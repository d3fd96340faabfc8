"""Trusted publishing (`uv publish --trusted-publishing always`) the way it runs on GitHub
Actions, against a loopback https stand-in for the runner's token endpoint and the index's
token exchange, with a throwaway certificate authority given to uv through SSL_CERT_FILE."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.gitrepo import GitRepo
from tests.support.oidc_standin import MINTED, REQUEST_TOKEN, OidcStandIn
from tests.support.publishing import actions, libraries, make_repo, publish_env, report, ws_publish
from tests.support.pyindex import LocalIndex
from tests.support.pypiserver import PyPIServer, pypiserver

__all__ = ["pypiserver"]  # a fixture: imported for pytest to find


@pytest.fixture
def standin(tmp_path: Path, pypiserver: PyPIServer) -> Iterator[OidcStandIn]:
    server = OidcStandIn(tmp_path / "tls", pypiserver)
    yield server
    server.close()


@pytest.fixture
def repo(
    tmp_path: Path, pyindex: LocalIndex, pypiserver: PyPIServer, standin: OidcStandIn
) -> GitRepo:
    repo = make_repo(tmp_path / "ws", pyindex.url, pypiserver, libraries())
    text = (repo.path / "pyproject.toml").read_text()
    text = text.replace(pypiserver.url, f"{standin.base}/simple/")
    text = text.replace(pypiserver.upload_url, f"{standin.base}/legacy/")
    repo.commit_files({"pyproject.toml": text})
    return repo


def github_env(tmp_path: Path, standin: OidcStandIn) -> dict[str, str]:
    """A GitHub Actions job with `permissions: id-token: write`, and no other credentials."""
    env = publish_env(tmp_path / "uv", SSL_CERT_FILE=str(standin.ca))
    env = {k: v for k, v in env.items() if not k.startswith("UV_PUBLISH_")}
    return env | {
        "GITHUB_ACTIONS": "true",
        "ACTIONS_ID_TOKEN_REQUEST_URL": f"{standin.base}/id-token?api-version=2.0",
        "ACTIONS_ID_TOKEN_REQUEST_TOKEN": REQUEST_TOKEN,
    }


def test_trusted_publishing_through_the_token_exchange(
    repo: GitRepo, standin: OidcStandIn, pypiserver: PyPIServer, tmp_path: Path
) -> None:
    result = ws_publish(repo.path, github_env(tmp_path, standin), "--json")
    data = report(result)
    assert set(actions(data).values()) == {"uploaded"}
    assert data["smoke"] == "passed"
    assert len(pypiserver.files()) == 6
    exchange = [
        seen for seen in standin.seen if seen[1] != "/simple/" and "/simple/" not in seen[1]
    ]
    first_upload = exchange.index(("POST", "/legacy/"))
    assert exchange[:first_upload] == [
        ("GET", "/_/oidc/audience"),
        ("GET", "/id-token"),
        ("POST", "/_/oidc/mint-token"),
    ]
    assert MINTED not in result.output and REQUEST_TOKEN not in result.output


def test_without_the_id_token_permission_nothing_is_uploaded(
    repo: GitRepo, standin: OidcStandIn, pypiserver: PyPIServer, tmp_path: Path
) -> None:
    env = github_env(tmp_path, standin)
    del env["ACTIONS_ID_TOKEN_REQUEST_URL"]  # what a job without id-token: write sees
    result = ws_publish(repo.path, env)
    assert result.exit_code == 1
    assert "no credentials to publish to pub" in result.output
    assert "id-token: write" in result.output
    assert pypiserver.files() == []

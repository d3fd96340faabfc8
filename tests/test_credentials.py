"""The credential deny list: broad on secrets, narrow enough to let ordinary code through."""

from __future__ import annotations

import pytest
from ws.docker.builds.credentials import credential_reason


@pytest.mark.parametrize(
    "path",
    [
        "pkg/.netrc",
        "pkg/.git-credentials",
        "pkg/.aws/credentials",
        "pkg/.aws/config",
        "pkg/.docker/config.json",
        "pkg/.envrc",
        "pkg/.env",
        "pkg/.env.production",
        "pkg/prod.env",
        "pkg/id_ecdsa",
        "pkg/id_dsa",
        "pkg/deploy/id_rsa_ci",
        "pkg/cert.p12",
        "pkg/CERT.P12",
        "pkg/tls/server.key",
        "pkg/tls/server.pem",
        "pkg/credentials",
        "pkg/.npmrc",
        "pkg/.pypirc",
        "pkg/.ssh/known_hosts",
        "pkg/.kube/config",
        "home/.config/gcloud/application_default_credentials.json",
        ".netrc",
    ],
)
def test_credential_files_are_denied(path: str) -> None:
    assert credential_reason(path)


@pytest.mark.parametrize(
    "path",
    [
        "pkg/src/app/credentials.py",
        "pkg/src/app/id_map.py",
        "pkg/deploy/id_rsa.pub",
        "pkg/environment.py",
        "pkg/docker/config.json",
        "pkg/src/credentials/__init__.py",
        "pkg/.envrc.example.md",
        "pkg/keys.py",
    ],
)
def test_ordinary_files_pass(path: str) -> None:
    assert credential_reason(path) is None

"""Registry logins for the build session's Auth service, as the docker CLI gives them: from
docker's config.json (`auths`, `credsStore`, `credHelpers`), read through docker-py."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import docker.auth
import docker.errors

from ws.docker.session.plan import Logins

# BuildKit asks for Docker Hub by the host it pulls from; the CLI's config keys it otherwise.
_HUB_HOSTS = frozenset({"registry-1.docker.io", "docker.io", "index.docker.io"})


def docker_logins(config_dir: Path, heard: Callable[[str], None]) -> Logins:
    """A lookup of the login docker's config in config_dir holds for a registry host; each
    secret it gives is passed to heard (for masking) before it leaves. The config is read on
    the first request, so a build that pulls from no registry reads nothing."""
    lock = threading.Lock()
    loaded: list[docker.auth.AuthConfig] = []

    def lookup(host: str) -> tuple[str, str] | None:
        with lock:
            if not loaded:
                loaded.append(docker.auth.load_config(str(config_dir / "config.json")))
        try:
            found = loaded[0].resolve_authconfig(None if host in _HUB_HOSTS else host)
        except docker.errors.DockerException:
            return None  # a credential helper that fails: the registry's 401 will say so
        login = _login(found or {})
        if login is not None:
            heard(login[1])
        return login

    return lookup


def _login(found: dict[str, str]) -> tuple[str, str] | None:
    token = found.get("IdentityToken")
    if token:
        return "", token
    username = found.get("username") or found.get("Username") or ""
    password = found.get("password") or found.get("Password") or ""
    return (username, password) if username or password else None

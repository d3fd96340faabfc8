"""Registry logins for the build session's Auth service, as the docker CLI gives them: from
docker's config.json (`auths`, `credsStore`, `credHelpers`), read by ws.registry.logins."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ws.docker.session.plan import Logins
from ws.errors import RegistryError
from ws.registry.logins import holds_logins, login_for


def docker_logins(config_dir: Path, heard: Callable[[str], None]) -> Logins | None:
    """A lookup of the login docker's config in config_dir holds for a registry host; each
    secret it gives is passed to heard (for masking) before it leaves. None when the config
    names no login at all: the session then serves no Auth, and BuildKit pulls anonymously.
    No login is looked up (no helper runs) until the engine asks."""
    if not holds_logins(config_dir):
        return None

    def lookup(host: str) -> tuple[str, str] | None:
        try:
            login = login_for(host, config_dir)
        except RegistryError:
            return None  # a broken config or helper: the registry's 401 will say so
        if login is None:
            return None
        heard(login.secret)
        return login.username, login.secret

    return lookup

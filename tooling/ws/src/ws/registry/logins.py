"""The login `docker login` stored for a registry, read by docker-py as the docker CLI reads
it: the credential helper credHelpers names for the registry, else the credsStore helper,
else the auths entry in config.json. The one reader of docker's logins, for the result store
and the build session alike. A secret is never printed: Login hides it from repr, and no
message here quotes a file's or a helper's content."""

from __future__ import annotations

import binascii
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ws.errors import RegistryError
from ws.printable import printable

# BuildKit asks for Docker Hub by the host it pulls from (HUB_HOST: also the registry of an
# image reference that names none); docker's config keys it otherwise.
HUB_HOST = "registry-1.docker.io"
HUB_HOSTS = frozenset({HUB_HOST, "docker.io", "index.docker.io"})


@dataclass(frozen=True)
class Login:
    """A username and its secret for one registry. identity_token: the secret is an OAuth2
    refresh token, exchanged at the token service, never sent to the registry itself.
    source says where it was found, for messages."""

    username: str
    secret: str = field(repr=False)
    source: str
    identity_token: bool = False


def login_for(registry: str, config_dir: Path) -> Login | None:
    """The login docker holds for registry (host[:port]) in config_dir (DOCKER_CONFIG, or
    ~/.docker), None when there is none. A config.json that cannot be read, an auth field
    that is not a login, or a helper that fails is a RegistryError naming it."""
    import docker.auth  # docker-py: only a run that needs a login pays for it
    import docker.errors

    path = config_dir / "config.json"
    data = _read_config(path)
    parsed: dict[str, Any] = {k: data[k] for k in ("credsStore", "credHelpers") if k in data}
    try:  # as docker.auth.load_config, but from the bytes read once above
        parsed["auths"] = docker.auth.AuthConfig.parse_auth(data.get("auths") or {}, True)
    except (docker.errors.DockerException, binascii.Error, ValueError, UnicodeDecodeError) as e:
        raise RegistryError(
            f"{printable(str(path))}: the auth field for {registry} is not base64 of user:password",
            fix=f"run `docker login {registry}` again",
        ) from e
    config = docker.auth.AuthConfig(parsed)
    host = None if registry in HUB_HOSTS else registry
    helper = config.get_credential_store(host)
    try:
        found = config.resolve_authconfig(host)
    except docker.errors.DockerException as e:
        raise _helper_error(helper or "", registry, str(e)) from e
    return _login(found or {}, f"docker-credential-{helper}" if helper else _source(path, found))


def holds_logins(config_dir: Path) -> bool:
    """Whether docker's config in config_dir may give a login for any registry (an auths
    entry, a credential store or helper); one file read, no helper run. A config that cannot
    be read may: login_for says what is wrong with it when a registry is asked for."""
    try:
        data = _read_config(config_dir / "config.json")
    except RegistryError:
        return True
    return any(data.get(key) for key in ("auths", "credsStore", "credHelpers"))


def _read_config(path: Path) -> dict[str, Any]:
    """config.json as docker-py takes it (its own reader hides a broken file)."""
    try:
        data = json.loads(path.read_bytes())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as e:
        problem = e.strerror if isinstance(e, OSError) else "it is not valid JSON"
        raise RegistryError(
            f"cannot read docker's login file {printable(str(path))}: {problem}",
            fix="run `docker login` again to rewrite it, or point DOCKER_CONFIG elsewhere",
        ) from e
    return data if isinstance(data, dict) else {}


def _source(path: Path, found: dict[str, Any] | None) -> str:
    key = (found or {}).get("serveraddress") or (found or {}).get("ServerAddress") or "?"
    return f"{printable(str(path))} (auths {printable(str(key))!r})"


def _login(found: dict[str, Any], source: str) -> Login | None:
    token = found.get("IdentityToken")
    if isinstance(token, str) and token:
        return Login("", token, source, identity_token=True)
    username = found.get("username") or found.get("Username") or ""
    secret = found.get("password") or found.get("Password") or ""
    return Login(username, secret, source) if username and secret else None


def _helper_error(helper: str, registry: str, why: str) -> RegistryError:
    program = printable(f"docker-credential-{helper}")
    if "not installed" in why:
        return RegistryError(
            f"docker's configuration names the credential helper {program}, which is not installed",
            fix=f"install {program} or remove it from docker's config.json",
        )
    return RegistryError(
        f"the credential helper {program} failed",  # its output may hold a secret: not quoted
        fix=f"run `echo {registry} | {program} get` to see why",
    )

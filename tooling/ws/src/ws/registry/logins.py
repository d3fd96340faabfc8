"""The login `docker login` stored for a registry, read as the docker CLI reads it: the
credential helper credHelpers names for the registry, else the credsStore helper, else the
auths entry in config.json. A secret is never printed: Login hides it from repr, and no
message here quotes a file's or a helper's content."""

from __future__ import annotations

import base64
import binascii
import json
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ws import proc
from ws.cli.display import printable
from ws.errors import CommandFailed, RegistryError, ToolNotFound

HELPER_TIMEOUT = 30.0
# What a helper answers as the user of an OAuth2 refresh token (S105: a marker, no secret).
IDENTITY_TOKEN_USER = "<token>"  # noqa: S105
_NOT_FOUND = "credentials not found"  # the helpers' shared text for "no login here"


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
    ~/.docker), None when there is none. A config.json ws cannot read, or a helper that
    fails, is a RegistryError naming it."""
    path = config_dir / "config.json"
    config = _read_config(path)
    helpers = config.get("credHelpers")
    helper = helpers.get(registry) if isinstance(helpers, dict) else None
    helper = helper or config.get("credsStore")
    if isinstance(helper, str) and helper:
        return _from_helper(helper, registry)
    auths = config.get("auths")
    for key, entry in auths.items() if isinstance(auths, dict) else ():
        if _host_of(key) == registry and isinstance(entry, dict):
            return _from_entry(entry, path, key)
    return None


def _read_config(path: Path) -> dict[str, Any]:
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


def _host_of(key: str) -> str:
    """An auths key as docker matches it: "https://host:port/v1/" and "host:port" alike."""
    return key.split("://", 1)[-1].split("/", 1)[0]


def _from_entry(entry: dict[str, Any], path: Path, key: str) -> Login | None:
    source = f"{printable(str(path))} (auths {printable(key)!r})"
    token = entry.get("identitytoken")
    username, secret = entry.get("username"), entry.get("password")
    if isinstance(entry.get("auth"), str) and entry["auth"]:
        try:
            username, colon, secret = (
                base64.b64decode(entry["auth"], validate=True).decode().partition(":")
            )
            if not colon:
                raise ValueError("no ':'")
        except (binascii.Error, ValueError) as e:
            raise RegistryError(
                f"{source}: the auth field is not base64 of user:password",
                fix=f"run `docker login {_host_of(key)}` again",
            ) from e
    if isinstance(token, str) and token:
        return Login(username or "", token, source, identity_token=True)
    if isinstance(username, str) and username and isinstance(secret, str):
        return Login(username, secret, source)
    return None


def _from_helper(helper: str, registry: str) -> Login | None:
    program = f"docker-credential-{helper}"
    try:
        done = proc.run([program, "get"], stdin=registry, timeout=HELPER_TIMEOUT)
    except ToolNotFound as e:
        raise RegistryError(
            f"docker's configuration names the credential helper {printable(program)}, "
            "which is not installed",
            fix=f"install {printable(program)} or remove it from docker's config.json",
        ) from e
    except subprocess.TimeoutExpired as e:
        raise RegistryError(
            f"the credential helper {printable(program)} did not answer within "
            f"{HELPER_TIMEOUT:g} s",
            fix=f"run `echo {registry} | {printable(program)} get` to see what it waits for",
        ) from e
    except CommandFailed as e:
        if _NOT_FOUND in (e.stdout + e.stderr).lower():
            return None
        raise RegistryError(
            f"the credential helper {printable(program)} failed (exit {e.returncode})",
            fix=f"run `echo {registry} | {printable(program)} get` to see why",
        ) from e
    return _from_answer(done.stdout, program, registry)


def _from_answer(text: str, program: str, registry: str) -> Login | None:
    try:
        answer = json.loads(text)
        username, secret = answer["Username"], answer["Secret"]
    except (ValueError, KeyError, TypeError) as e:
        raise RegistryError(
            f"the credential helper {printable(program)} answered something that is not a login",
            fix=f"run `docker login {registry}` again",
        ) from e
    if not isinstance(username, str) or not isinstance(secret, str) or not secret:
        return None
    if username == IDENTITY_TOKEN_USER:
        return Login("", secret, program, identity_token=True)
    return Login(username, secret, program)

"""Where a release goes, named as uv names it (a `[[tool.uv.index]]` with a `publish-url`,
or uv's default, PyPI), and with which credentials: a token or a password from uv's own
variables, or trusted publishing in CI. Read from values passed in, never from os.environ."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ws.errors import ConfigError, WsError
from ws.publish.index import IndexAuth

PYPI_SIMPLE = "https://pypi.org/simple/"
PYPI_UPLOAD = "https://upload.pypi.org/legacy/"


@dataclass(frozen=True)
class Target:
    name: str  # the index's name in [[tool.uv.index]], "pypi" for uv's default
    url: str  # its simple API: where ws asks what it holds, and the smoke test installs from
    publish_url: str  # where uv publish uploads
    others: tuple[str, ...] = ()  # the workspace's other indexes, NAME=URL, for the smoke test
    default: str | None = None  # the workspace's default index, if it names one


@dataclass(frozen=True)
class Credentials:
    trusted: bool  # through the CI's OIDC token exchange
    upload_env: dict[str, str]  # what to add to uv publish's environment
    read: IndexAuth | None  # for the index's simple API


def find_target(root: Path, pyproject: Mapping[str, Any], name: str | None) -> Target:
    """The index called name in the workspace's [[tool.uv.index]] (of the root uv.toml when
    there is one, as uv reads it, else of the root pyproject.toml), or for None what uv
    publish uses without --index: `publish-url` and `check-url`, else PyPI."""
    settings, source, table = uv_settings(root, pyproject)
    indexes = _indexes(settings, source, table)
    default = next((i["url"] for i in indexes if i.get("default") is True), None)
    if name is None:
        others = tuple(_named(i) for i in indexes if not i.get("explicit"))
        return Target("pypi", *_default_urls(settings, source, table), others, default)
    found = next((i for i in indexes if i.get("name") == name), None)
    known = ", ".join(str(i.get("name")) for i in indexes) or "none"
    if found is None:
        raise ConfigError(
            source,
            f"no [[{table}index]] is named {name!r} (named: {known})",
            fix=f'add [[{table}index]] name = "{name}" with url and publish-url',
        )
    if not isinstance(found.get("publish-url"), str):
        raise ConfigError(
            source,
            f"[[{table}index]] {name!r} has no publish-url",
            fix='add publish-url = "https://.../legacy/" (where uv publish uploads)',
        )
    others = tuple(_named(i) for i in indexes if i is not found and not i.get("explicit"))
    return Target(name, found["url"], found["publish-url"], others, default)


def uv_settings(root: Path, pyproject: Mapping[str, Any]) -> tuple[Mapping[str, Any], Path, str]:
    """uv's settings at the workspace root, where they came from, and their table prefix."""
    uv_toml = root / "uv.toml"
    if uv_toml.is_file():
        from ws.workspace.members import read_toml

        return read_toml(uv_toml), uv_toml, ""
    tool = pyproject.get("tool")
    settings = tool.get("uv") if isinstance(tool, dict) else None
    return settings if isinstance(settings, dict) else {}, root / "pyproject.toml", "tool.uv."


def _default_urls(settings: Mapping[str, Any], source: Path, table: str) -> tuple[str, str]:
    """The simple API and the upload URL of `uv publish` without --index."""
    publish_url, check_url = settings.get("publish-url"), settings.get("check-url")
    if publish_url is None:
        return check_url or PYPI_SIMPLE, PYPI_UPLOAD
    if not isinstance(check_url, str):
        raise ConfigError(
            source,
            f"`{table}publish-url` is set without `{table}check-url`, so ws cannot ask that "
            "index what it holds",
            fix=f'set {table}check-url = "https://.../simple/" (its simple API), or name an '
            "index with --index",
        )
    return check_url, publish_url


def _indexes(settings: Mapping[str, Any], source: Path, table: str) -> list[dict[str, Any]]:
    entries = settings.get("index", [])
    if not isinstance(entries, list) or not all(
        isinstance(e, dict) and isinstance(e.get("url"), str) for e in entries
    ):
        raise ConfigError(source, f"[[{table}index]] entries need a url", fix='url = "..."')
    return entries


def _named(index: Mapping[str, Any]) -> str:
    return f"{index['name']}={index['url']}" if index.get("name") else index["url"]


def env_key(index_name: str) -> str:
    """uv's spelling of an index name in its variables: UV_INDEX_<NAME>_USERNAME."""
    return re.sub(r"[^A-Z0-9]", "_", index_name.upper())


def find_credentials(target: Target, env: Mapping[str, str]) -> Credentials:
    """The credentials uv publish will use, found before anything is built or uploaded."""
    key = env_key(target.name)
    user, password = env.get(f"UV_INDEX_{key}_USERNAME"), env.get(f"UV_INDEX_{key}_PASSWORD")
    read = IndexAuth(user or "", password) if password else None
    in_url = urlsplit(target.publish_url).password  # https://user:password@host/legacy/
    if env.get("UV_PUBLISH_TOKEN") or env.get("UV_PUBLISH_PASSWORD") or in_url:
        return Credentials(False, {}, read)
    if password:
        upload = {"UV_PUBLISH_USERNAME": user or "__token__", "UV_PUBLISH_PASSWORD": password}
        return Credentials(False, upload, read)
    if oidc_available(env):
        return Credentials(True, {}, read)
    raise WsError(
        f"no credentials to publish to {target.name} ({target.publish_url}); nothing was built "
        "or uploaded",
        fix=f"set UV_PUBLISH_TOKEN (or UV_PUBLISH_USERNAME and UV_PUBLISH_PASSWORD, or "
        f"UV_INDEX_{key}_USERNAME and UV_INDEX_{key}_PASSWORD), or publish from GitHub Actions "
        "with `permissions: id-token: write` or from GitLab CI with an `id_tokens:` entry "
        "(trusted publishing)",
    )


def oidc_available(env: Mapping[str, str]) -> bool:
    """Whether the CI job can hand uv an OIDC token, where uv's ambient-id looks for one:
    GitHub Actions with `id-token: write` (the runner's token endpoint in the environment),
    or GitLab CI with an `id_tokens:` entry (`<AUDIENCE>_ID_TOKEN`, PYPI_ID_TOKEN for PyPI)."""
    if env.get("GITHUB_ACTIONS") == "true":
        return bool(env.get("ACTIONS_ID_TOKEN_REQUEST_URL"))
    if env.get("GITLAB_CI") == "true":
        return any(key.endswith("_ID_TOKEN") and value for key, value in env.items())
    return False

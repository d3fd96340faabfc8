"""What each image's build session offers, worked out before the first build: the netrc of
its lock's index logins, the host keys of its ssh git hosts, the ssh agent, registry logins;
and the errors for what is missing, all before any context goes to the engine.

The generated Dockerfiles mount the two secrets into the `uv sync` steps alone (a netrc that
NETRC names, known hosts where ssh reads them) and the agent with `--mount=type=ssh`: secrets
are no cache keys and enter no layer.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ws.docker.generate.render import KNOWN_HOSTS_SECRET, NETRC_SECRET
from ws.docker.session.indexes import (
    Index,
    IndexLogins,
    Where,
    configured_indexes,
    find_logins,
    lock_sources,
    variable_indexes,
)
from ws.docker.session.known_hosts import matching_lines
from ws.errors import WsError
from ws.workspace.members import read_toml

MASK = "****"

# A registry host -> (username, secret), or None for an anonymous pull.
Logins = Callable[[str], tuple[str, str] | None]


@dataclass(frozen=True)
class Access:
    """Where credentials live on this machine, read at the edge (the CLI)."""

    where: Where  # uv's variables and netrc
    ssh_agent: str | None  # SSH_AUTH_SOCK
    known_hosts: tuple[Path, ...]  # ~/.ssh/known_hosts, /etc/ssh/ssh_known_hosts
    docker_config: Path  # the folder of docker's config.json


@dataclass(frozen=True)
class Offer:
    """What one session gives the builds that name it."""

    secrets: Mapping[str, bytes] = field(default_factory=dict)
    ssh_agent: str | None = None  # the host agent's socket, forwarded as "default"
    logins: Logins | None = None
    index_logins: IndexLogins = field(default_factory=IndexLogins)


def index_tables(root_data: Mapping[str, Any], root: Path) -> list[object]:
    """The workspace's index tables: `[[tool.uv.index]]` in the root pyproject.toml, and
    `[[index]]` in a root uv.toml (uv reads both, uv.toml's first)."""
    tables: list[object] = []
    uv_toml = root / "uv.toml"
    if uv_toml.is_file():
        tables += _list(read_toml(uv_toml).get("index"))
    tool = root_data.get("tool")
    uv = tool.get("uv") if isinstance(tool, dict) else None
    if isinstance(uv, dict):
        tables += _list(uv.get("index"))
    return tables


def _list(value: object) -> list[object]:
    return list(value) if isinstance(value, list) else []


def member_offer(
    lock: Path,
    data: bytes | None,
    lock_rel: str,
    uv_tables: list[object],
    access: Access,
    logins: Logins | None,
    asked: dict[str, bool] | None = None,
) -> Offer:
    """The session offer of an image installing from lock, as read (data; lock_rel for
    messages), given
    the workspace's index tables (asked: indexes asked whether they want a login, shared by
    the images of a run). Errors name what is missing and where uv would look."""
    sources = lock_sources(lock, data)
    configured = {  # uv's variables come before the indexes of its files
        **configured_indexes(uv_tables),
        **variable_indexes(access.where.environ),
    }
    indexes = [configured.get(url) or Index(url) for url in sources.indexes]
    index_logins = find_logins(indexes, access.where, lock_rel, asked)
    secrets = {NETRC_SECRET: index_logins.netrc()} if index_logins.logins else {}
    if sources.ssh_hosts:
        _require_agent(access, lock_rel)
        lines, unknown = matching_lines(sources.ssh_hosts, access.known_hosts)
        if unknown:
            raise WsError(
                f"{lock_rel} installs from git over ssh at {', '.join(unknown)}, whose host key "
                f"is in none of {', '.join(map(str, access.known_hosts))}",
                fix="connect once with ssh (it asks to add the key), or add the key with "
                "ssh-keyscan after checking it, then build again",
            )
        secrets[KNOWN_HOSTS_SECRET] = lines.encode("utf-8")
    return Offer(secrets, access.ssh_agent, logins, index_logins)


def _require_agent(access: Access, lock_rel: str) -> None:
    if access.ssh_agent is None or not Path(access.ssh_agent).exists():
        raise WsError(
            f"{lock_rel} installs from git over ssh, and no ssh agent runs here to forward "
            "to the build (SSH_AUTH_SOCK is unset, or names no socket)",
            fix="start one and add your key (eval $(ssh-agent) && ssh-add), then build again",
        )


class Redactor:
    """Every secret a build was handed, masked in whatever ws prints of it."""

    def __init__(self) -> None:
        self._secrets: set[str] = set()
        self._lock = threading.Lock()

    def add(self, *secrets: str) -> None:
        with self._lock:
            self._secrets.update(s for s in secrets if s)

    def __call__(self, text: str) -> str:
        with self._lock:
            secrets = sorted(self._secrets, key=len, reverse=True)
        for secret in secrets:
            text = text.replace(secret, MASK)
        return text

"""The credentials uv would use on the host for the indexes a member lock installs from, as
one netrc for the image's `uv sync` steps, and the ssh hosts its git sources come from.

uv looks for an index's credentials in the URL (`UV_INDEX=https://user:pass@host/simple`),
in `UV_INDEX_<NAME>_USERNAME` / `_PASSWORD` for a named `[[tool.uv.index]]`, then in the
netrc (`NETRC`, else `~/.netrc`); ws looks in the same places, in the same order (uv's own
credential store and keyring are not read). A netrc keys logins by host, which is also how
uv matches the files an index serves on that host.
"""

from __future__ import annotations

import netrc
import re
import tomllib
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from ipaddress import ip_address
from pathlib import Path
from typing import Any
from urllib.parse import SplitResult, unquote, urlsplit, urlunsplit

from ws.errors import ConfigError, WsError
from ws.printable import printable

PYPI = "https://pypi.org/simple"  # uv's default index: it wants no credentials
URL_VARIABLES = ("UV_INDEX", "UV_DEFAULT_INDEX", "UV_INDEX_URL", "UV_EXTRA_INDEX_URL")
PROBE_TIMEOUT = 5.0
_REFUSED = re.compile(r"\((?P<code>40[13]) (?P<reason>[A-Za-z ]+)\) for url \((?P<url>[^)\s]+)\)")


@dataclass(frozen=True)
class Index:
    """An index the lock installs from, and what the workspace's configuration says of it."""

    url: str  # without credentials or a trailing slash
    name: str | None = None
    authenticate: str = "auto"  # uv's `authenticate`: auto, always or never

    @property
    def host(self) -> str:
        return urlsplit(self.url).hostname or ""

    @property
    def variables(self) -> tuple[str, str] | None:
        """uv's variables for a named index's login: the name in capitals, every other
        character than a letter or digit as '_'."""
        if self.name is None:
            return None
        stem = "".join(c.upper() if c.isascii() and c.isalnum() else "_" for c in self.name)
        return f"UV_INDEX_{stem}_USERNAME", f"UV_INDEX_{stem}_PASSWORD"

    def __str__(self) -> str:
        return f"the index {self.name!r} ({self.url})" if self.name else f"the index {self.url}"


@dataclass(frozen=True)
class Login:
    host: str
    username: str
    password: str
    source: str  # where ws found it, for messages: never the secret itself


@dataclass(frozen=True)
class IndexLogins:
    """The logins a member's build gets: as a netrc, and the strings to mask in output."""

    logins: tuple[Login, ...] = ()

    def netrc(self) -> bytes:
        lines = [
            f"machine {x.host} login {x.username}"
            + (f" password {x.password}" if x.password else "")
            for x in self.logins
        ]
        return "".join(line + "\n" for line in lines).encode("utf-8")

    def secrets(self) -> tuple[str, ...]:
        return tuple(login.password for login in self.logins if login.password)

    def for_host(self, host: str) -> Login | None:
        return next((login for login in self.logins if login.host == host), None)


@dataclass(frozen=True)
class LockSources:
    """What a member lock fetches from outside: its indexes, and ssh hosts of git sources."""

    indexes: tuple[str, ...] = ()
    ssh_hosts: tuple[tuple[str, int], ...] = ()  # (host, port) with port 22 by default


def lock_sources(path: Path, text: bytes | None) -> LockSources:
    """The registries and the ssh git hosts the packages of the lock at path (text: its
    bytes as checked; None: none there) come from."""
    if text is None:
        raise ConfigError(path, "missing", fix="run `ws sync-locks`")
    try:
        data = tomllib.loads(text.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise ConfigError(path, f"cannot read the lock: {e}", fix="run `ws sync-locks`") from e
    indexes: dict[str, None] = {}
    hosts: dict[tuple[str, int], None] = {}
    for package in data.get("package", []):
        source = package.get("source") if isinstance(package, dict) else None
        if not isinstance(source, dict):
            continue
        if isinstance(source.get("registry"), str):
            indexes[bare_url(source["registry"])] = None
        git = source.get("git")
        if isinstance(git, str) and urlsplit(git).scheme in ("ssh", "git+ssh"):
            parts = urlsplit(git)
            hosts[(parts.hostname or "", parts.port or 22)] = None
    return LockSources(tuple(indexes), tuple(hosts))


def bare_url(url: str) -> str:
    """url without credentials, query or fragment, and without a trailing slash."""
    parts = urlsplit(url.strip())
    netloc = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme.lower(), netloc.lower(), parts.path.rstrip("/"), "", ""))


def configured_indexes(tables: Sequence[Any]) -> dict[str, Index]:
    """The `[[tool.uv.index]]` (or uv.toml `[[index]]`) tables by their bare URL."""
    found: dict[str, Index] = {}
    for table in tables:
        if isinstance(table, dict) and isinstance(table.get("url"), str):
            name = table.get("name") if isinstance(table.get("name"), str) else None
            policy = table.get("authenticate", "auto")
            url = bare_url(table["url"])
            found[url] = Index(url, name, policy if isinstance(policy, str) else "auto")
    return found


def _variable_urls(environ: Mapping[str, str]) -> list[tuple[str, str | None, str]]:
    """(url, name or None, variable) of each index uv's variables name (`name=url` or url)."""
    found = []
    for variable in URL_VARIABLES:
        for word in environ.get(variable, "").split():
            named = re.match(r"^([\w.-]+)=(.+)$", word)
            name, url = (named[1], named[2]) if named and "://" not in named[1] else (None, word)
            found.append((url, name, variable))
    return found


def variable_indexes(environ: Mapping[str, str]) -> dict[str, Index]:
    """The named indexes of uv's variables (`UV_INDEX=name=url`), by their bare URL: uv reads
    `UV_INDEX_<NAME>_USERNAME` for them too."""
    return {bare_url(u): Index(bare_url(u), n) for u, n, _v in _variable_urls(environ) if n}


def url_logins(environ: Mapping[str, str]) -> dict[str, tuple[str, str, str]]:
    """Credentials written into the index URLs of uv's variables: bare URL -> login."""
    found: dict[str, tuple[str, str, str]] = {}
    for url, _name, variable in _variable_urls(environ):
        parts = urlsplit(url)
        if parts.username:
            login = (unquote(parts.username), unquote(parts.password or ""), variable)
            found[bare_url(url)] = login
    return found


# ---------------------------------------------------------------- finding the logins


@dataclass(frozen=True)
class Where:
    """Where uv would look on this machine: the environment and the netrc file."""

    environ: Mapping[str, str]
    netrc_path: Path

    @classmethod
    def of(cls, environ: Mapping[str, str], home: Path) -> Where:
        path = environ.get("NETRC")
        return cls(environ, Path(path) if path else home / ".netrc")


def find_logins(
    indexes: Sequence[Index], where: Where, lock: str, asked: dict[str, bool] | None = None
) -> IndexLogins:
    """The login uv would use for each index, or one error naming those that ask for one
    when ws finds none (asked anonymously, they answer 401 or 403) and where uv would look.
    asked keeps the answers of the indexes asked, for the other images of the run."""
    asked = {} if asked is None else asked
    from_urls = url_logins(where.environ)
    table = _netrc(where.netrc_path)
    logins: dict[str, Login] = {}
    missing: list[Index] = []
    for index in indexes:
        login = _login(index, from_urls, where, table)
        if login is None:
            if index.url not in asked:
                asked[index.url] = _asks_for_login(index, where.environ)
            if asked[index.url]:
                missing.append(index)
            continue
        _add(logins, login, index)
    if missing:
        raise MissingCredentials(missing, where, lock)
    return IndexLogins(tuple(logins.values()))


def _login(
    index: Index,
    from_urls: Mapping[str, tuple[str, str, str]],
    where: Where,
    table: netrc.netrc | None,
) -> Login | None:
    if index.url in from_urls:
        username, password, variable = from_urls[index.url]
        return Login(index.host, username, password, f"the URL in {variable}")
    names = index.variables
    if names is not None and where.environ.get(names[0]):
        password = where.environ.get(names[1], "")
        return Login(index.host, where.environ[names[0]], password, f"{names[0]} and {names[1]}")
    entry = table.authenticators(index.host) if table is not None else None
    if entry is not None:
        username, _account, password = entry
        return Login(index.host, username, password or "", f"{where.netrc_path} ({index.host})")
    return None


def _add(logins: dict[str, Login], login: Login, index: Index) -> None:
    """Keep one login per host (a netrc holds no more); two different ones are an error."""
    if not login.username or _unfit(login.username) or _unfit(login.password):
        raise WsError(
            f"{index}: the login from {login.source} has no username, or a space or a quote "
            "in it, which the netrc ws hands the build cannot hold",
            fix="use a login without spaces or quotes (a token usually has none)",
        )
    known = logins.get(login.host)
    if known is not None and (known.username, known.password) != (login.username, login.password):
        raise WsError(
            f"{index}: {login.source} and {known.source} give two different logins for "
            f"{login.host}, and uv in the image matches logins by host",
            fix="use one login for every index on that host",
        )
    logins.setdefault(login.host, login)


def _unfit(value: str) -> bool:
    return any(c.isspace() for c in value) or '"' in value


def _netrc(path: Path) -> netrc.netrc | None:
    if not path.is_file():
        return None
    try:
        return netrc.netrc(str(path))
    except (netrc.NetrcParseError, OSError, UnicodeDecodeError) as e:
        raise ConfigError(path, f"cannot read the netrc: {e}", fix="correct the file") from e


def _asks_for_login(index: Index, environ: Mapping[str, str]) -> bool:
    """Whether index wants a login: `authenticate = "always"` says so, else one anonymous
    request for its root page answers 401 or 403. Any other failure is left to the build."""
    if index.authenticate == "always":
        return True
    if index.authenticate == "never" or index.url == PYPI:
        return False
    try:
        with _opener(index, environ).open(index.url + "/", timeout=PROBE_TIMEOUT):
            return False
    except urllib.error.HTTPError as e:
        return e.code in (401, 403)
    except (urllib.error.URLError, OSError, ValueError):
        return False


def _opener(index: Index, environ: Mapping[str, str]) -> urllib.request.OpenerDirector:
    """urllib towards index: through the environment's proxy, but never for a loopback host."""
    proxies: dict[str, str] = {}
    if not _loopback(index.host):
        for scheme in ("http", "https"):
            proxy = environ.get(f"{scheme.upper()}_PROXY") or environ.get(f"{scheme}_proxy")
            if proxy:
                proxies[scheme] = proxy
    return urllib.request.build_opener(urllib.request.ProxyHandler(proxies))


def _loopback(host: str) -> bool:
    try:
        return host == "localhost" or ip_address(host).is_loopback
    except ValueError:
        return False


class MissingCredentials(WsError):
    """Indexes that ask for a login the host does not have."""

    def __init__(self, indexes: Sequence[Index], where: Where, lock: str) -> None:
        self.indexes = list(indexes)
        lines = [
            f"{lock} installs from {len(indexes)} index(es) that ask for a login ws cannot find:"
        ]
        fixes = []
        for index in indexes:
            looked = [f"a `machine {index.host}` entry in {where.netrc_path}"]
            if index.variables:
                looked.insert(0, " and ".join(index.variables))
            lines.append(f"  {index}: ws looked for {', then '.join(looked)}")
            entry = f"`machine {index.host} login USER password PASSWORD`"
            fixes.append(
                f"set {' and '.join(index.variables)}"
                if index.variables
                else f"add {entry} to {where.netrc_path}"
            )
        super().__init__(
            "\n".join(printable(line) for line in lines),
            fix="; ".join(fixes) + ", as uv on this machine would need, then build again",
        )


# ---------------------------------------------------------------- refusals during a build


def refusal(output: Sequence[str], logins: IndexLogins) -> str | None:
    """What a failed `uv sync` means when an index refused it (uv's "401 Unauthorized ...
    for url (...)"): the index and where its login came from; None for other failures."""
    for line in reversed(output):
        match = _REFUSED.search(line)
        if match is None:
            continue
        parts: SplitResult = urlsplit(match["url"])
        host = parts.hostname or ""
        status = f"{match['code']} {match['reason']}"
        login = logins.for_host(host)
        if login is None:
            return f"{host} answered {status}: it asks for a login, and ws handed the build none"
        return f"{host} answered {status} to the login from {login.source}"
    return None

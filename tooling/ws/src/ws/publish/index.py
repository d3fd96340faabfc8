"""The one module that talks to the package index: which files of a project it holds, and
their sha256, read from its simple API (PEP 691 JSON, or PEP 503 HTML)."""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from html.parser import HTMLParser
from urllib.parse import unquote, urljoin, urlsplit

from ws.errors import WsError

_ACCEPT = "application/vnd.pypi.simple.v1+json, text/html;q=0.1"
TIMEOUT = 30.0


@dataclass(frozen=True)
class IndexAuth:
    """Basic credentials for reading the index (uv's UV_INDEX_<NAME>_USERNAME/PASSWORD)."""

    username: str
    password: str

    def header(self) -> str:
        pair = f"{self.username}:{self.password}".encode()
        return "Basic " + base64.b64encode(pair).decode("ascii")


def published_files(simple_url: str, project: str, auth: IndexAuth | None) -> dict[str, str | None]:
    """filename -> sha256 (None when the index gives no hash) of every file the index holds
    for project (a normalised name); {} when it holds none."""
    parts = urlsplit(simple_url)
    if auth is None and parts.password:  # http://user:password@host/simple/, as uv takes it
        auth = IndexAuth(unquote(parts.username or ""), unquote(parts.password))
    base = without_credentials(simple_url)
    url = urljoin(base if base.endswith("/") else base + "/", f"{project}/")
    if urlsplit(url).scheme not in ("http", "https"):
        raise _refused(simple_url, project, "not an http(s) URL")
    request = urllib.request.Request(url, headers={"Accept": _ACCEPT})  # noqa: S310 -- http(s) only, checked above
    if auth is not None:
        request.add_header("Authorization", auth.header())
    try:
        # A new opener each call: urlopen's shared one keeps the proxy settings of its first use
        with urllib.request.build_opener().open(request, timeout=TIMEOUT) as response:
            kind = response.headers.get_content_type()
            body = response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
        if e.code == 404:
            return {}
        raise _refused(simple_url, project, f"HTTP {e.code} {e.reason}") from e
    except (urllib.error.URLError, OSError) as e:
        reason = getattr(e, "reason", e)
        raise _refused(simple_url, project, f"cannot reach it: {reason}") from e
    return (
        _json_files(body)
        if kind.endswith("+json") or kind == "application/json"
        else _html_files(body)
    )


def _refused(simple_url: str, project: str, why: str) -> WsError:
    return WsError(
        f"the index at {without_credentials(simple_url)} refused to list {project} ({why}); "
        "nothing was uploaded",
        fix="check the index URL and the credentials to read it (UV_INDEX_<NAME>_USERNAME "
        "and UV_INDEX_<NAME>_PASSWORD)",
    )


def without_credentials(url: str) -> str:
    """url without a user:password@ part: what ws may show."""
    parts = urlsplit(url)
    return parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()


def _json_files(body: str) -> dict[str, str | None]:
    files = json.loads(body).get("files", [])
    return {f["filename"]: (f.get("hashes") or {}).get("sha256") for f in files}


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.files: dict[str, str | None] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        href = dict(attrs).get("href")
        if tag != "a" or not href:
            return
        path, _, fragment = href.partition("#")
        name = unquote(urlsplit(path).path).rsplit("/", 1)[-1]
        algo, _, digest = fragment.partition("=")
        self.files[name] = digest if algo == "sha256" and digest else None


def _html_files(body: str) -> dict[str, str | None]:
    parser = _Links()
    parser.feed(body)
    return parser.files

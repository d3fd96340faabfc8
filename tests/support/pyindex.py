"""A PEP 503 package index on 127.0.0.1 serving hand-made wheels, plus its pytest fixtures."""

from __future__ import annotations

import html
import os
import shutil
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from tests.support.wheels import Wheel, build_wheel, normalize_name, write_wheel

__all__ = [
    "DEFAULT_CATALOGUE",
    "LocalIndex",
    "Package",
    "build_wheel",
    "find_uv",
    "hermetic_uv_env",
    "normalize_name",
    "pyindex",
    "pyindex_factory",
    "uv_bin",
    "uv_env",
    "write_wheel",
]


@dataclass(frozen=True)
class Package:
    """One release in a catalogue: what LocalIndex.add takes."""

    name: str
    version: str
    requires: tuple[str, ...] = ()
    requires_python: str | None = None
    extras: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


# Several versions, a dependency chain (beta -> alpha, delta -> gamma), a tool for dev groups,
# an extra (epsilon[fast] -> gamma) and a release that only newer Pythons may install.
DEFAULT_CATALOGUE: tuple[Package, ...] = (
    Package("alpha", "1.0"),
    Package("alpha", "1.1"),
    Package("alpha", "2.0"),
    Package("beta", "1.0", ("alpha>=1.0",)),
    Package("beta", "1.1", ("alpha>=1.0",)),
    Package("gamma", "0.1"),
    Package("gamma", "0.2"),
    Package("delta", "1.0", ("gamma",)),
    Package("epsilon", "1.0", extras={"fast": ("gamma>=0.2",)}),
    Package("future", "1.0", requires_python=">=3.8"),
    Package("future", "2.0", requires_python=">=4"),
    Package("devtool", "1.0"),
)

# Stands in for any host that is not loopback: a refused connection instead of the internet.
_DEAD_PROXY = "http://127.0.0.1:9"


class LocalIndex:
    """Serves wheels as a PEP 503 simple index at ``.url`` on an ephemeral 127.0.0.1 port.

    Packages added at any time (``add``) are served from the next request on. Responses carry
    ``Cache-Control: no-cache`` so a uv cache shared between tests always revalidates.
    """

    def __init__(self, packages: Iterable[Package] = DEFAULT_CATALOGUE) -> None:
        self._lock = threading.Lock()
        self._wheels: dict[str, dict[str, Wheel]] = {}
        self._requested: list[str] = []
        for package in packages:
            self.add(
                package.name,
                package.version,
                package.requires,
                requires_python=package.requires_python,
                extras=package.extras,
            )
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="pyindex", daemon=True
        )
        self._thread.start()

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        """The simple index URL, e.g. ``http://127.0.0.1:PORT/simple/``."""
        return f"{self.base_url}/simple/"

    def add(
        self,
        name: str,
        version: str,
        requires: Sequence[str] = (),
        *,
        requires_python: str | None = None,
        extras: Mapping[str, Iterable[str]] | None = None,
        files: Mapping[str, str] | None = None,
    ) -> Wheel:
        """Publish a release (files: more files in the wheel, as build_wheel takes them); adding
        the same name and version again is a ValueError."""
        wheel = build_wheel(
            name, version, requires, requires_python=requires_python, extras=extras, files=files
        )
        return self.add_wheel(wheel)

    def add_file(self, path: Path) -> Wheel:
        """Publish a real wheel file (name-version-tags.whl) as it is, e.g. a build backend's."""
        name, version = path.name.split("-")[:2]
        return self.add_wheel(Wheel(name, version, (), None, path.name, path.read_bytes()))

    def add_wheel(self, wheel: Wheel) -> Wheel:
        with self._lock:
            releases = self._wheels.setdefault(wheel.project, {})
            if wheel.filename in releases:
                raise ValueError(f"{wheel.filename} is already in the index")
            releases[wheel.filename] = wheel
        return wheel

    def projects(self) -> list[str]:
        with self._lock:
            return sorted(self._wheels)

    def releases(self, name: str) -> list[Wheel]:
        with self._lock:
            return list(self._wheels.get(normalize_name(name), {}).values())

    def wheel(self, filename: str) -> Wheel | None:
        with self._lock:
            for releases in self._wheels.values():
                if filename in releases:
                    return releases[filename]
        return None

    def requested(self) -> list[str]:
        """The paths requested so far, in order (to prove what a client did or did not fetch)."""
        with self._lock:
            return list(self._requested)

    def _record(self, path: str) -> None:
        with self._lock:
            self._requested.append(path)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> LocalIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _root_page(index: LocalIndex) -> str:
    links = "".join(f'<a href="{name}/">{name}</a>\n' for name in index.projects())
    return _page("Simple index", links)


def _project_page(index: LocalIndex, name: str) -> str | None:
    wheels = index.releases(name)
    if not wheels:
        return None
    links = "".join(_link(wheel) for wheel in wheels)
    return _page(f"Links for {name}", links)


def _link(wheel: Wheel) -> str:
    href = f"../../files/{wheel.filename}#sha256={wheel.sha256}"
    attrs = f'href="{href}"'
    if wheel.requires_python:
        attrs += f' data-requires-python="{html.escape(wheel.requires_python)}"'
    return f"<a {attrs}>{wheel.filename}</a>\n"


def _page(title: str, body: str) -> str:
    return (
        '<!DOCTYPE html>\n<html><head><meta name="pypi:repository-version" content="1.0">'
        f"<title>{title}</title></head>\n<body>\n<h1>{title}</h1>\n{body}</body></html>\n"
    )


def _handler_for(index: LocalIndex) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:  # the name http.server dispatches to
            self._respond(head=False)

        def do_HEAD(self) -> None:
            self._respond(head=True)

        def _respond(self, *, head: bool) -> None:
            path = unquote(urlsplit(self.path).path)
            index._record(path)  # the handler is part of LocalIndex
            status, ctype, body, location = _route(index, path)
            self.send_response(status)
            if location:
                self.send_header("Location", location)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-cache")
            self.end_headers()
            if not head:
                self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass  # keep pytest output free of access logs

    return Handler


_Route = tuple[int, str, bytes, str | None]


def _route(index: LocalIndex, path: str) -> _Route:
    parts = [part for part in path.split("/") if part]
    if parts == ["simple"]:
        return _html(_root_page(index))
    if len(parts) == 2 and parts[0] == "simple":
        canonical = normalize_name(parts[1])
        if parts[1] != canonical or not path.endswith("/"):
            # PEP 503: redirect to the normalised name with its trailing slash.
            return (HTTPStatus.MOVED_PERMANENTLY, "text/plain", b"", f"/simple/{canonical}/")
        page = _project_page(index, canonical)
        return _html(page) if page is not None else _not_found()
    if len(parts) == 2 and parts[0] == "files":
        wheel = index.wheel(parts[1])
        if wheel is not None:
            return (HTTPStatus.OK, "application/octet-stream", wheel.data, None)
    return _not_found()


def _html(text: str) -> _Route:
    return (HTTPStatus.OK, "text/html; charset=utf-8", text.encode("utf-8"), None)


def _not_found() -> _Route:
    return (HTTPStatus.NOT_FOUND, "text/plain", b"not found\n", None)


def find_uv() -> str:
    """The uv executable: the one the uv package ships, else the first on PATH."""
    try:
        from uv import find_uv_bin  # the project venv has it: ws depends on uv
    except ImportError:
        found = shutil.which("uv")
        if found is None:
            raise RuntimeError("uv is neither importable nor on PATH") from None
        return found
    return find_uv_bin()


def hermetic_uv_env(cache_dir: Path, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """An environment for running the real uv that can reach nothing but loopback.

    Drops every ``UV_*``, ``PIP_*``, virtualenv and proxy variable from base (the current
    environment by default), hides user and system uv.toml files, forbids Python downloads,
    and routes any non-loopback HTTP(S) through a proxy that refuses connections, so a stray
    request fails fast instead of reaching the internet. Indexes come from each workspace's
    own ``[[tool.uv.index]]``.
    """
    source = dict(os.environ if base is None else base)
    dropped = ("UV_", "PIP_", "VIRTUAL_ENV", "CONDA_PREFIX", "PYTHONPATH", "PYTHONHOME")
    env = {
        key: value
        for key, value in source.items()
        if not key.startswith(dropped) and not key.lower().endswith("_proxy")
    }
    config_home = cache_dir / "xdg-config"
    config_home.mkdir(parents=True, exist_ok=True)
    env.update(
        UV_CACHE_DIR=str(cache_dir / "uv-cache"),
        UV_PYTHON_DOWNLOADS="never",
        UV_NO_PROGRESS="1",
        XDG_CONFIG_HOME=str(config_home),
        XDG_CONFIG_DIRS=str(config_home),
        HTTP_PROXY=_DEAD_PROXY,
        HTTPS_PROXY=_DEAD_PROXY,
        ALL_PROXY=_DEAD_PROXY,
        NO_PROXY="127.0.0.1,localhost,::1",
    )
    return env


@pytest.fixture(scope="session")
def pyindex() -> Iterator[LocalIndex]:
    """The session's index with DEFAULT_CATALOGUE; add to it only via pyindex_factory's."""
    with LocalIndex() as index:
        yield index


@pytest.fixture
def pyindex_factory() -> Iterator[Callable[..., LocalIndex]]:
    """Makes fresh indexes (default catalogue unless given packages), closed after the test."""
    made: list[LocalIndex] = []

    def make(packages: Iterable[Package] = DEFAULT_CATALOGUE) -> LocalIndex:
        index = LocalIndex(packages)
        made.append(index)
        return index

    yield make
    for index in made:
        index.close()


@pytest.fixture(scope="session")
def uv_bin() -> str:
    """Path of the real uv executable the tests run."""
    return find_uv()


@pytest.fixture(scope="session")
def _uv_session_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("uv-hermetic")


@pytest.fixture
def uv_env(_uv_session_dir: Path) -> dict[str, str]:
    """A fresh copy of the hermetic uv environment; the uv cache is shared by the session."""
    return hermetic_uv_env(_uv_session_dir)

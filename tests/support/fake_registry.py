"""A real HTTP registry on 127.0.0.1 that answers the manifest and blob API in the ways real
ones do.

The loopback `docker-registry` cannot demand a token, drop Docker-Content-Digest, rate
limit, fill up, serve altered bytes or talk nonsense; this server can, over a real socket,
so the clients' handling of each is tested end to end rather than against a mock.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import socket
import threading
import urllib.parse
from dataclasses import dataclass, field
from types import TracebackType

from tests.support.quiet_http import QuietHandler, QuietServer

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
TOKEN = "fake-anonymous-token"  # noqa: S105 -- a test value, not a secret
PUSH_TOKEN = "fake-push-token"  # noqa: S105 -- what a scope with push gets


@dataclass(frozen=True)
class Manifest:
    """A stored manifest; fallback is served to clients that do not accept media_type."""

    media_type: str
    body: bytes
    fallback: Manifest | None = None

    @property
    def digest(self) -> str:
        return "sha256:" + hashlib.sha256(self.body).hexdigest()


def image_manifest(seed: str, media_type: str = OCI_MANIFEST) -> Manifest:
    """A schema 2 image manifest whose content (and so digest) depends on seed."""
    layer = hashlib.sha256(seed.encode()).hexdigest()
    data = {
        "schemaVersion": 2,
        "mediaType": media_type,
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": f"sha256:{layer}",
            "size": 2,
        },
        "layers": [],
    }
    return Manifest(media_type, json.dumps(data, indent=3).encode())


def image_index(platform: Manifest, media_type: str = OCI_INDEX) -> Manifest:
    """A one-platform index over platform, which is served to clients refusing indexes."""
    data = {
        "schemaVersion": 2,
        "mediaType": media_type,
        "manifests": [
            {
                "mediaType": platform.media_type,
                "digest": platform.digest,
                "size": len(platform.body),
                "platform": {"architecture": "amd64", "os": "linux"},
            }
        ],
    }
    return Manifest(media_type, json.dumps(data).encode(), fallback=platform)


@dataclass(frozen=True)
class Seen:
    """One request the server received."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes = b""


@dataclass
class Behaviour:
    """How the server misbehaves; the defaults are a well-behaved anonymous registry."""

    require_token: bool = False  # 401 + Bearer challenge until the token is presented
    challenge_scope: bool = True  # include scope= in the challenge
    accept_token: bool = True  # False: 401 even with the token
    basic_auth: bool = False  # 401 + Basic challenge: real credentials wanted
    send_digest: bool = True  # False: no Docker-Content-Digest header
    digest_header: str | None = None  # send this instead of the true digest
    status: int | None = None  # answer every manifest request with this status
    headers: dict[str, str] = field(default_factory=dict)  # extra headers with `status`
    body_override: tuple[str, bytes] | None = None  # (content type, body) for manifests
    token_body: bytes | None = None  # the token service's answer
    not_http: bool = False  # answer with bytes that are not HTTP at all
    stall: float = 0.0  # seconds to wait before answering
    redirect: str | None = None  # answer manifest requests with 307 to this Location
    realm: str | None = None  # the token realm in the challenge (default: this server's /token)
    reason: str | None = None  # the reason phrase sent with `status`
    drip: float = 0.0  # send manifest bodies one byte at a time, this many seconds apart
    login: tuple[str, str] | None = None  # (user, password) the registry (or its token
    # service, with require_token) wants as Basic credentials
    upload_status: int | None = None  # answer every upload (POST/PUT) with this status
    alter_blobs: bool = False  # serve every blob with its last byte flipped
    upload_location: str | None = None  # the Location an upload starts with (default: here)


class FakeRegistry:
    """Start with `with FakeRegistry() as registry:`; registry.host is "127.0.0.1:PORT"."""

    def __init__(self) -> None:
        self.manifests: dict[tuple[str, str], Manifest] = {}
        self.blobs: dict[tuple[str, str], bytes] = {}
        self.uploads = itertools.count(1)
        self.behaviour = Behaviour()
        self.seen: list[Seen] = []
        self.release = threading.Event()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.registry = self
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self._server.server_address[1]}"

    def add(self, repository: str, tag: str, manifest: Manifest) -> str:
        """Store manifest under tag and under its digest; returns the digest."""
        self.manifests[(repository, tag)] = manifest
        self.manifests[(repository, manifest.digest)] = manifest
        return manifest.digest

    def add_blob(self, repository: str, data: bytes) -> str:
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        self.blobs[(repository, digest)] = data
        return digest

    def requests_to(self, prefix: str) -> list[Seen]:
        return [s for s in self.seen if s.path.startswith(prefix)]

    def __enter__(self) -> FakeRegistry:
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


class _Server(QuietServer):
    registry: FakeRegistry


class _Handler(QuietHandler):
    @property
    def registry(self) -> FakeRegistry:
        assert isinstance(self.server, _Server)
        return self.server.registry

    def _answer(self) -> None:
        url = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(url.query))
        self.body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        seen = Seen(self.command, url.path, query, dict(self.headers), self.body)
        self.registry.seen.append(seen)
        behaviour = self.registry.behaviour
        if behaviour.stall:
            self.registry.release.wait(behaviour.stall)
        if behaviour.not_http:
            self.wfile.write(b"SSH-2.0-OpenSSH_9.2\r\n")
            self.close_connection = True
        elif url.path == "/token":
            self._token(behaviour)
        elif url.path.startswith("/v2/") and "/manifests/" in url.path:
            self._manifest(behaviour, url.path)
        elif url.path.startswith("/v2/") and "/blobs/" in url.path:
            self._blobs(behaviour, url.path, query)
        else:
            self._send(404, "application/json", b'{"errors":[{"code":"NOT_FOUND"}]}')

    def _token(self, behaviour: Behaviour) -> None:
        if behaviour.login is not None and not self._has_login(behaviour.login):
            self._send(401, "application/json", b"{}", {"WWW-Authenticate": 'Basic realm="t"'})
            return
        body = behaviour.token_body
        if body is None:
            scope = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(self.path).query)).get(
                "scope", ""
            )
            if not scope:  # an identity token's exchange carries its scope in the form
                scope = dict(urllib.parse.parse_qsl(self.body.decode())).get("scope", "")
            token = PUSH_TOKEN if scope.endswith("push") else TOKEN
            body = json.dumps({"token": token, "expires_in": 300}).encode()
        self._send(200, "application/json", body)

    def _manifest(self, behaviour: Behaviour, path: str) -> None:
        repository, _, reference = path[len("/v2/") :].partition("/manifests/")
        if not self._authorised(behaviour, repository):
            return
        if behaviour.redirect is not None:
            self._send(307, "application/json", b"{}", {"Location": behaviour.redirect})
            return
        if behaviour.status is not None:
            self._send(behaviour.status, "application/json", b"{}", behaviour.headers)
            return
        if behaviour.body_override is not None:
            self._send(200, *behaviour.body_override)
            return
        if self.command == "PUT":
            self._put_manifest(behaviour, repository, reference)
            return
        manifest = self.registry.manifests.get((repository, reference))
        accepted = {t.strip() for t in self.headers.get("Accept", "").split(",")}
        while manifest is not None and manifest.media_type not in accepted:
            manifest = manifest.fallback
        if manifest is None:
            self._send(404, "application/json", b'{"errors":[{"code":"MANIFEST_UNKNOWN"}]}')
            return
        headers = {}
        if behaviour.send_digest:
            headers["Docker-Content-Digest"] = behaviour.digest_header or manifest.digest
        self._send(200, manifest.media_type, manifest.body, headers)

    def _put_manifest(self, behaviour: Behaviour, repository: str, tag: str) -> None:
        body = self.body
        if behaviour.upload_status is not None:
            self._send(behaviour.upload_status, "application/json", b"{}", behaviour.headers)
            return
        manifest = Manifest(self.headers.get("Content-Type", ""), body)
        self.registry.add(repository, tag, manifest)
        self._send(201, "application/json", b"", {"Docker-Content-Digest": manifest.digest})

    def _blobs(self, behaviour: Behaviour, path: str, query: dict[str, str]) -> None:
        repository, _, rest = path[len("/v2/") :].partition("/blobs/")
        if not self._authorised(behaviour, repository):
            return
        if self.command in ("POST", "PUT"):
            self._upload(behaviour, repository, rest, query)
            return
        data = self.registry.blobs.get((repository, rest))
        if data is None:
            self._send(404, "application/json", b'{"errors":[{"code":"BLOB_UNKNOWN"}]}')
            return
        if behaviour.alter_blobs and data:
            data = data[:-1] + bytes([data[-1] ^ 1])
        self._send(200, "application/octet-stream", data, {"Docker-Content-Digest": rest})

    def _upload(
        self, behaviour: Behaviour, repository: str, rest: str, query: dict[str, str]
    ) -> None:
        body = self.body
        if behaviour.upload_status is not None:
            self._send(behaviour.upload_status, "application/json", b"{}", behaviour.headers)
        elif self.command == "POST":
            location = f"/v2/{repository}/blobs/uploads/{next(self.registry.uploads)}?_state=x"
            location = behaviour.upload_location or location
            self._send(202, "application/json", b"", {"Location": location})
        elif "sha256:" + hashlib.sha256(body).hexdigest() != query.get("digest"):
            self._send(400, "application/json", b'{"errors":[{"code":"DIGEST_INVALID"}]}')
        else:
            digest = self.registry.add_blob(repository, body)
            self._send(201, "application/json", b"", {"Docker-Content-Digest": digest})

    def _has_login(self, login: tuple[str, str]) -> bool:
        expected = base64.b64encode(":".join(login).encode()).decode()
        return self.headers.get("Authorization") == f"Basic {expected}"

    def _authorised(self, behaviour: Behaviour, repository: str) -> bool:
        if behaviour.login is not None and not behaviour.require_token:
            if self._has_login(behaviour.login):
                return True
            self._send(401, "application/json", b"{}", {"WWW-Authenticate": 'Basic realm="x"'})
            return False
        if behaviour.basic_auth:
            self._send(401, "application/json", b"{}", {"WWW-Authenticate": 'Basic realm="x"'})
            return False
        if not behaviour.require_token:
            return True
        given = self.headers.get("Authorization")
        reads = self.command in ("GET", "HEAD")
        tokens = {f"Bearer {PUSH_TOKEN}"} | ({f"Bearer {TOKEN}"} if reads else set())
        if given in tokens and behaviour.accept_token:
            return True
        actions = "pull" if reads else "pull,push"
        scope = f',scope="repository:{repository}:{actions}"' if behaviour.challenge_scope else ""
        realm = behaviour.realm or f"http://{self.registry.host}/token"
        challenge = f'Bearer realm="{realm}",service="fake-registry"{scope}'
        self._send(401, "application/json", b"{}", {"WWW-Authenticate": challenge})
        return False

    def _send(
        self, status: int, content_type: str, body: bytes, headers: dict[str, str] | None = None
    ) -> None:
        behaviour = self.registry.behaviour
        self.send_response(status, behaviour.reason if behaviour.status == status else None)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command == "HEAD":
            return
        if not behaviour.drip:
            self.wfile.write(body)
            return
        for i in range(len(body)):
            if self.registry.release.wait(behaviour.drip):
                return
            self.wfile.write(body[i : i + 1])
            self.wfile.flush()


def closed_port() -> int:
    """A loopback port nothing listens on (bound, read, and released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]

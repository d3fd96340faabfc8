"""One repository on a registry that ws reads and writes over the OCI distribution API:
manifests by tag, blobs by digest (read up to the size their descriptor names, checked
against their digest), blob uploads, with docker's login for the registry.

Anonymous first; a 401 is answered with the login docker holds (looked up only then): a
Basic challenge gets it directly, a Bearer challenge gets a token for the pull or
pull,push scope the request needs. A 404 is an absence (None or False), never an error;
every other refusal is a RegistryError naming the repository and what to do. No message
carries a credential.
"""

from __future__ import annotations

import base64
import hashlib
import urllib.parse
from collections.abc import Callable
from typing import NoReturn

from ws.docker.pin.imageref import ImageRef
from ws.errors import RegistryError
from ws.printable import printable
from ws.registry.exchange import (
    MANIFEST_LIMIT,
    TOKEN_LIMIT,
    Exchange,
    Response,
    challenges,
    token_from,
)
from ws.registry.logins import Login
from ws.registry.transport import ProxySettings, Watchdog, allowed_url, base_url

ERROR_LIMIT = 64 * 1024  # the JSON error body of a refused request, read and dropped
FULL = (413, 507)  # payload too large, insufficient storage
LoginLookup = Callable[[str], Login | None]


class AlteredBlob(RegistryError):
    """The registry (or something between) served bytes that are not the digest asked for."""

    def __init__(self, message: str, digest: str, *, fix: str) -> None:
        super().__init__(message, fix=fix)
        self.digest = digest


class Repository:
    """A session with one repository (ref without tag or digest) within dog's deadline.
    what names the caller in every message; login_of(registry) gives docker's login; push:
    the session will write, so a token is asked for pull and push at once."""

    def __init__(
        self,
        ref: ImageRef,
        what: str,
        *,
        login_of: LoginLookup,
        dog: Watchdog,
        timeout: float,
        proxies: ProxySettings | None = None,
        push: bool = False,
    ) -> None:
        self.ref = ref
        self.push = push
        self.registry = ref.registry or ""
        self.base = f"{base_url(self.registry)}/v2/{ref.repository}"
        self.login_of = login_of
        self.login: Login | None = None
        self.looked_up = False  # login_of may run a credential helper: once a session
        self.authorization: str | None = None
        self.granted = ""  # the actions the bearer token was asked for
        self.http = Exchange(
            self.registry,
            what,
            timeout=timeout,
            proxies=proxies,
            dog=dog,
            refuse_redirect=self._refuse_redirect,
        )

    # ------------------------------------------------------------ the API

    def manifest(self, tag: str, media_type: str) -> Response | None:
        """The manifest tagged tag (GET, accepting media_type), None when there is none."""
        response = self._call("GET", f"{self.base}/manifests/{tag}", MANIFEST_LIMIT, media_type)
        if response.status == 404:
            return None
        self._check(response, f"reading the manifest {tag}")
        if len(response.body) > MANIFEST_LIMIT:
            self.http.fail(f"the manifest {tag} is larger than {MANIFEST_LIMIT} bytes", _CHECK)
        return response

    def manifest_digest(self, tag: str, media_type: str) -> str | None:
        """The digest the registry gives for the manifest tagged tag (HEAD), None if absent."""
        response = self._call("HEAD", f"{self.base}/manifests/{tag}", 0, media_type)
        if response.status == 404:
            return None
        self._check(response, f"looking up the manifest {tag}")
        return response.headers.get("Docker-Content-Digest")

    def put_manifest(self, tag: str, media_type: str, body: bytes) -> None:
        url = f"{self.base}/manifests/{tag}"
        response = self._call("PUT", url, ERROR_LIMIT, media_type, data=body)
        self._check(response, f"storing the manifest {tag}", ok=(200, 201), write=True)

    def has_blob(self, digest: str) -> bool:
        response = self._call("HEAD", f"{self.base}/blobs/{digest}", 0)
        if response.status == 404:
            return False
        self._check(response, f"looking up the blob {digest}")
        return True

    def blob(self, digest: str, size: int) -> bytes | None:
        """The blob digest names, None when absent; AlteredBlob unless its bytes are size
        long and hash to digest (a longer answer is not read past size + 1 bytes)."""
        response = self._call("GET", f"{self.base}/blobs/{digest}", size)
        if response.status == 404:
            return None
        self._check(response, f"reading the blob {digest}")
        body = response.body
        if len(body) != size or "sha256:" + hashlib.sha256(body).hexdigest() != digest:
            raise AlteredBlob(
                f"{self.http.what}: {self.registry} served bytes for the blob {digest} that "
                "are not that blob",
                digest,
                fix="check no proxy or mirror in between alters answers; remove the entry",
            )
        return body

    def push_blob(self, digest: str, data: bytes) -> None:
        """Upload data as the blob digest: POST an upload session, PUT the bytes to it."""
        started = self._call("POST", f"{self.base}/blobs/uploads/", ERROR_LIMIT, data=b"")
        self._check(started, "starting a blob upload", ok=(202,), write=True)
        given = started.headers.get("Location")
        if not given:
            self.http.fail(f"{self.registry} started an upload without a Location", _CHECK)
        location = urllib.parse.urljoin(self.base + "/", given)
        if not allowed_url(self.registry, location):
            self._refuse_redirect(location)
        query = urllib.parse.urlencode({"digest": digest})
        url = location + ("&" if "?" in location else "?") + query
        done = self._call("PUT", url, ERROR_LIMIT, "application/octet-stream", data=data)
        self._check(done, f"uploading the blob {digest}", ok=(201, 204), write=True)

    # ------------------------------------------------------------ requests and logins

    def _call(
        self, method: str, url: str, limit: int, media_type: str = "", *, data: bytes | None = None
    ) -> Response:
        """method url, answering 401s with docker's login for the registry: once with what
        is held, once more after asking for the scope this request needs."""
        reads = method in ("GET", "HEAD") and not self.push
        actions = "pull" if reads else "pull,push"
        response = self._send(method, url, limit, media_type, data)
        for _ in range(2):
            if response.status != 401:
                break
            if not self._authorize(response, actions):
                break
            response = self._send(method, url, limit, media_type, data)
        if response.status == 401:
            self._refused()
        return response

    def _send(
        self, method: str, url: str, limit: int, media_type: str, data: bytes | None
    ) -> Response:
        headers = {}
        if media_type:
            headers["Accept" if data is None else "Content-Type"] = media_type
        same_host = urllib.parse.urlsplit(url).netloc == self.registry
        private = {}
        if self.authorization and same_host:  # an upload elsewhere gets no credentials
            private["Authorization"] = self.authorization
        return self.http.send(method, url, limit, headers, private=private, data=data)

    def _authorize(self, response: Response, actions: str) -> bool:
        """Set self.authorization for the challenge in response; False when a new one
        cannot help (the same scope was already granted and refused)."""
        offered = challenges(response)
        if not self.looked_up:
            self.login, self.looked_up = self.login_of(self.registry), True
        if "bearer" in offered:
            if self.authorization and self.granted == actions:
                return False
            self.authorization = "Bearer " + self._token(offered["bearer"], actions)
            self.granted = actions
            return True
        if "basic" in offered and self.login is not None and not self.login.identity_token:
            if self.authorization:
                return False
            pair = f"{self.login.username}:{self.login.secret}".encode()
            self.authorization = "Basic " + base64.b64encode(pair).decode("ascii")
            return True
        return False

    def _token(self, challenge: dict[str, str], actions: str) -> str:
        realm = challenge.get("realm", "")
        if not allowed_url(self.registry, realm):
            self.http.fail(
                f"{self.registry} sent a Bearer challenge whose realm {printable(realm)!r} is "
                "not https (plain http only on loopback, from a loopback registry)",
                "check the registry address; this one does not follow the token protocol safely",
            )
        params = {"service": challenge.get("service", ""), "scope": self._scope(actions)}
        response = self._token_request(realm, params)
        self._check(response, "asking its token service for a token", write="push" in actions)
        token = token_from(response.body)
        if token is None:
            self.http.fail(f"the token service {printable(realm)} answered without a token", _CHECK)
        return token

    def _scope(self, actions: str) -> str:
        return f"repository:{self.ref.repository}:{actions}"

    def _token_request(self, realm: str, params: dict[str, str]) -> Response:
        """GET realm with the login as Basic credentials; an identity token is instead
        POSTed as an OAuth2 refresh token (what docker does with one)."""
        login = self.login
        json_type = {"Accept": "application/json"}
        if login is not None and login.identity_token:
            form = {**params, "grant_type": "refresh_token", "client_id": "ws"}
            form["refresh_token"] = login.secret
            body = urllib.parse.urlencode(form).encode()
            headers = {**json_type, "Content-Type": "application/x-www-form-urlencoded"}
            return self.http.send("POST", realm, TOKEN_LIMIT, headers, data=body)
        query = urllib.parse.urlencode({k: v for k, v in params.items() if v})
        url = realm + ("&" if "?" in realm else "?") + query
        private = {}
        if login is not None:
            pair = f"{login.username}:{login.secret}".encode()
            private["Authorization"] = "Basic " + base64.b64encode(pair).decode("ascii")
        return self.http.send("GET", url, TOKEN_LIMIT, json_type, private=private)

    # ------------------------------------------------------------ refusals

    def _refuse_redirect(self, url: str) -> NoReturn:
        self.http.fail(
            f"{self.registry} sent ws to {printable(url)!r}; ws goes only to https (or to "
            "plain http on loopback from a loopback registry)",
            "check the registry address",
        )

    def _refused(self) -> NoReturn:
        login = f"the login docker holds for it (from {self.login.source})" if self.login else ""
        if not login:
            self.http.fail(
                f"{self.registry} wants credentials for {self.ref.repository} (HTTP 401) and "
                "docker holds no login for it",
                f"run `docker login {self.registry}`",
            )
        self.http.fail(
            f"{self.registry} refused {login} for {self.ref.repository} (HTTP 401)",
            f"run `docker login {self.registry}` again with an account that may use "
            f"{self.ref.repository}",
        )

    def _check(
        self, response: Response, doing: str, ok: tuple[int, ...] = (200,), *, write: bool = False
    ) -> None:
        status = response.status
        if status in ok:
            return
        if status in (401, 403):
            may = "push to" if write or self.push else "pull from"
            self.http.fail(
                f"{self.registry} denied access to {self.ref.repository} while {doing} "
                f"(HTTP {status})",
                f"run `docker login {self.registry}` with an account that may {may} "
                f"{self.ref.repository}",
            )
        self.http.fail(*_status_problem(self.registry, doing, response))


_CHECK = "check the address points at an OCI registry and run again"


def _status_problem(registry: str, doing: str, response: Response) -> tuple[str, str]:
    status = response.status
    answered = f"{registry} answered HTTP {status} while {doing}"
    if status in FULL:
        return (
            f"the store is full: {answered}",
            "free space on the registry (delete old entries, run its garbage collection) "
            "or raise its quota",
        )
    if status == 429:
        wait = response.headers.get("Retry-After")
        after = f"; it asks to retry after {printable(wait)} s" if wait else ""
        return (
            f"{registry} is rate-limiting requests (HTTP 429){after}",
            "wait a while and run again",
        )
    reason = printable(response.reason)
    return f"{answered} {reason}".rstrip(), "check the registry is healthy and run again"

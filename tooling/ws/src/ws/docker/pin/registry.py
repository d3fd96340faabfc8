"""Resolve image tags to manifest digests through the OCI distribution API (stdlib only).

Requests are anonymous: a registry that answers 401 with a Bearer challenge gets one
token request (as the big public registries expect); one that wants real credentials is
reported, not logged into. Loopback registries are spoken to over plain HTTP, every other
registry over HTTPS; a redirect or a token realm may lead only to HTTPS, or to plain HTTP
on loopback when the registry itself is on loopback, and the token goes to the registry
host alone. A digest is pinned only when the manifest body hashes to it. One deadline
bounds every image a call resolves, besides the per-read timeout, so registries that drip
bytes cannot hold ws, however many images there are. Proxies are used only as the
ProxySettings passed in say (transport.proxy_settings reads them from the environment at
the edge). References on the default registry (no host
written) are refused: ws pins images from a named registry only.
"""

from __future__ import annotations

import hashlib
import json
import urllib.parse
from collections.abc import Iterable
from typing import NoReturn

from ws.docker.pin.imageref import ImageRef, check_digest
from ws.errors import RegistryError
from ws.printable import printable
from ws.registry.exchange import (
    MANIFEST_LIMIT,
    RETRY,
    TOKEN_LIMIT,
    Exchange,
    Response,
    challenges,
    token_from,
)
from ws.registry.transport import ProxySettings, Watchdog, allowed_url, base_url

DEFAULT_TIMEOUT = 30.0  # for one connect or read
DEFAULT_DEADLINE = 120.0  # for everything one call takes, all its images together
# Index and manifest-list types come first so a multi-arch tag pins its index, not
# whichever platform's manifest the registry would pick.
MANIFEST_TYPES = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
)


def resolve_digest(
    ref: ImageRef,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    proxies: ProxySettings | None = None,
    deadline: float = DEFAULT_DEADLINE,
) -> str:
    """The digest ("sha256:...") of the manifest the registry serves for ref's tag (or
    "latest"): the hash of the body received, which a Docker-Content-Digest must agree with.

    A reference with only a digest is checked to exist and to hash to it. timeout bounds
    each connect and read, deadline the whole exchange. proxies says which proxy each URL
    takes; with None, every request goes direct. Every failure is a RegistryError naming
    the image and what to do.
    """
    with Watchdog(deadline) as dog:
        return _resolve(ref, timeout, proxies, dog)


def _resolve(ref: ImageRef, timeout: float, proxies: ProxySettings | None, dog: Watchdog) -> str:
    if ref.registry is None:
        raise RegistryError(
            f"image {ref} names no registry; ws can only pin images from a named registry here",
            fix=f"write the registry host in front, e.g. localhost:5000/{ref.name}",
        )
    session = _Session(ref, timeout, proxies, dog)
    response = session.manifest("GET", ref.tag or ref.digest or "latest")
    digest = _digest_of_body(ref, response.body)
    claimed = response.headers.get("Docker-Content-Digest")
    if claimed and _checked_digest(ref, claimed.strip()) != digest:
        _fail(
            ref,
            f"{ref.registry} claims the digest {printable(claimed.strip())}, but the manifest "
            f"it sent hashes to {digest}",
            "check the address points at the registry you meant and run again; a proxy or "
            "mirror in between may be altering answers",
        )
    if ref.digest and not ref.tag and digest != ref.digest:
        _fail(ref, f"the manifest {ref.registry} sent hashes to {digest}", "check the digest")
    return digest


def resolve_all(
    refs: Iterable[ImageRef],
    *,
    timeout: float = DEFAULT_TIMEOUT,
    proxies: ProxySettings | None = None,
    deadline: float = DEFAULT_DEADLINE,
) -> dict[ImageRef, str]:
    """Resolve every ref within one deadline for them all; one RegistryError listing all
    failures if any ref failed: the image that was waiting when the deadline ran out, and
    those not asked after it.

    Callers write pins only from a complete result, so a half-updated set never lands.
    """
    unique = list(dict.fromkeys(refs))
    digests: dict[ImageRef, str] = {}
    problems: list[RegistryError] = []
    with Watchdog(deadline) as dog:
        for ref in unique:
            try:
                if dog.over():
                    _fail(ref, f"not asked, the {deadline:g} s deadline had run out", RETRY)
                digests[ref] = _resolve(ref, timeout, proxies, dog)
            except RegistryError as e:
                problems.append(e)
    if problems:
        head = f"could not resolve {len(problems)} of {len(unique)} image(s):"
        lines = [head, *("  " + e.message.replace("\n", "\n  ") for e in problems)]
        fixes = dict.fromkeys(e.fix for e in problems if e.fix)
        raise RegistryError("\n".join(lines), fix="; ".join(fixes) or None)
    return digests


class _Session:
    """One image's conversation with its registry; keeps the bearer token once fetched."""

    def __init__(
        self, ref: ImageRef, timeout: float, proxies: ProxySettings | None, dog: Watchdog
    ) -> None:
        self.ref = ref
        self.registry = ref.registry or ""
        self.token: str | None = None
        self.http = Exchange(
            self.registry,
            f"cannot resolve {ref}",
            timeout=timeout,
            proxies=proxies,
            dog=dog,  # the deadline of the whole call, shared with the images before
            refuse_redirect=self._refuse_redirect,
        )

    def _refuse_redirect(self, url: str) -> NoReturn:
        _fail(
            self.ref,
            f"{self.registry} redirected to {printable(url)!r}; ws follows redirects only to "
            "https (or to plain http on loopback from a loopback registry)",
            "check the registry address; pin by hand as name:tag@sha256:... if you trust it",
        )

    def manifest(self, method: str, reference: str) -> Response:
        """HEAD or GET the manifest, answering one Bearer challenge on the way."""
        url = f"{base_url(self.registry)}/v2/{self.ref.repository}/manifests/{reference}"
        response = self._send(method, url, MANIFEST_LIMIT)
        if response.status == 401:
            self.token = self._token(_bearer_challenge(self.ref, response))
            response = self._send(method, url, MANIFEST_LIMIT)
            if response.status == 401:
                _fail(
                    self.ref,
                    f"{self.registry} refused the anonymous token for {self.ref.repository} "
                    "(the repository is private or does not exist)",
                    "ws resolves pins anonymously: make the repository public, or write "
                    "the pin by hand as name:tag@sha256:...",
                )
        _check_status(self.ref, reference, response)
        _check_media_type(self.ref, response)
        return response

    def _token(self, challenge: dict[str, str]) -> str:
        realm = challenge.get("realm", "")
        if not allowed_url(self.registry, realm):
            _fail(
                self.ref,
                f"{self.registry} sent a Bearer challenge whose realm {printable(realm)!r} is "
                "not https (plain http only on loopback, from a loopback registry)",
                "check the registry address; this one does not follow the token protocol safely",
            )
        params = {
            "service": challenge.get("service"),
            "scope": challenge.get("scope") or f"repository:{self.ref.repository}:pull",
        }
        query = urllib.parse.urlencode({k: v for k, v in params.items() if v})
        url = realm + ("&" if "?" in realm else "?") + query
        response = self.http.send("GET", url, TOKEN_LIMIT, {"Accept": "application/json"})
        if response.status == 429:
            _check_status(self.ref, "", response)
        if response.status != 200:
            _fail(
                self.ref,
                f"the token service {printable(realm)} answered HTTP {response.status}",
                "check the registry is healthy and that the repository is public",
            )
        token = token_from(response.body)
        if token is None:
            _fail(
                self.ref,
                f"the token service {printable(realm)} answered without a token",
                "check the registry address; this one does not follow the token protocol",
            )
        return token

    def _send(self, method: str, url: str, limit: int) -> Response:
        # The token goes unredirected: a redirect to another host must not carry it along.
        private = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        headers = {"Accept": ", ".join(MANIFEST_TYPES)}
        return self.http.send(method, url, limit, headers, private=private)


def _fail(ref: ImageRef, problem: str, fix: str) -> NoReturn:
    raise RegistryError(f"cannot resolve {ref}: {problem}", fix=fix)


def _bearer_challenge(ref: ImageRef, response: Response) -> dict[str, str]:
    bearer = challenges(response).get("bearer")
    if bearer is not None:
        return bearer
    _fail(
        ref,
        f"{ref.registry} wants credentials for {ref.repository} (HTTP 401)",
        "ws resolves pins anonymously: make the repository public, or write the pin "
        "by hand as name:tag@sha256:...",
    )


def _check_status(ref: ImageRef, reference: str, response: Response) -> None:
    status = response.status
    if status == 200:
        return
    if status == 404:
        _fail(
            ref,
            f"{ref.registry} has no manifest {reference!r} in {ref.repository} (HTTP 404)",
            "check the repository name and tag, or push the image first",
        )
    if status == 429:
        wait = response.headers.get("Retry-After")
        after = f"; it asks to retry after {printable(wait)} s" if wait else ""
        _fail(
            ref,
            f"{ref.registry} is rate-limiting requests (HTTP 429){after}",
            "wait a while and run again",
        )
    if status == 403:
        _fail(
            ref,
            f"{ref.registry} denied access to {ref.repository} (HTTP 403)",
            "check the repository is public, or write the pin by hand",
        )
    _fail(
        ref,
        f"{ref.registry} answered HTTP {status} {printable(response.reason)}".rstrip(),
        "check the registry is healthy and run again",
    )


def _check_media_type(ref: ImageRef, response: Response) -> None:
    media_type = (response.headers.get("Content-Type") or "").split(";")[0].strip().lower()
    if media_type and media_type not in MANIFEST_TYPES:
        _fail(
            ref,
            f"{ref.registry} answered with {printable(media_type)!r}, not an image manifest",
            "check the address points at an OCI/Docker registry and the image was "
            "pushed by a current client",
        )


def _checked_digest(ref: ImageRef, digest: str) -> str:
    try:
        check_digest(digest)
    except ValueError as e:
        _fail(
            ref,
            f"{ref.registry} sent a malformed Docker-Content-Digest: {printable(str(e))}",
            "check the address points at an OCI/Docker registry",
        )
    if not digest.startswith("sha256:"):
        _fail(
            ref,
            f"{ref.registry} sent a {printable(digest.partition(':')[0])} digest; ws pins sha256",
            "write the pin by hand as name:tag@sha256:...",
        )
    return digest


def _digest_of_body(ref: ImageRef, body: bytes) -> str:
    if len(body) > MANIFEST_LIMIT:
        _fail(
            ref,
            f"the manifest is larger than {MANIFEST_LIMIT} bytes",
            "check the address points at an OCI/Docker registry",
        )
    try:
        manifest = json.loads(body)
    except ValueError:
        manifest = None
    if not isinstance(manifest, dict) or manifest.get("schemaVersion") != 2:
        _fail(
            ref,
            f"{ref.registry} answered with something that is not an image manifest",
            "check the address points at an OCI/Docker registry",
        )
    return "sha256:" + hashlib.sha256(body).hexdigest()

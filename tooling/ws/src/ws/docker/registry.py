"""Resolve image tags to manifest digests through the OCI distribution API (stdlib only).

Requests are anonymous: a registry that answers 401 with a Bearer challenge gets one
token request (as Docker Hub and ghcr.io expect); one that wants real credentials is
reported, not logged into. Loopback registries are spoken to over plain HTTP, every other
registry over HTTPS. References on the default registry (no host written) are refused:
ws pins images from a named registry only.
"""

from __future__ import annotations

import hashlib
import json
import re
import ssl
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from email.message import Message
from http.client import HTTPException
from typing import NoReturn

from ws import __version__
from ws.docker.imageref import ImageRef, check_digest
from ws.errors import RegistryError

DEFAULT_TIMEOUT = 30.0
# Index and manifest-list types come first so a multi-arch tag pins its index, not
# whichever platform's manifest the registry would pick.
MANIFEST_TYPES = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
)
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
MANIFEST_LIMIT = 4 * 1024 * 1024  # the distribution spec's manifest size ceiling
TOKEN_LIMIT = 1024 * 1024
_PARAM = re.compile(r'([A-Za-z_][\w-]*)=(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))')


def resolve_digest(
    ref: ImageRef,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    proxies: Mapping[str, str] | None = None,
) -> str:
    """The digest ("sha256:...") the registry serves for ref's tag (or "latest").

    A reference with only a digest is checked to exist and its digest returned. proxies
    maps URL schemes to proxy URLs (urllib's format); none are used unless passed in.
    Every failure is a RegistryError naming the image and what to do.
    """
    if ref.registry is None:
        raise RegistryError(
            f"image {ref} names no registry; ws can only pin images from a named registry "
            f"here\n  fix: write the registry host in front, e.g. localhost:5000/{ref.name}"
        )
    session = _Session(ref, timeout, proxies)
    reference = ref.tag or ref.digest or "latest"
    head = session.manifest("HEAD", reference)
    digest = head.headers.get("Docker-Content-Digest")
    if digest:
        return _checked_digest(ref, digest.strip())
    return _digest_of_body(ref, session.manifest("GET", reference).body)


def resolve_all(
    refs: Iterable[ImageRef],
    *,
    timeout: float = DEFAULT_TIMEOUT,
    proxies: Mapping[str, str] | None = None,
) -> dict[ImageRef, str]:
    """Resolve every ref; one RegistryError listing all failures if any ref failed.

    Callers write pins only from a complete result, so a half-updated set never lands.
    """
    unique = list(dict.fromkeys(refs))
    digests: dict[ImageRef, str] = {}
    problems: list[str] = []
    for ref in unique:
        try:
            digests[ref] = resolve_digest(ref, timeout=timeout, proxies=proxies)
        except RegistryError as e:
            problems.append("  " + str(e).replace("\n", "\n  "))
    if problems:
        head = f"could not resolve {len(problems)} of {len(unique)} image(s):"
        raise RegistryError("\n".join([head, *problems]))
    return digests


@dataclass(frozen=True)
class _Response:
    status: int
    reason: str
    headers: Message
    body: bytes


class _Session:
    """One image's conversation with its registry; keeps the bearer token once fetched."""

    def __init__(self, ref: ImageRef, timeout: float, proxies: Mapping[str, str] | None) -> None:
        self.ref = ref
        self.registry = ref.registry or ""
        self.timeout = timeout
        self.token: str | None = None
        self.opener = urllib.request.build_opener(
            urllib.request.ProxyHandler(dict(proxies or {})),
            urllib.request.HTTPSHandler(context=ssl.create_default_context()),
        )

    def manifest(self, method: str, reference: str) -> _Response:
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
        if not realm.startswith(("https://", "http://")):
            _fail(
                self.ref,
                f"{self.registry} sent a Bearer challenge without a usable realm",
                "check the registry address; this one does not follow the token protocol",
            )
        params = {
            "service": challenge.get("service"),
            "scope": challenge.get("scope") or f"repository:{self.ref.repository}:pull",
        }
        query = urllib.parse.urlencode({k: v for k, v in params.items() if v})
        url = realm + ("&" if "?" in realm else "?") + query
        response = self._send("GET", url, TOKEN_LIMIT, auth=False)
        if response.status == 429:
            _check_status(self.ref, "", response)
        if response.status != 200:
            _fail(
                self.ref,
                f"the token service {realm} answered HTTP {response.status}",
                "check the registry is healthy and that the repository is public",
            )
        return _token_from(self.ref, realm, response.body)

    def _send(self, method: str, url: str, limit: int, *, auth: bool = True) -> _Response:
        # S310: every URL here is http(s), built by base_url or checked in _token.
        request = urllib.request.Request(url, method=method)  # noqa: S310
        request.add_header("User-Agent", f"ws/{__version__}")
        request.add_header("Accept", ", ".join(MANIFEST_TYPES) if auth else "application/json")
        if auth and self.token:
            # Unredirected: a redirect to another host must not carry the token along.
            request.add_unredirected_header("Authorization", f"Bearer {self.token}")
        try:
            with self.opener.open(request, timeout=self.timeout) as answer:
                body = answer.read(limit + 1)
                return _Response(answer.status, answer.reason, answer.headers, body)
        except urllib.error.HTTPError as e:
            if e.fp is not None:
                e.close()
            return _Response(e.code, str(e.reason), e.headers, b"")
        except (urllib.error.URLError, OSError, HTTPException) as e:
            raise _unreachable(self.ref, url, e) from e


def base_url(registry: str) -> str:
    """scheme://registry: plain HTTP for loopback hosts, HTTPS for everything else."""
    if registry.startswith("["):
        host = registry[1 : registry.find("]")]
    else:
        host = registry.partition(":")[0]
    scheme = "http" if host.lower() in LOOPBACK_HOSTS else "https"
    return f"{scheme}://{registry}"


def _fail(ref: ImageRef, problem: str, fix: str) -> NoReturn:
    raise RegistryError(f"cannot resolve {ref}: {problem}\n  fix: {fix}")


def _unreachable(ref: ImageRef, url: str, error: Exception) -> RegistryError:
    reason = error.reason if isinstance(error, urllib.error.URLError) else error
    if isinstance(error, HTTPException):
        reason = f"the answer is not valid HTTP ({type(error).__name__})"
    host = urllib.parse.urlsplit(url).netloc
    return RegistryError(
        f"cannot resolve {ref}: cannot reach {host} ({url}): {reason}\n"
        "  fix: check the registry is running and its address is right"
    )


def _bearer_challenge(ref: ImageRef, response: _Response) -> dict[str, str]:
    for value in response.headers.get_all("WWW-Authenticate") or []:
        scheme, _, params = value.strip().partition(" ")
        if scheme.lower() == "bearer":
            return {
                key.lower(): re.sub(r"\\(.)", r"\1", quoted) if quoted else bare
                for key, quoted, bare in _PARAM.findall(params)
            }
    _fail(
        ref,
        f"{ref.registry} wants credentials for {ref.repository} (HTTP 401)",
        "ws resolves pins anonymously: make the repository public, or write the pin "
        "by hand as name:tag@sha256:...",
    )


def _token_from(ref: ImageRef, realm: str, body: bytes) -> str:
    try:
        data = json.loads(body)
    except ValueError:
        data = None
    token = None
    if isinstance(data, dict):
        token = data.get("token") or data.get("access_token")
    if not isinstance(token, str) or not token:
        _fail(
            ref,
            f"the token service {realm} answered without a token",
            "check the registry address; this one does not follow the token protocol",
        )
    return token


def _check_status(ref: ImageRef, reference: str, response: _Response) -> None:
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
        after = f"; it asks to retry after {wait} s" if wait else ""
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
        f"{ref.registry} answered HTTP {status} {response.reason}".rstrip(),
        "check the registry is healthy and run again",
    )


def _check_media_type(ref: ImageRef, response: _Response) -> None:
    media_type = (response.headers.get("Content-Type") or "").split(";")[0].strip().lower()
    if media_type and media_type not in MANIFEST_TYPES:
        _fail(
            ref,
            f"{ref.registry} answered with {media_type!r}, not an image manifest",
            "check the address points at an OCI/Docker registry and the image was "
            "pushed by a current client",
        )


def _checked_digest(ref: ImageRef, digest: str) -> str:
    try:
        check_digest(digest)
    except ValueError as e:
        _fail(
            ref,
            f"{ref.registry} sent a malformed Docker-Content-Digest: {e}",
            "check the address points at an OCI/Docker registry",
        )
    if not digest.startswith("sha256:"):
        _fail(
            ref,
            f"{ref.registry} sent a {digest.partition(':')[0]} digest; ws pins sha256",
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

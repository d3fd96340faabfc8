"""Tag-to-digest resolution against the loopback registry and a misbehaving HTTP registry."""

from __future__ import annotations

import hashlib
import socket
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from ws.docker.pin.imageref import ImageRef, parse_image_ref
from ws.docker.pin.registry import MANIFEST_TYPES, resolve_all, resolve_digest
from ws.errors import RegistryError
from ws.registry.transport import base_url

from tests.support.fake_registry import (
    DOCKER_LIST,
    DOCKER_MANIFEST,
    OCI_INDEX,
    OCI_MANIFEST,
    TOKEN,
    FakeRegistry,
    closed_port,
    image_index,
    image_manifest,
)
from tests.support.loopback_images import push_tiny_image, unique_repository


@pytest.fixture
def fake() -> Iterator[FakeRegistry]:
    with FakeRegistry() as registry:
        yield registry


def ref_on(registry: FakeRegistry, name: str = "team/app:1") -> ImageRef:
    return parse_image_ref(f"{registry.host}/{name}")


def failure(ref: ImageRef, **kwargs: Any) -> str:
    with pytest.raises(RegistryError) as caught:
        resolve_digest(ref, **kwargs)
    message = str(caught.value)
    assert str(ref) in message, "every failure names the image"
    assert "\n  fix: " in message, "every failure says what to do"
    return message


# ------------------------------------------------------------ protocol, over real HTTP


def test_one_get_resolves_and_verifies_the_digest(fake: FakeRegistry) -> None:
    digest = fake.add("team/app", "1", image_manifest("one"))
    assert resolve_digest(ref_on(fake)) == digest
    [request] = fake.seen  # a HEAD's header alone cannot be verified: the body is hashed
    assert (request.method, request.path) == ("GET", "/v2/team/app/manifests/1")
    accepted = [t.strip() for t in request.headers["Accept"].split(",")]
    assert accepted == list(MANIFEST_TYPES)
    assert {OCI_INDEX, DOCKER_LIST, OCI_MANIFEST, DOCKER_MANIFEST} == set(accepted)
    assert request.headers["User-Agent"].startswith("ws/")


@pytest.mark.parametrize("index_type", [OCI_INDEX, DOCKER_LIST])
def test_a_multi_arch_tag_pins_the_index_not_one_platform(
    fake: FakeRegistry, index_type: str
) -> None:
    platform = image_manifest(
        "amd64", DOCKER_MANIFEST if index_type == DOCKER_LIST else OCI_MANIFEST
    )
    index = image_index(platform, index_type)
    fake.add("team/app", "1", index)
    assert resolve_digest(ref_on(fake)) == index.digest != platform.digest


def test_an_untagged_reference_resolves_latest(fake: FakeRegistry) -> None:
    digest = fake.add("team/app", "latest", image_manifest("latest"))
    assert resolve_digest(ref_on(fake, "team/app")) == digest


def test_a_digest_only_reference_is_checked_by_digest(fake: FakeRegistry) -> None:
    digest = fake.add("team/app", "1", image_manifest("one"))
    assert resolve_digest(ref_on(fake, f"team/app@{digest}")) == digest
    assert fake.seen[-1].path == f"/v2/team/app/manifests/{digest}"
    missing = ref_on(fake, "team/app@sha256:" + "0" * 64)
    assert "HTTP 404" in failure(missing)


def test_a_pinned_tag_is_resolved_by_tag_so_the_pin_can_move(fake: FakeRegistry) -> None:
    old = fake.add("team/app", "1", image_manifest("old"))
    new = fake.add("team/app", "1", image_manifest("new"))
    assert resolve_digest(ref_on(fake, f"team/app:1@{old}")) == new


def test_anonymous_bearer_token_challenge(fake: FakeRegistry) -> None:
    fake.behaviour.require_token = True
    digest = fake.add("team/app", "1", image_manifest("one"))
    assert resolve_digest(ref_on(fake)) == digest
    first, token, retry = fake.seen
    assert first.path == retry.path == "/v2/team/app/manifests/1"
    assert "Authorization" not in first.headers
    assert token.path == "/token"
    assert token.query == {"service": "fake-registry", "scope": "repository:team/app:pull"}
    assert retry.headers["Authorization"] == f"Bearer {TOKEN}"


def test_token_scope_defaults_to_pulling_the_repository(fake: FakeRegistry) -> None:
    fake.behaviour.require_token = True
    fake.behaviour.challenge_scope = False
    digest = fake.add("team/app", "1", image_manifest("one"))
    assert resolve_digest(ref_on(fake)) == digest
    assert fake.requests_to("/token")[0].query["scope"] == "repository:team/app:pull"


def test_one_token_request_without_a_digest_header(fake: FakeRegistry) -> None:
    fake.behaviour.require_token = True
    fake.behaviour.send_digest = False
    manifest = image_manifest("one")
    fake.add("team/app", "1", manifest)
    assert resolve_digest(ref_on(fake)) == manifest.digest
    assert len(fake.requests_to("/token")) == 1
    assert [s.method for s in fake.requests_to("/v2/")] == ["GET", "GET"]


def test_missing_digest_header_hashes_the_raw_manifest_body(fake: FakeRegistry) -> None:
    fake.behaviour.send_digest = False
    manifest = image_manifest("indented")  # indented JSON: re-serialising would change it
    fake.add("team/app", "1", manifest)
    expected = "sha256:" + hashlib.sha256(manifest.body).hexdigest()
    assert resolve_digest(ref_on(fake)) == expected
    assert [s.method for s in fake.seen] == ["GET"]


def test_resolve_all_resolves_each_distinct_ref_once(fake: FakeRegistry) -> None:
    one = fake.add("team/app", "1", image_manifest("one"))
    two = fake.add("team/base", "2", image_manifest("two"))
    refs = [ref_on(fake), ref_on(fake, "team/base:2"), ref_on(fake)]
    assert resolve_all(refs) == {refs[0]: one, refs[1]: two}
    assert len(fake.seen) == 2


def test_resolve_all_reports_every_failure_together(fake: FakeRegistry) -> None:
    fake.add("team/app", "1", image_manifest("one"))
    refs = [ref_on(fake), ref_on(fake, "team/gone:1"), ref_on(fake, "team/app:nope")]
    with pytest.raises(RegistryError) as caught:
        resolve_all(refs)
    message = str(caught.value)
    assert message.startswith("could not resolve 2 of 3 image(s):")
    assert f"cannot resolve {refs[1]}" in message
    assert f"cannot resolve {refs[2]}" in message
    assert f"cannot resolve {refs[0]}" not in message
    assert "fix:" not in caught.value.message and caught.value.fix, "the fixes are a field"


# ------------------------------------------------------------ failures, each one clear


def test_not_found(fake: FakeRegistry) -> None:
    message = failure(ref_on(fake, "team/app:9.9"))
    assert "no manifest '9.9' in team/app (HTTP 404)" in message
    assert "push the image first" in message


def test_rate_limited(fake: FakeRegistry) -> None:
    fake.behaviour.status = 429
    fake.behaviour.headers = {"Retry-After": "60"}
    message = failure(ref_on(fake))
    assert "rate-limiting requests (HTTP 429); it asks to retry after 60 s" in message


def test_token_refused(fake: FakeRegistry) -> None:
    fake.behaviour.require_token = True
    fake.behaviour.accept_token = False
    fake.add("team/app", "1", image_manifest("one"))
    message = failure(ref_on(fake))
    assert "refused the anonymous token for team/app" in message
    assert len(fake.requests_to("/token")) == 1, "one token attempt, no loop"


def test_credentials_wanted(fake: FakeRegistry) -> None:
    fake.behaviour.basic_auth = True
    assert "wants credentials for team/app (HTTP 401)" in failure(ref_on(fake))


def test_forbidden_and_server_errors(fake: FakeRegistry) -> None:
    fake.behaviour.status = 403
    assert "denied access to team/app (HTTP 403)" in failure(ref_on(fake))
    fake.behaviour.status = 503
    assert "answered HTTP 503 Service Unavailable" in failure(ref_on(fake))


def test_token_service_talking_nonsense(fake: FakeRegistry) -> None:
    fake.behaviour.require_token = True
    fake.behaviour.token_body = b"<html>maintenance</html>"
    assert "/token answered without a token" in failure(ref_on(fake))


def test_garbage_manifest_body(fake: FakeRegistry) -> None:
    fake.behaviour.body_override = (OCI_MANIFEST, b"\x00\x01 not json")
    assert "answered with something that is not an image manifest" in failure(ref_on(fake))
    fake.behaviour.body_override = (OCI_MANIFEST, b'{"schemaVersion": 1}')
    assert "not an image manifest" in failure(ref_on(fake))


def test_a_web_page_instead_of_a_manifest(fake: FakeRegistry) -> None:
    fake.behaviour.body_override = ("text/html; charset=utf-8", b"<html>hello</html>")
    assert "answered with 'text/html', not an image manifest" in failure(ref_on(fake))


def test_malformed_digest_header(fake: FakeRegistry) -> None:
    fake.add("team/app", "1", image_manifest("one"))
    fake.behaviour.digest_header = "sha256:nothex"
    assert "malformed Docker-Content-Digest" in failure(ref_on(fake))
    fake.behaviour.digest_header = "sha512:" + "a" * 128
    assert "sent a sha512 digest; ws pins sha256" in failure(ref_on(fake))


def test_an_answer_that_is_not_http(fake: FakeRegistry) -> None:
    fake.behaviour.not_http = True
    assert "the answer is not valid HTTP" in failure(ref_on(fake))


def test_connection_refused() -> None:
    ref = parse_image_ref(f"127.0.0.1:{closed_port()}/team/app:1")
    message = failure(ref)
    assert "cannot reach" in message
    assert "refused" in message.lower()
    assert "check the registry is running" in message


def test_a_silent_registry_times_out(fake: FakeRegistry) -> None:
    fake.behaviour.stall = 10
    started = time.monotonic()
    assert "timed out" in failure(ref_on(fake), timeout=0.5)
    assert time.monotonic() - started < 5


def test_the_default_registry_is_refused_without_any_traffic() -> None:
    with pytest.raises(RegistryError) as caught:
        resolve_digest(parse_image_ref("python:3.11-slim"))
    assert str(caught.value).startswith(
        "image python:3.11-slim names no registry; "
        "ws can only pin images from a named registry here"
    )


@pytest.mark.parametrize(
    ("registry", "url"),
    [
        ("localhost:5000", "http://localhost:5000"),
        ("LOCALHOST", "http://LOCALHOST"),
        ("127.0.0.1:5000", "http://127.0.0.1:5000"),
        ("[::1]:5000", "http://[::1]:5000"),
        ("ghcr.io", "https://ghcr.io"),
        ("registry.example:5000", "https://registry.example:5000"),
        ("127.0.0.2:5000", "https://127.0.0.2:5000"),
        ("localhost.example", "https://localhost.example"),
    ],
)
def test_plain_http_only_for_loopback(registry: str, url: str) -> None:
    assert base_url(registry) == url


# ------------------------------------------------------------ the real loopback registry


@pytest.mark.docker
def test_real_registry_digest_matches_docker(docker_client: Any) -> None:
    repository = unique_repository()
    pushed = push_tiny_image(docker_client, repository, "1", f"first {uuid.uuid4()}")
    ref = parse_image_ref(f"{repository}:1")
    digest = resolve_digest(ref)
    assert digest == pushed
    assert docker_client.images.get_registry_data(str(ref)).id == digest

    moved = push_tiny_image(docker_client, repository, "1", f"second {uuid.uuid4()}")
    assert moved != pushed
    assert resolve_digest(ref) == moved
    assert resolve_all([ref, ref.with_digest(pushed)]) == {
        ref: moved,
        ref.with_digest(pushed): moved,
    }


@pytest.mark.docker
def test_real_registry_missing_tag_and_repository(docker_client: Any) -> None:
    repository = unique_repository()
    push_tiny_image(docker_client, repository, "1", f"only {uuid.uuid4()}")
    message = failure(parse_image_ref(f"{repository}:2"))
    assert "no manifest '2'" in message
    assert "HTTP 404" in failure(parse_image_ref(f"{unique_repository('x')}:1"))


# ------------------------------------------------------------ where the client may go


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    """A loopback socket that counts as 'contacted' if anything connects to it."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        server.settimeout(0.2)
        yield server


def _contacted(server: socket.socket) -> bool:
    try:
        connection, _ = server.accept()
    except TimeoutError:
        return False
    connection.close()
    return True


def test_a_redirect_to_another_scheme_is_refused_without_contact(
    fake: FakeRegistry, listener: socket.socket
) -> None:
    port = listener.getsockname()[1]
    fake.behaviour.redirect = f"ftp://127.0.0.1:{port}/team/app"
    message = failure(ref_on(fake))
    assert f"redirected to 'ftp://127.0.0.1:{port}/team/app'" in message
    assert not _contacted(listener)


def test_a_redirect_to_plain_http_off_loopback_is_refused(fake: FakeRegistry) -> None:
    fake.behaviour.redirect = "http://mirror.example.invalid/v2/team/app/manifests/1"
    message = failure(ref_on(fake))
    assert "follows redirects only to https" in message
    assert "cannot reach" not in message  # refused before any name lookup


def test_a_redirect_between_loopback_registries_is_followed(fake: FakeRegistry) -> None:
    with FakeRegistry() as mirror:
        digest = mirror.add("team/app", "1", image_manifest("mirrored"))
        fake.behaviour.redirect = f"http://{mirror.host}/v2/team/app/manifests/1"
        assert resolve_digest(ref_on(fake)) == digest
        assert [s.path for s in mirror.seen] == ["/v2/team/app/manifests/1"]


def test_the_token_is_sent_only_to_the_registry(fake: FakeRegistry) -> None:
    with FakeRegistry() as mirror:
        digest = mirror.add("team/app", "1", image_manifest("mirrored"))
        fake.behaviour.require_token = True  # answered with the token, then redirected
        fake.behaviour.redirect = f"http://{mirror.host}/v2/team/app/manifests/1"
        assert resolve_digest(ref_on(fake)) == digest
        assert fake.seen[-1].headers["Authorization"] == f"Bearer {TOKEN}"
        assert [s.headers.get("Authorization") for s in mirror.seen] == [None]


def test_a_token_realm_over_plain_http_off_loopback_is_refused(fake: FakeRegistry) -> None:
    fake.behaviour.require_token = True
    fake.behaviour.realm = "http://auth.example.invalid/token"
    message = failure(ref_on(fake))
    assert "realm 'http://auth.example.invalid/token' is not https" in message
    assert fake.requests_to("/token") == []


def test_a_digest_header_that_the_body_does_not_hash_to_is_refused(fake: FakeRegistry) -> None:
    fake.add("team/app", "1", image_manifest("served"))
    fake.behaviour.digest_header = image_manifest("claimed").digest
    message = failure(ref_on(fake))
    assert f"claims the digest {image_manifest('claimed').digest}" in message
    assert f"hashes to {image_manifest('served').digest}" in message


def test_a_digest_reference_must_hash_to_its_digest(fake: FakeRegistry) -> None:
    wanted = "sha256:" + "a" * 64
    fake.manifests[("team/app", wanted)] = image_manifest("other")
    fake.behaviour.send_digest = False
    assert "hashes to" in failure(ref_on(fake, f"team/app@{wanted}"))


# ------------------------------------------------------------ neither hang nor lie in print


def test_a_dripping_registry_hits_the_overall_deadline(fake: FakeRegistry) -> None:
    fake.add("team/app", "1", image_manifest("one"))
    fake.behaviour.drip = 0.05  # each byte well inside the per-read timeout
    started = time.monotonic()
    message = failure(ref_on(fake), timeout=1, deadline=1.5)
    assert f"{fake.host} was still answering when the 1.5 s deadline ran out" in message
    assert time.monotonic() - started < 4


def test_one_deadline_bounds_all_the_images_together(fake: FakeRegistry) -> None:
    """Two dripping images and a deadline of 1 s: the first image uses it up and is named,
    the second is never asked (with a deadline per image, each had 1 s: 2 s for two)."""
    fake.add("team/python", "3.11", image_manifest("python"))
    fake.add("team/uv", "0.5", image_manifest("uv"))
    fake.behaviour.drip = 0.05  # each byte well inside the per-read timeout
    python, uv = ref_on(fake, "team/python:3.11"), ref_on(fake, "team/uv:0.5")

    with pytest.raises(RegistryError) as caught:
        resolve_all([python, uv], timeout=1, deadline=1)

    assert caught.value.message.splitlines() == [
        "could not resolve 2 of 2 image(s):",
        f"  cannot resolve {python}: {fake.host} was still answering when the 1 s deadline ran out",
        f"  cannot resolve {uv}: not asked, the 1 s deadline had run out",
    ]
    assert [seen.path for seen in fake.seen] == ["/v2/team/python/manifests/3.11"]


def test_control_characters_from_the_registry_are_escaped(fake: FakeRegistry) -> None:
    fake.behaviour.status = 503
    fake.behaviour.reason = "Busy\x1b[2J\x1b[31m"
    message = failure(ref_on(fake))
    assert "\x1b" not in message
    assert "Busy\\x1b[2J\\x1b[31m" in message
    fake.behaviour.status = 429
    fake.behaviour.headers = {"Retry-After": "60\x1b]0;owned\x07"}
    message = failure(ref_on(fake))
    assert "\x1b" not in message and "\x07" not in message
    assert "retry after 60\\x1b]0;owned\\x07 s" in message

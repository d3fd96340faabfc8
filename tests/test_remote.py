"""The shared result store (ws.run.remote) on the real loopback registry, on a second real
registry that wants a login from docker's config, and on the fake registry for what a real
one will not do: serve altered bytes, fill up, rate-limit, demand a token."""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from ws.errors import ConfigError, RegistryError, WsError
from ws.registry.logins import Login
from ws.registry.repository import Repository
from ws.registry.transport import Watchdog
from ws.run.remote import MANIFEST_TYPE, RemoteStore, remote_settings, store_reference
from ws.run.stored import (
    ENTRY_MEDIA_TYPE,
    Result,
    Stored,
    TamperedResult,
    digest_of,
    pack,
    unpack,
)

from tests.support.auth_registry import htpasswd_registry
from tests.support.fake_registry import FakeRegistry, Manifest, closed_port

LOOPBACK = "127.0.0.1:5000"
KEY = "a" * 64
OTHER_KEY = "b" * 64
USER, PASSWORD = "alice", "s3cret-Pa55word"
WRONG, STALE, REFRESH = "nope-Wr0ng", "stale-0ne", "refresh-me"


def result(output: bytes = b"3 passed\n", seconds: float = 1.25) -> Result:
    return Result(0, output, seconds, {"reports/junit.xml": b"<testsuite/>", "empty": b""})


def docker_config(folder: Path, auths: dict[str, object] | None = None, **more: object) -> Path:
    """A DOCKER_CONFIG folder whose config.json holds auths (and any other fields)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps({"auths": auths or {}, **more}))
    return folder


def login_entry(user: str = USER, password: str = PASSWORD) -> dict[str, str]:
    return {"auth": base64.b64encode(f"{user}:{password}".encode()).decode()}


def store_on(host: str, config: Path, repository: str = "team/ws-results") -> RemoteStore:
    return RemoteStore(store_reference(f"{host}/{repository}", "test"), config_dir=config)


def failure(call: object, *args: object) -> RegistryError:
    with pytest.raises(RegistryError) as caught:
        call(*args)  # type: ignore[operator]  # a store's get or put
    assert caught.value.fix, "every failure says what to do"
    return caught.value


# ------------------------------------------------------------ the real loopback registry


@pytest.fixture
def loopback(tmp_path: Path) -> RemoteStore:
    try:
        urllib.request.build_opener(urllib.request.ProxyHandler({})).open(
            f"http://{LOOPBACK}/v2/", timeout=2
        )
    except (urllib.error.URLError, OSError) as e:
        pytest.skip(f"no registry at {LOOPBACK} (run tooling/engine.sh): {e}")
    repository = f"ws-test/results-{uuid.uuid4().hex[:12]}"
    return store_on("localhost:5000", docker_config(tmp_path / "docker"), repository)


@pytest.mark.docker
def test_a_result_goes_round_trip_through_the_real_registry(loopback: RemoteStore) -> None:
    assert loopback.get(KEY) is None, "an empty store is a miss"
    stored = pack(KEY, result())
    loopback.put(KEY, stored)
    got = loopback.get(KEY)
    assert got is not None and got == stored
    assert unpack(KEY, got, "here") == result()
    loopback.put(KEY, stored)  # again: nothing changes, nothing fails
    assert loopback.get(KEY) == stored


@pytest.mark.docker
def test_a_second_put_to_the_real_registry_uploads_no_blob_twice(
    loopback: RemoteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    pushed: list[str] = []
    push_blob = Repository.push_blob

    def counting(repo: Repository, digest: str, data: bytes) -> None:
        pushed.append(digest)
        push_blob(repo, digest, data)

    monkeypatch.setattr(Repository, "push_blob", counting)
    first = pack(KEY, result())
    loopback.put(KEY, first)
    assert len(pushed) == 1 + len(first.blobs)
    pushed.clear()
    loopback.put(KEY, first)
    assert pushed == []
    again = pack(OTHER_KEY, result(seconds=3.5))  # another key, the same output and files
    loopback.put(OTHER_KEY, again)
    assert pushed == [digest_of(again.entry)]
    assert loopback.get(OTHER_KEY) == again


@pytest.mark.docker
def test_the_entry_is_an_oci_artifact_tagged_with_the_key(loopback: RemoteStore) -> None:
    stored = pack(KEY, result())
    loopback.put(KEY, stored)
    url = f"http://{LOOPBACK}/v2/{loopback.ref.repository}/manifests/{KEY}"
    request = urllib.request.Request(url, headers={"Accept": MANIFEST_TYPE})
    with urllib.request.build_opener(urllib.request.ProxyHandler({})).open(request) as answer:
        manifest = json.loads(answer.read())
    assert manifest["mediaType"] == MANIFEST_TYPE
    assert manifest["artifactType"] == manifest["config"]["mediaType"] == ENTRY_MEDIA_TYPE
    assert manifest["config"]["size"] == len(stored.entry)
    assert sorted(layer["digest"] for layer in manifest["layers"]) == sorted(stored.blobs)


@pytest.mark.docker
def test_an_entry_retagged_under_another_key_is_refused(loopback: RemoteStore) -> None:
    loopback.put(KEY, pack(KEY, result()))
    with Watchdog(30) as dog:
        repo = Repository(loopback.ref, "test", login_of=lambda _: None, dog=dog, timeout=10)
        manifest = repo.manifest(KEY, MANIFEST_TYPE)
        assert manifest is not None
        repo.put_manifest(OTHER_KEY, MANIFEST_TYPE, manifest.body)  # a valid entry, of KEY
    with pytest.raises(TamperedResult) as caught:
        loopback.get(OTHER_KEY)
    assert caught.value.fix
    assert str(loopback.ref) in caught.value.message
    assert loopback.get(KEY) is not None, "the entry under its own key still serves"


# ------------------------------------------------------------ a real registry wanting a login


@pytest.mark.docker
def test_a_registry_wanting_a_login_gets_the_one_in_docker_config(tmp_path: Path) -> None:
    with htpasswd_registry(tmp_path / "registry", USER, PASSWORD) as host:
        config = docker_config(tmp_path / "docker", {f"https://{host}/v1/": login_entry()})
        store = store_on(host, config)
        stored = pack(KEY, result())
        store.put(KEY, stored)
        assert store.get(KEY) == stored

        anonymous = store_on(host, docker_config(tmp_path / "none"))
        error = failure(anonymous.get, KEY)
        assert "docker holds no login" in error.message
        assert error.fix == f"run `docker login {host}`"

        wrong = docker_config(tmp_path / "wrong", {host: login_entry(USER, WRONG)})
        error = failure(store_on(host, wrong).put, KEY, stored)
        assert "refused the login docker holds" in error.message
        assert WRONG not in str(error) and PASSWORD not in str(error)


# ------------------------------------------------------------ what only the fake can do


@pytest.fixture
def fake() -> Iterator[FakeRegistry]:
    with FakeRegistry() as registry:
        yield registry


@pytest.fixture
def fake_store(fake: FakeRegistry, tmp_path: Path) -> RemoteStore:
    return store_on(fake.host, docker_config(tmp_path / "docker"))


def uploads(fake: FakeRegistry) -> list[str]:
    return [s.path for s in fake.seen if s.method == "POST"]


def test_a_second_put_uploads_no_blob_twice(fake: FakeRegistry, fake_store: RemoteStore) -> None:
    first = pack(KEY, result())
    fake_store.put(KEY, first)
    assert len(uploads(fake)) == 1 + len(first.blobs)  # the entry and each blob, once

    fake.seen.clear()
    fake_store.put(KEY, first)
    assert uploads(fake) == []
    assert [s.method for s in fake.seen] == ["HEAD"], "the manifest is there: nothing to do"

    fake.seen.clear()
    again = pack(KEY, result(seconds=9.0))  # the same output, another run's time
    fake_store.put(KEY, again)
    assert len(uploads(fake)) == 1, "only the new entry document is uploaded"
    assert fake_store.get(KEY) == again


def test_altered_blob_bytes_are_refused(fake: FakeRegistry, fake_store: RemoteStore) -> None:
    fake_store.put(KEY, pack(KEY, result()))
    fake.behaviour.alter_blobs = True
    with pytest.raises(TamperedResult) as caught:
        fake_store.get(KEY)
    assert "not that blob" in caught.value.message
    assert caught.value.fix


def test_a_manifest_that_is_no_ws_entry_is_refused(
    fake: FakeRegistry, fake_store: RemoteStore
) -> None:
    fake.behaviour.body_override = (MANIFEST_TYPE, b'{"schemaVersion": 2, "layers": []}')
    with pytest.raises(TamperedResult, match="not a ws result"):
        fake_store.get(KEY)


def test_a_half_stored_entry_is_a_miss(fake: FakeRegistry, fake_store: RemoteStore) -> None:
    stored = pack(KEY, result())
    fake_store.put(KEY, stored)
    for digest in stored.blobs:
        del fake.blobs[("team/ws-results", digest)]
    assert fake_store.get(KEY) is None
    fake_store.put(KEY, pack(KEY, result(seconds=2.0)))  # a later put mends it
    assert fake_store.get(KEY) is not None


def test_a_full_store_says_so(fake: FakeRegistry, fake_store: RemoteStore) -> None:
    for status in (413, 507):
        fake.behaviour.upload_status = status
        store = store_on(fake.host, fake_store.config_dir)  # a new run's
        error = failure(store.put, KEY, pack(KEY, result()))
        assert "the store is full" in error.message
        assert f"HTTP {status}" in error.message
        assert "free space" in (error.fix or "")


def test_a_rate_limit_says_when_to_retry(fake: FakeRegistry, fake_store: RemoteStore) -> None:
    fake.behaviour.status = 429
    fake.behaviour.headers = {"Retry-After": "30"}
    error = failure(fake_store.get, KEY)
    assert "rate-limiting" in error.message and "retry after 30 s" in error.message


def test_a_token_registry_gets_a_push_token_for_the_login(
    fake: FakeRegistry, tmp_path: Path
) -> None:
    fake.behaviour.require_token = True
    fake.behaviour.login = (USER, PASSWORD)
    store = store_on(fake.host, docker_config(tmp_path / "d", {fake.host: login_entry()}))
    stored = pack(KEY, result())
    store.put(KEY, stored)
    assert store.get(KEY) == stored
    scopes = [s.query.get("scope") for s in fake.requests_to("/token")]
    assert scopes == ["repository:team/ws-results:pull,push", "repository:team/ws-results:pull"]
    # The login goes to the token service alone; the registry sees only the token.
    for seen in fake.requests_to("/v2/"):
        assert PASSWORD not in json.dumps(seen.headers)
        assert seen.headers.get("Authorization", "Bearer").startswith("Bearer")


def test_a_pull_token_is_traded_for_a_push_token_when_a_write_needs_one(
    fake: FakeRegistry, tmp_path: Path
) -> None:
    fake.behaviour.require_token = True
    fake.behaviour.login = (USER, PASSWORD)
    fake.add("team/ws-results", KEY, Manifest(MANIFEST_TYPE, b'{"schemaVersion": 2}'))
    logins = {fake.host: Login(USER, PASSWORD, "test")}
    with Watchdog(30) as dog:
        repo = Repository(
            store_reference(f"{fake.host}/team/ws-results", "test"),
            "test",
            login_of=logins.get,
            dog=dog,
            timeout=10,
        )
        assert repo.manifest(KEY, MANIFEST_TYPE) is not None
        repo.put_manifest(OTHER_KEY, MANIFEST_TYPE, b'{"schemaVersion": 2}')
    scopes = [s.query.get("scope") for s in fake.requests_to("/token")]
    assert scopes == ["repository:team/ws-results:pull", "repository:team/ws-results:pull,push"]


def test_a_token_service_refusing_the_login_names_docker_login(
    fake: FakeRegistry, tmp_path: Path
) -> None:
    fake.behaviour.require_token = True
    fake.behaviour.login = (USER, PASSWORD)
    config = docker_config(tmp_path / "d", {fake.host: login_entry(USER, STALE)})
    error = failure(store_on(fake.host, config).get, KEY)
    assert "denied access to team/ws-results" in error.message
    assert f"docker login {fake.host}" in (error.fix or "")
    assert STALE not in str(error)


def test_an_identity_token_is_exchanged_as_a_refresh_token(
    fake: FakeRegistry, tmp_path: Path
) -> None:
    fake.behaviour.require_token = True
    config = docker_config(tmp_path / "d", {fake.host: {"identitytoken": REFRESH}})
    assert store_on(fake.host, config).get(KEY) is None
    [token] = fake.requests_to("/token")
    assert token.method == "POST"
    form = dict(p.split("=", 1) for p in token.body.decode().split("&"))
    assert form["grant_type"] == "refresh_token" and form["refresh_token"] == REFRESH


def test_an_unreachable_registry_is_one_clear_error(tmp_path: Path) -> None:
    host = f"127.0.0.1:{closed_port()}"
    error = failure(store_on(host, docker_config(tmp_path / "d")).get, KEY)
    assert error.message.startswith(f"result store {host}/team/ws-results (reading): cannot reach")
    assert error.fix == "check the registry is running and its address is right"
    assert "\n" not in error.message


# ------------------------------------------------------------ references and settings


def test_a_store_reference_is_a_repository_on_a_named_registry() -> None:
    assert str(store_reference("localhost:5000/team/ws-results", "x")) == (
        "localhost:5000/team/ws-results"
    )
    for text in ("team/ws-results", "localhost:5000/team/r:latest", "localhost:5000/R", ""):
        with pytest.raises(WsError) as caught:
            store_reference(text, "--cache-to")
        assert caught.value.message.startswith("--cache-to: ")
        assert "localhost:5000/team/ws-results" in (caught.value.fix or "")


def test_remote_settings_read_cache_from_and_cache_to(tmp_path: Path) -> None:
    path = tmp_path / "pyproject.toml"
    data = {
        "tool": {
            "ws": {
                "run": {
                    "cache-from": ["localhost:5000/team/ws-results", "localhost:5000/main"],
                    "cache-to": "localhost:5000/team/ws-results",
                }
            }
        }
    }
    assert remote_settings(data, path) == (
        ("localhost:5000/team/ws-results", "localhost:5000/main"),
        "localhost:5000/team/ws-results",
    )
    assert remote_settings({"project": {"name": "x"}}, path) == ((), None)


@pytest.mark.parametrize(
    ("run", "field"),
    [
        ({"cache-from": "localhost:5000/a"}, "tool.ws.run.cache-from is not a list"),
        ({"cache-from": [1]}, "tool.ws.run.cache-from[0] is not a string"),
        ({"cache-from": ["localhost:5000/a", "a:b:c"]}, "tool.ws.run.cache-from[1]"),
        ({"cache-to": "localhost:5000/a:tag"}, "tool.ws.run.cache-to"),
        ({"cache-to": ["localhost:5000/a"]}, "tool.ws.run.cache-to is not a string"),
    ],
)
def test_bad_remote_settings_name_the_file_and_field(
    tmp_path: Path, run: dict[str, object], field: str
) -> None:
    path = tmp_path / "pyproject.toml"
    with pytest.raises(ConfigError) as caught:
        remote_settings({"tool": {"ws": {"run": run}}}, path)
    assert caught.value.message.startswith(f"{path}: {field}")
    assert caught.value.fix


def test_a_put_stores_the_entry_and_every_blob_it_names(
    fake: FakeRegistry, fake_store: RemoteStore
) -> None:
    stored = pack(KEY, result())
    fake_store.put(KEY, stored)
    held = {digest for (_, digest) in fake.blobs}
    assert set(stored.blobs) < held
    assert isinstance(fake_store.get(KEY), Stored)


def test_a_refusal_names_the_registry_and_docker_login(
    fake: FakeRegistry, fake_store: RemoteStore
) -> None:
    fake.behaviour.status = 403
    error = failure(fake_store.get, KEY)
    assert error.message.startswith(f"result store {fake.host}/team/ws-results (reading): ")
    assert "denied access to team/ws-results" in error.message
    assert error.fix == (
        f"run `docker login {fake.host}` with an account that may pull from team/ws-results"
    )
    error = failure(fake_store.put, KEY, pack(KEY, result()))
    assert "may push to team/ws-results" in (error.fix or "")


def test_blobs_over_the_limit_are_neither_stored_nor_read(
    fake: FakeRegistry, fake_store: RemoteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    big = pack(KEY, result(output=b"x" * 64))
    fake_store.put(KEY, big)
    monkeypatch.setattr("ws.run.remote.BLOB_LIMIT", 32)
    with pytest.raises(TamperedResult, match="not a ws result"):
        fake_store.get(KEY)
    error = failure(fake_store.put, OTHER_KEY, pack(OTHER_KEY, result(output=b"y" * 64)))
    assert "over the 32 bytes ws shares" in error.message
    monkeypatch.setattr("ws.run.remote.BLOB_LIMIT", 1024)
    assert fake_store.get(KEY) == big
    monkeypatch.setattr("ws.run.remote.ENTRY_LIMIT", len(big.entry) - 1)
    with pytest.raises(TamperedResult, match="not a ws result"):
        fake_store.get(KEY)  # an entry document larger than ws writes is not fetched


def test_a_failing_store_is_not_asked_again_in_that_direction(
    fake: FakeRegistry, fake_store: RemoteStore
) -> None:
    fake.behaviour.status = 503
    first = failure(fake_store.get, KEY)
    assert "HTTP 503" in first.message
    fake.behaviour.status = None
    fake.seen.clear()
    assert failure(fake_store.get, OTHER_KEY) is first
    assert fake.seen == [], "the same error, without a request"
    fake_store.put(KEY, pack(KEY, result()))  # writing was not refused: it still writes
    assert fake.seen


@pytest.mark.parametrize(
    "location", ["ftp://127.0.0.1/v2/team/ws-results/blobs/uploads/1", "http://127.0.0.2/up"]
)
def test_an_upload_location_ws_may_not_go_to_is_refused(
    fake: FakeRegistry, fake_store: RemoteStore, location: str
) -> None:
    fake.behaviour.upload_location = location
    error = failure(fake_store.put, KEY, pack(KEY, result()))
    assert "ws goes only to https" in error.message
    assert not [s for s in fake.seen if s.method == "PUT"], "no byte went anywhere"

"""The result store on a team's OCI registry: each result an OCI artifact tagged with its
key, and where [tool.ws.run] says to read and write them.

An entry's manifest names the entry document (stored.py) as its config blob and the output
and files as its layers. Nothing read is trusted: every blob must hash to its digest, and
the entry must be this key's (stored.unpack), so a registry, a proxy or a teammate that
alters bytes or re-tags another key's entry gets TamperedResult, never a wrong result.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ws.docker.pin.imageref import ImageRef, parse_image_ref
from ws.errors import ConfigError, RegistryError, WsError
from ws.registry.logins import Login, login_for
from ws.registry.repository import AlteredBlob, Repository
from ws.registry.transport import ProxySettings, Watchdog
from ws.run.stored import ENTRY_MEDIA_TYPE, Stored, TamperedResult, digest_of, unpack

MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json"
BLOB_TYPE = "application/vnd.ws.run.blob.v1"
BLOB_LIMIT = 1024 * 1024 * 1024  # one output or file; ws neither stores nor reads more
ENTRY_LIMIT = 4 * 1024 * 1024  # an entry document is a few hundred bytes of JSON
DEFAULT_TIMEOUT = 30.0  # for one connect or read
DEFAULT_DEADLINE = 300.0  # for everything one get or put takes
_KEY = re.compile(r"[0-9a-f]{64}")
_FORM = "a repository such as localhost:5000/team/ws-results (ws adds the tag)"


def store_reference(text: str, where: str) -> ImageRef:
    """text as a result store's repository; a WsError naming where (a flag, a file's field)
    unless it is registry/repository with neither tag nor digest."""
    try:
        ref = parse_image_ref(text)
    except ValueError as e:
        raise WsError(f"{where}: {e}", fix=f"write {_FORM}") from e
    if ref.registry is None or ref.tag is not None or ref.digest is not None:
        problem = "names no registry" if ref.registry is None else "has a tag or digest"
        raise WsError(f"{where}: the result store {text!r} {problem}", fix=f"write {_FORM}")
    return ref


def remote_settings(data: Mapping[str, Any], path: Path) -> tuple[tuple[str, ...], str | None]:
    """[tool.ws.run] cache-from (a list of stores read on a miss, in order) and cache-to (the
    store results are written to) of the root pyproject data read from path; a ConfigError
    naming the file and field for a value that is not a store reference."""
    tool = data.get("tool", {})
    ws = tool.get("ws", {}) if isinstance(tool, dict) else {}
    run = ws.get("run", {}) if isinstance(ws, dict) else {}
    if not isinstance(run, dict):
        raise ConfigError(path, "tool.ws.run is not a table", fix="write [tool.ws.run]")
    sources = run.get("cache-from", [])
    if not isinstance(sources, list):
        raise ConfigError(
            path,
            "tool.ws.run.cache-from is not a list",
            fix='write cache-from = ["localhost:5000/team/ws-results"]',
        )
    froms = tuple(
        _setting(value, f"tool.ws.run.cache-from[{i}]", path) for i, value in enumerate(sources)
    )
    target = run.get("cache-to")
    to = None if target is None else _setting(target, "tool.ws.run.cache-to", path)
    return froms, to


def _setting(value: object, field: str, path: Path) -> str:
    if not isinstance(value, str):
        raise ConfigError(path, f"{field} is not a string", fix=f"write {_FORM}")
    try:
        store_reference(value, field)
    except WsError as e:
        raise ConfigError(path, e.message, fix=e.fix) from e
    return value


class RemoteStore:
    """Results on the repository ref. config_dir is docker's (DOCKER_CONFIG or ~/.docker),
    where logins are looked up when the registry asks for one; proxies as transport says.

    A store that failed a read (unreachable, refusing, rate-limiting) is not asked to read
    again by this object: the same RegistryError comes back at once, so an unresponsive
    registry costs a run one timeout, not one per member; writes likewise (a full store)."""

    def __init__(
        self,
        ref: ImageRef,
        *,
        config_dir: Path,
        proxies: ProxySettings | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        deadline: float = DEFAULT_DEADLINE,
    ) -> None:
        self.ref = ref
        self.name = str(ref)
        self.config_dir = config_dir
        self.proxies = proxies
        self.timeout = timeout
        self.deadline = deadline
        self._login: dict[str, Login | None] = {}  # one lookup (and helper run) per store
        self._failed: dict[str, RegistryError] = {}  # "reading"/"writing" -> the first failure

    def get(self, key: str) -> Stored | None:
        """The result stored under key, None when the store has none (or only part of one);
        TamperedResult when what it serves is not ws's entry for key, byte for byte."""
        tag = _tag(key)
        with self._session("reading", push=False) as repo:
            response = repo.manifest(tag, MANIFEST_TYPE)
            if response is None:
                return None
            config, layers = self._descriptors(key, response.body)
            try:
                entry = repo.blob(*config)
                blobs = {digest: repo.blob(digest, size) for digest, size in layers}
            except AlteredBlob as e:
                problem = f"the bytes served for its blob {e.digest} are not that blob"
                raise self._tampered(key, problem) from e
        if entry is None or any(data is None for data in blobs.values()):
            return None
        stored = Stored(entry, {d: data for d, data in blobs.items() if data is not None})
        unpack(key, stored, self.name)  # the entry must be key's, and name these very bytes
        return stored

    def put(self, key: str, stored: Stored) -> None:
        """Store stored under key: blobs the registry lacks, then the manifest, unless the
        registry already holds this very manifest there."""
        tag = _tag(key)
        manifest = _manifest(stored)
        blobs = [(digest_of(stored.entry), stored.entry), *stored.blobs.items()]
        for _, data in blobs:
            self._check_size(data)
        with self._session("writing", push=True) as repo:
            if repo.manifest_digest(tag, MANIFEST_TYPE) == digest_of(manifest):
                return
            for digest, data in blobs:
                if not repo.has_blob(digest):
                    repo.push_blob(digest, data)
            repo.put_manifest(tag, MANIFEST_TYPE, manifest)

    def _check_size(self, data: bytes) -> None:
        if len(data) > BLOB_LIMIT:
            raise RegistryError(
                f"result store {self.name}: a result's output or file of {len(data)} bytes is "
                f"over the {BLOB_LIMIT} bytes ws shares",
                fix="declare smaller output files for the task",
            )

    @contextmanager
    def _session(self, doing: str, *, push: bool) -> Iterator[Repository]:
        if doing in self._failed:
            raise self._failed[doing]
        try:
            with Watchdog(self.deadline) as dog:
                yield Repository(
                    self.ref,
                    f"result store {self.name} ({doing})",
                    login_of=self._login_of,
                    dog=dog,
                    timeout=self.timeout,
                    proxies=self.proxies,
                    push=push,
                )
        except AlteredBlob:
            raise  # one entry's fault, not the store's
        except RegistryError as e:
            self._failed.setdefault(doing, e)
            raise

    def _login_of(self, registry: str) -> Login | None:
        if registry not in self._login:
            self._login[registry] = login_for(registry, self.config_dir)
        return self._login[registry]

    def _descriptors(self, key: str, body: bytes) -> tuple[tuple[str, int], list[tuple[str, int]]]:
        """(digest, size) of the config and of each layer in a ws entry's manifest."""
        try:
            manifest = json.loads(body)
            config = manifest["config"]
            ok = config["mediaType"] == ENTRY_MEDIA_TYPE and manifest["schemaVersion"] == 2
            pairs = [_descriptor(d) for d in [config, *manifest["layers"]]]
            ok = ok and pairs[0][1] <= ENTRY_LIMIT
        except (ValueError, KeyError, TypeError, RecursionError):
            ok, pairs = False, []
        if not ok:
            raise self._tampered(key, "its manifest is not a ws result's")
        return pairs[0], pairs[1:]

    def _tampered(self, key: str, problem: str) -> TamperedResult:
        return TamperedResult(
            f"{self.name}: the stored result {key[:12]} was refused: {problem}",
            fix="ws ran the task instead; remove the entry from the store",
        )


def _descriptor(data: Mapping[str, Any]) -> tuple[str, int]:
    digest, size = data["digest"], data["size"]
    valid = isinstance(digest, str) and re.fullmatch(r"sha256:[0-9a-f]{64}", digest)
    if not valid or not isinstance(size, int) or not 0 <= size <= BLOB_LIMIT:
        raise ValueError("not a descriptor ws writes")
    return digest, size


def _tag(key: str) -> str:
    if not _KEY.fullmatch(key):
        raise ValueError(f"a result key is 64 lowercase hex digits, not {key!r}")
    return key


def _manifest(stored: Stored) -> bytes:
    """The OCI manifest of stored: the entry as config, the blobs as layers in digest order."""

    def describe(media_type: str, data: bytes) -> dict[str, Any]:
        return {"mediaType": media_type, "digest": digest_of(data), "size": len(data)}

    manifest = {
        "schemaVersion": 2,
        "mediaType": MANIFEST_TYPE,
        "artifactType": ENTRY_MEDIA_TYPE,
        "config": describe(ENTRY_MEDIA_TYPE, stored.entry),
        "layers": [describe(BLOB_TYPE, stored.blobs[d]) for d in sorted(stored.blobs)],
    }
    return json.dumps(manifest, sort_keys=True, separators=(",", ":")).encode()

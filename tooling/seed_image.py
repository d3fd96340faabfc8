"""Pushes a directory as a one-layer OCI image whose digest depends only on its content.

tooling/engine.sh makes the seed images (Python, uv) with it. `docker import` and
`docker push` stamp the time of the import and gzip with the engine's own settings, so
every machine got other digests and the pins committed in pyproject.toml held only where
they were made. Here the layer is a sorted tar with mtimes clamped to a fixed epoch and
owners numeric, gzip without a timestamp, and a config whose `created` is that epoch: the
same files give the same digest on any machine and at any time.

    seed_image.py push DIR REGISTRY REPO:TAG --epoch N [--env K=V]... [--cmd JSON]
        [--entrypoint JSON] [--comment TEXT] [--exclude RELPATH]... [--root-owned]
    seed_image.py digest DIR ...   (the same, but only prints the digest it would push)

Standard library only: it runs before the project's environment exists.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import stat
import sys
import tarfile
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
CHUNK = 1 << 20
# Only loopback registries: never through a proxy.
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass(frozen=True)
class Blob:
    path: Path
    digest: str
    size: int


class Hashing:
    """A write-only file that hashes and counts what passes through it."""

    def __init__(self, out: IO[bytes]) -> None:
        self.out, self.sha, self.size = out, hashlib.sha256(), 0

    def write(self, data: bytes) -> int:
        self.sha.update(data)
        self.size += len(data)
        return self.out.write(data)

    def flush(self) -> None:
        self.out.flush()


def walk(root: Path, excluded: set[str]) -> list[str]:
    """Every path under root, relative and sorted, so the tar's order never depends on the fs."""
    found: list[str] = []
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = os.path.relpath(dirpath, root)
        kept = []
        for name in dirnames:
            rel = os.path.normpath(os.path.join(rel_dir, name))
            if rel not in excluded:
                kept.append(name)
            found.append(rel)  # an excluded directory stays, empty (like /proc)
        dirnames[:] = kept
        found.extend(os.path.normpath(os.path.join(rel_dir, name)) for name in filenames)
    return sorted(found)


def add_entries(tar: tarfile.TarFile, paths: list[str], args: argparse.Namespace) -> None:
    for rel in paths:
        full = args.root / rel
        mode = full.lstat().st_mode
        if stat.S_ISSOCK(mode) or stat.S_ISFIFO(mode) or stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
            continue  # the engine makes /dev and sockets at run time
        info = tar.gettarinfo(str(full), arcname=rel)
        info.mtime = min(int(info.mtime), args.epoch)
        info.uname = info.gname = ""
        if args.root_owned:
            info.uid = info.gid = 0
        if info.isfile():
            with full.open("rb") as f:
                tar.addfile(info, f)
        else:
            tar.addfile(info)


def write_layer(args: argparse.Namespace, workdir: Path) -> tuple[Blob, str]:
    """The gzipped layer blob and the sha256 of its uncompressed tar (the diff id)."""
    path = workdir / "layer.tar.gz"
    with path.open("wb") as raw:
        packed = Hashing(raw)
        with gzip.GzipFile(filename="", mode="wb", fileobj=packed, compresslevel=6, mtime=0) as gz:  # type: ignore[arg-type]
            plain = Hashing(gz)  # type: ignore[arg-type]
            with tarfile.open(fileobj=plain, mode="w|", format=tarfile.PAX_FORMAT) as tar:  # type: ignore[call-overload]
                add_entries(tar, walk(args.root, set(args.exclude)), args)
    blob = Blob(path, f"sha256:{packed.sha.hexdigest()}", packed.size)
    return blob, f"sha256:{plain.sha.hexdigest()}"


def canonical(doc: dict) -> bytes:
    return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()


def write_json(workdir: Path, name: str, doc: dict) -> Blob:
    data = canonical(doc)
    path = workdir / name
    path.write_bytes(data)
    return Blob(path, f"sha256:{hashlib.sha256(data).hexdigest()}", len(data))


def image_config(args: argparse.Namespace, diff_id: str) -> dict:
    created = datetime.fromtimestamp(args.epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    config: dict = {"Env": args.env}
    if args.cmd:
        config["Cmd"] = json.loads(args.cmd)
    if args.entrypoint:
        config["Entrypoint"] = json.loads(args.entrypoint)
    return {
        "architecture": args.arch,
        "os": "linux",
        "created": created,
        "config": config,
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created": created, "created_by": args.comment}],
    }


def manifest(config: Blob, layer: Blob) -> dict:
    def descriptor(media_type: str, blob: Blob) -> dict:
        return {"mediaType": media_type, "digest": blob.digest, "size": blob.size}

    return {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": descriptor(OCI_CONFIG, config),
        "layers": [descriptor(OCI_LAYER, layer)],
    }


def request(method: str, url: str, body: IO[bytes] | bytes | None = None, **headers: str):
    req = urllib.request.Request(url, data=body, method=method, headers=headers)  # noqa: S310
    return OPENER.open(req, timeout=300)


def push_blob(base: str, repo: str, blob: Blob) -> None:
    try:
        request("HEAD", f"{base}/v2/{repo}/blobs/{blob.digest}").close()
        return  # the registry has it already
    except urllib.error.HTTPError as e:
        if e.code != 404:
            raise
    with request("POST", f"{base}/v2/{repo}/blobs/uploads/", b"") as started:
        location = urllib.parse.urljoin(base, started.headers["Location"])
    sep = "&" if "?" in location else "?"
    url = f"{location}{sep}digest={urllib.parse.quote(blob.digest)}"
    with blob.path.open("rb") as f:
        request(
            "PUT",
            url,
            f,
            **{"Content-Type": "application/octet-stream", "Content-Length": str(blob.size)},
        ).close()


def push(args: argparse.Namespace, blobs: list[Blob], top: Blob) -> str:
    base = f"http://{args.registry}"
    repo, tag = args.ref.rsplit(":", 1)
    for blob in blobs:
        push_blob(base, repo, blob)
    with request(
        "PUT",
        f"{base}/v2/{repo}/manifests/{tag}",
        top.path.read_bytes(),
        **{"Content-Type": OCI_MANIFEST},
    ) as done:
        served = done.headers.get("Docker-Content-Digest", top.digest)
    if served != top.digest:
        raise SystemExit(f"seed_image.py: the registry stored {served}, not {top.digest}")
    return top.digest


def parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    p.add_argument("action", choices=["push", "digest"])
    p.add_argument("root", type=Path, help="the directory that becomes the image's filesystem")
    p.add_argument("registry", help="host:port of a loopback registry")
    p.add_argument("ref", help="repository:tag")
    p.add_argument(
        "--epoch", type=int, required=True, help="the image time; later mtimes clamp to it"
    )
    p.add_argument("--arch", default="amd64")
    p.add_argument("--env", action="append", default=[])
    p.add_argument("--cmd", default="")
    p.add_argument("--entrypoint", default="")
    p.add_argument("--comment", default="ws seed image")
    p.add_argument("--exclude", action="append", default=[], help="a directory kept empty")
    p.add_argument("--root-owned", action="store_true", help="every entry owned by 0:0")
    return p.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse(argv)
    with tempfile.TemporaryDirectory(prefix="ws-seed-") as tmp:
        workdir = Path(tmp)
        layer, diff_id = write_layer(args, workdir)
        config = write_json(workdir, "config.json", image_config(args, diff_id))
        top = write_json(workdir, "manifest.json", manifest(config, layer))
        digest = push(args, [layer, config], top) if args.action == "push" else top.digest
    print(digest)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""A package index with bulky wheels, optionally behind a slow link (the Docker benchmark)."""

from __future__ import annotations

import base64
import hashlib
import io
import random
import threading
import time
import zipfile

from tests.support.pyindex import LocalIndex
from tests.support.wheels import Wheel, module_name


class BulkIndex(LocalIndex):
    """LocalIndex that also serves wheels made elsewhere (the bulky dependency packages) and
    may stand for a remote index: every wheel then takes its turn on a link of `link` B/s."""

    def __init__(self, link: float | None = None) -> None:
        super().__init__()
        self.link = link
        self._link_lock = threading.Lock()

    def add_wheel(self, wheel: Wheel) -> None:
        with self._lock:
            self._wheels.setdefault(wheel.project, {})[wheel.filename] = wheel

    def wheel(self, filename: str) -> Wheel | None:
        found = super().wheel(filename)
        if found is not None and self.link:
            with self._link_lock:  # one shared link: parallel downloads queue for it
                time.sleep(len(found.data) / self.link)
        return found


def _record_hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
    return "sha256=" + digest.decode("ascii")


def bulk_wheel(name: str, modules: int, rng: random.Random, version: str = "1.0") -> Wheel:
    """A wheel like a mid-sized library: many modules of code and a compressed-data blob."""
    mod = module_name(name)
    info = f"{mod}-{version}.dist-info"
    files = {f"{mod}/__init__.py": f'__version__ = "{version}"\n'.encode()}
    for i in range(modules):
        body = "".join(
            f"def f{j}(x):\n    return x * {j} + {rng.randint(0, 999)}\n" for j in range(60)
        )
        files[f"{mod}/m{i:03d}.py"] = body.encode()
    files[f"{mod}/data.bin"] = rng.randbytes(1_500_000)
    files[f"{info}/METADATA"] = (
        f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode()
    )
    files[f"{info}/WHEEL"] = (
        b"Wheel-Version: 1.0\nGenerator: bench\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    )
    record = [f"{path},{_record_hash(data)},{len(data)}" for path, data in files.items()]
    files[f"{info}/RECORD"] = ("\n".join([*record, f"{info}/RECORD,,"]) + "\n").encode()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for path, data in files.items():
            zf.writestr(zipfile.ZipInfo(path, date_time=(1980, 1, 1, 0, 0, 0)), data)
    filename = f"{mod}-{version}-py3-none-any.whl"
    return Wheel(name, version, (), None, filename, buffer.getvalue())

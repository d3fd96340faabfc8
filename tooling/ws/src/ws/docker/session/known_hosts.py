"""The host keys ssh on this machine knows for the git hosts a lock fetches from over ssh, so
that ssh in the build checks them as it does here (never `StrictHostKeyChecking=no`).

Read from the known_hosts files themselves: plain patterns (`host`, `[host]:port`, `*` and `?`
wildcards, `!` negations) and OpenSSH's hashed names (`|1|salt|HMAC-SHA1(salt, name)`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Sequence
from pathlib import Path


def known_name(host: str, port: int) -> str:
    """How known_hosts names host at port: bare for 22, else [host]:port."""
    return host if port == 22 else f"[{host}]:{port}"


def matching_lines(
    hosts: Sequence[tuple[str, int]], files: Sequence[Path]
) -> tuple[str, list[str]]:
    """The known_hosts lines (of files, in order) naming any of hosts, and the hosts that no
    line names (as known_hosts writes them)."""
    names = [known_name(host, port) for host, port in hosts]
    found: list[str] = []
    seen: set[str] = set()
    for path in files:
        for line in _lines(path):
            hit = [name for name in names if _names(line, name)]
            if hit and not line.startswith("@revoked"):
                found.append(line)
                seen.update(hit)
    return "".join(line + "\n" for line in found), [n for n in names if n not in seen]


def _lines(path: Path) -> list[str]:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    return [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]


def _names(line: str, name: str) -> bool:
    fields = line.split()
    if fields and fields[0].startswith("@"):
        fields = fields[1:]
    if not fields:
        return False
    patterns = fields[0]
    if patterns.startswith("|1|"):
        return _hashed(patterns, name)
    matched = False
    for pattern in patterns.split(","):
        if pattern.startswith("!") and _glob(name, pattern[1:]):
            return False
        matched = matched or _glob(name, pattern)
    return matched


def _glob(name: str, pattern: str) -> bool:
    """ssh's patterns: `*` and `?` are wildcards, everything else (the brackets of
    `[host]:port` too) stands for itself; host names match whatever their case."""
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, name, re.IGNORECASE) is not None


def _hashed(field: str, name: str) -> bool:
    try:
        _, _, salt, digest = field.split("|", 3)
        key = base64.b64decode(salt)
        want = base64.b64decode(digest)
    except ValueError:
        return False
    return hmac.compare_digest(hmac.new(key, name.encode(), hashlib.sha1).digest(), want)

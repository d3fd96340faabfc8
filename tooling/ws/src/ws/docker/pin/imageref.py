"""Docker image references, parsed and validated like the distribution `reference` grammar.

    reference := [domain "/"] path [":" tag] ["@" digest]
    domain    := host [":" port]          (DNS name, IPv4, or [IPv6])
    path      := component ("/" component)*, component := [a-z0-9]+ ([._]|__|-+ [a-z0-9]+)*
    tag       := [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}
    digest    := sha256:<64 hex> | sha384:<96 hex> | sha512:<128 hex>   (lowercase hex)

As in Docker, the first path component is a registry only when it contains "." or ":",
is "localhost", or has an uppercase letter; otherwise the name is on the default registry
(Docker Hub), where a one-component name gets the "library/" namespace. ws keeps the
default registry as `registry=None` rather than spelling out its host: the resolver in
ws.docker.pin.registry refuses such references, because ws pins images from named registries
only. A Docker Hub host written out explicitly is kept as written, not normalised.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

_ALNUM = r"[a-z0-9]+"
_SEPARATOR = r"(?:[._]|__|-+)"
_PATH_COMPONENT = re.compile(rf"{_ALNUM}(?:{_SEPARATOR}{_ALNUM})*")
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = re.compile(
    rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|\[[a-fA-F0-9:]+\])(?::[0-9]+)?"
)
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
_HEX = re.compile(r"[0-9a-f]+")
DIGEST_LENGTHS = {"sha256": 64, "sha384": 96, "sha512": 128}
NAME_MAX = 255
LIBRARY = "library/"


@dataclass(frozen=True)
class ImageRef:
    """A validated image reference; `registry=None` means Docker's default registry."""

    registry: str | None
    repository: str
    tag: str | None = None
    digest: str | None = None

    def __post_init__(self) -> None:
        if self.registry is not None:
            _check_registry(self.registry)
        _check_repository(self.repository, default_registry=self.registry is None)
        if len(self.name) > NAME_MAX:
            raise ValueError(f"name is {len(self.name)} characters long; at most {NAME_MAX}")
        if self.tag is not None:
            _check_tag(self.tag)
        if self.digest is not None:
            check_digest(self.digest)

    @property
    def name(self) -> str:
        """The name as Docker shows it: registry/repository, without "library/" on the hub."""
        if self.registry is not None:
            return f"{self.registry}/{self.repository}"
        if self.repository.startswith(LIBRARY) and self.repository.count("/") == 1:
            return self.repository[len(LIBRARY) :]
        return self.repository

    def with_tag(self, tag: str) -> ImageRef:
        """This reference with tag (ValueError: not a tag Docker accepts)."""
        return replace(self, tag=tag)

    def with_digest(self, digest: str | None) -> ImageRef:
        """This reference pinned to digest (None drops the pin); the tag is kept."""
        return replace(self, digest=digest)

    def __str__(self) -> str:
        text = self.name
        if self.tag is not None:
            text += f":{self.tag}"
        if self.digest is not None:
            text += f"@{self.digest}"
        return text


def parse_image_ref(text: str) -> ImageRef:
    """Parse text into an ImageRef; ValueError names the reference and the exact problem."""
    if not isinstance(text, str):
        raise ValueError(f"an image reference must be a string, not {type(text).__name__}")
    try:
        return _parse(text)
    except ValueError as e:
        raise ValueError(f"invalid image reference {text!r}: {e}") from None


def check_digest(digest: str) -> None:
    """Raise ValueError unless digest is algorithm:hex with a supported algorithm."""
    algorithm, colon, hexpart = digest.partition(":")
    if not colon:
        raise ValueError(f"digest {digest!r} lacks its algorithm, e.g. sha256:<64 hex digits>")
    if algorithm not in DIGEST_LENGTHS:
        known = ", ".join(DIGEST_LENGTHS)
        raise ValueError(f"digest algorithm {algorithm!r} is not supported (use {known})")
    want = DIGEST_LENGTHS[algorithm]
    if len(hexpart) != want:
        raise ValueError(f"a {algorithm} digest has {want} hex digits, this one {len(hexpart)}")
    if not _HEX.fullmatch(hexpart):
        raise ValueError(f"digest {digest!r} must be lowercase hexadecimal (0-9, a-f)")


def _parse(text: str) -> ImageRef:
    _check_characters(text)
    name, at, digest = text.partition("@")
    if "@" in digest:
        raise ValueError("more than one '@'")
    if at and not digest:
        raise ValueError("'@' with no digest after it")
    tag = None
    colon = name.rfind(":")
    if colon > name.rfind("/"):
        name, tag = name[:colon], name[colon + 1 :]
        if not tag:
            raise ValueError("':' with no tag after it")
    if not name:
        raise ValueError("no repository name")
    registry, repository = _split_registry(name)
    return ImageRef(registry, repository, tag, digest or None)


def _check_characters(text: str) -> None:
    if not text:
        raise ValueError("it is empty")
    for i, ch in enumerate(text):
        if ch in "\r\n":
            raise ValueError(f"line break at position {i}")
        if ch.isspace():
            raise ValueError(f"whitespace at position {i}")
        if not ch.isprintable():
            raise ValueError(f"control character U+{ord(ch):04X} at position {i}")
        if not ch.isascii():
            raise ValueError(f"non-ASCII character {ch!r} at position {i}")


def _split_registry(name: str) -> tuple[str | None, str]:
    """Docker's rule: the first component is a registry only if it cannot be a path."""
    first, slash, rest = name.partition("/")
    if slash and _looks_like_registry(first):
        return first, rest
    if "/" not in name:
        return None, LIBRARY + name
    return None, name


def _looks_like_registry(component: str) -> bool:
    return (
        "." in component
        or ":" in component
        or component == "localhost"
        or component.lower() != component
    )


def _check_registry(registry: str) -> None:
    if not _DOMAIN.fullmatch(registry):
        raise ValueError(f"registry {registry!r} is not a valid host[:port]")
    if not _looks_like_registry(registry):
        raise ValueError(
            f"registry {registry!r} would read as a repository path; a registry host "
            "needs a '.', a ':port', or to be 'localhost'"
        )


def _check_repository(repository: str, *, default_registry: bool) -> None:
    if not repository:
        raise ValueError("no repository name")
    components = repository.split("/")
    for component in components:
        if not component:
            raise ValueError(f"repository {repository!r} has an empty path component")
        if component.lower() != component:
            raise ValueError(f"repository names must be lowercase, not {component!r}")
        if not _PATH_COMPONENT.fullmatch(component):
            raise ValueError(
                f"repository component {component!r} is not valid: use lowercase letters and "
                "digits, joined by single '.', '_', '__' or runs of '-'"
            )
    if default_registry and len(components) < 2:
        raise ValueError(f"repository {repository!r} on the default registry needs a namespace")


def _check_tag(tag: str) -> None:
    if _TAG.fullmatch(tag):
        return
    if len(tag) > 128:
        raise ValueError(f"tag is {len(tag)} characters long; at most 128")
    if not tag or tag[0] in ".-":
        raise ValueError(f"tag {tag!r} must start with a letter, digit or '_'")
    raise ValueError(f"tag {tag!r} may contain only letters, digits, '_', '.' and '-'")

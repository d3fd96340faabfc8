"""Pin the base images of [tool.ws.docker] to the digests their tags point at now."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from ws.docker import registry
from ws.docker.config import TABLE, RootConfig
from ws.docker.imageref import ImageRef
from ws.toml_write import set_values

Resolver = Callable[[Iterable[ImageRef]], Mapping[ImageRef, str]]
IMAGE_KEYS = ("python-image", "uv-image")


@dataclass(frozen=True)
class PinChange:
    key: str  # the key under [tool.ws.docker], e.g. "python-image"
    old: str
    new: str


def configured_images(config: RootConfig) -> dict[str, ImageRef]:
    return {"python-image": config.python_image, "uv-image": config.uv_image}


def pin_images(
    pyproject: Path, config: RootConfig, resolver: Resolver = registry.resolve_all
) -> list[PinChange]:
    """Resolve every image's tag and write name:tag@digest back, keeping the file's layout.

    Nothing is written unless every image resolved (the resolver raises otherwise).
    """
    images = configured_images(config)
    digests = resolver([ref.with_digest(None) for ref in images.values()])
    changes = []
    for key, ref in images.items():
        pinned = ref.with_digest(digests[ref.with_digest(None)])
        if pinned != ref:
            changes.append(PinChange(key, str(ref), str(pinned)))
    if changes:
        set_values(pyproject, {("tool", "ws", "docker", c.key): c.new for c in changes})
    return changes


def check_pins(
    pyproject: Path, config: RootConfig, resolver: Resolver = registry.resolve_all
) -> list[str]:
    """One line per image without a pin or whose tag now points at another digest.

    Only pinned images are looked up, so a missing pin is reported without a registry.
    """
    images = configured_images(config)
    problems = [
        f"{pyproject}: `{TABLE}.{key}` = {str(ref)!r} is not pinned to a digest"
        for key, ref in images.items()
        if ref.digest is None
    ]
    pinned = {key: ref for key, ref in images.items() if ref.digest is not None}
    if not pinned:
        return problems
    digests = resolver([ref.with_digest(None) for ref in pinned.values()])
    for key, ref in pinned.items():
        current = digests[ref.with_digest(None)]
        if current != ref.digest:
            problems.append(
                f"{pyproject}: `{TABLE}.{key}`: the tag {ref.name}:{ref.tag} now points at "
                f"{current}, not the pinned {ref.digest}"
            )
    return problems

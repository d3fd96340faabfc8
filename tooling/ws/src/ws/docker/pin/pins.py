"""Pin the base images of [tool.ws.docker] to the digests their tags point at now.

The registry client and the TOML writer are imported only to pin or to look up: `ws check`
asks this module only whether each image has a digest, offline.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from ws.docker.generate.config import TABLE, RootConfig
from ws.docker.pin.imageref import ImageRef, parse_image_ref
from ws.errors import ConfigError
from ws.mutex import workspace_lock

Resolver = Callable[[Iterable[ImageRef]], Mapping[ImageRef, str]]
IMAGE_KEYS = ("python-image", "uv-image")
DEFAULT_WAIT = 300.0  # seconds to wait for another ws run, as sync-locks does


@dataclass(frozen=True)
class PinChange:
    key: str  # the key under [tool.ws.docker], e.g. "python-image"
    old: str
    new: str


def configured_images(config: RootConfig) -> dict[str, ImageRef]:
    return {"python-image": config.python_image, "uv-image": config.uv_image}


def pin_images(
    pyproject: Path,
    config: RootConfig,
    resolver: Resolver | None = None,
    *,
    wait: float = DEFAULT_WAIT,
    writable: bool = True,
) -> list[PinChange]:
    """Resolve every image's tag and write name:tag@digest back, keeping the file's layout.

    Nothing is written unless every image resolved (the resolver raises otherwise). The
    write happens under the workspace lock (waiting up to wait seconds; none when .ws is
    not ws's to write: writable), after re-reading the file: an image changed while the
    registry answered is an error, never reverted.
    """
    from ws.toml_write import set_values

    images = configured_images(config)
    digests = (resolver or _registry())([ref.with_digest(None) for ref in images.values()])
    changes = []
    for key, ref in images.items():
        pinned = ref.with_digest(digests[ref.with_digest(None)])
        if pinned != ref:
            changes.append(PinChange(key, str(ref), str(pinned)))
    if changes:
        root = pyproject.parent
        with workspace_lock(root, timeout=wait, writable=writable):
            _refuse_moved(pyproject, images, changes)
            updates = {_key_path(c.key): c.new for c in changes}
            set_values(pyproject, updates, root=root)
    return changes


def _key_path(key: str) -> tuple[str, ...]:
    return ("tool", "ws", "docker", key)


def _refuse_moved(
    pyproject: Path, images: Mapping[str, ImageRef], changes: list[PinChange]
) -> None:
    """A ConfigError if an image about to be pinned no longer reads as it did."""
    from ws.toml_write import read_strings

    current = read_strings(pyproject, [_key_path(c.key) for c in changes])
    for change in changes:
        now = current[_key_path(change.key)]
        if now is None or _parsed(now) != images[change.key]:
            raise ConfigError(
                pyproject,
                f"`{TABLE}.{change.key}` changed while ws asked the registry "
                f"(it was {change.old!r}, it is now {now!r}); nothing was written",
                fix="run `ws docker pin` again to pin the new value",
            )


def _parsed(text: str) -> ImageRef | None:
    try:
        return parse_image_ref(text)
    except ValueError:
        return None


def unpinned(pyproject: Path, config: RootConfig) -> list[str]:
    """One line per image without a digest: what `ws check` can say without a registry."""
    return [
        f"{pyproject}: `{TABLE}.{key}` = {str(ref)!r} is not pinned to a digest"
        for key, ref in configured_images(config).items()
        if ref.digest is None
    ]


def check_pins(pyproject: Path, config: RootConfig, resolver: Resolver | None = None) -> list[str]:
    """One line per image without a pin or whose tag now points at another digest.

    Only pinned images are looked up, so a missing pin is reported without a registry.
    """
    images = configured_images(config)
    problems = unpinned(pyproject, config)
    pinned = {key: ref for key, ref in images.items() if ref.digest is not None}
    if not pinned:
        return problems
    digests = (resolver or _registry())([ref.with_digest(None) for ref in pinned.values()])
    for key, ref in pinned.items():
        current = digests[ref.with_digest(None)]
        if current != ref.digest:
            problems.append(
                f"{pyproject}: `{TABLE}.{key}`: the tag {ref.name}:{ref.tag} now points at "
                f"{current}, not the pinned {ref.digest}"
            )
    return problems


def _registry() -> Resolver:
    """The registry client's resolver, without proxies (the CLI passes its own resolver)."""
    from ws.docker.pin import registry

    return registry.resolve_all

"""--cache-to and --cache-from on the real engine and the loopback registry: a fresh engine
(no build cache, no local images) takes the dependency layer from the registry."""

from __future__ import annotations

from pathlib import Path

import docker
import pytest
from ws.docker.pin.imageref import parse_image_ref
from ws.locks.sync import LockOptions

from tests.support.imagebuild import Made, build, step_with

pytestmark = pytest.mark.docker
DEPENDENCY_STEP = "--no-install-local"  # the generated RUN that installs the lock alone
MEMBER_STEP = "--no-editable"  # the generated RUN that installs the members


def forget_everything(client: docker.DockerClient, repository: str) -> list[str]:
    """What a fresh CI runner's engine holds of these images: nothing. The base images stay
    (BuildKit pulls them itself when missing). The build cache records deleted."""
    for image in client.images.list():
        if any(tag.startswith(repository + ":") for tag in image.tags):
            client.images.remove(image.id, force=True)
    return list(client.api.prune_builds(all=True).get("CachesDeleted") or [])


def test_a_fresh_engine_takes_the_dependency_layer_from_the_registry(
    engine: docker.DockerClient, made: Made, workspace: Path, lock_options: LockOptions
) -> None:
    (first,), _ = build(engine, made, workspace, ["svc"], lock_options, cache_to="ci")
    repository = parse_image_ref(first.refs[0]).name
    assert set(first.pushed) >= {f"{repository}:ci", f"{repository}:ci-deps"}

    # Another build on the same engine may hold records of its own; ours are gone.
    assert forget_everything(engine, repository), "the engine's build cache was emptied"
    source = workspace / "packages/svc/src/svc/__init__.py"
    source.write_text(source.read_text() + "\n# one more line\n")

    (second,), lines = build(engine, made, workspace, ["svc"], lock_options, cache_from=("ci",))
    assert step_with(second, DEPENDENCY_STEP).cached, "the dependency install came from the cache"
    assert step_with(second, "COPY --from=deps").cached, "and the venv layer with it"
    assert not step_with(second, MEMBER_STEP).cached, "the changed source was installed anew"
    assert any("importing cache manifest" in line for _, line in lines)


def test_a_missing_cache_is_skipped_with_a_message(
    engine: docker.DockerClient, made: Made, workspace: Path, lock_options: LockOptions
) -> None:
    (image,), lines = build(
        engine, made, workspace, ["svc"], lock_options, cache_from=("never-pushed",)
    )
    assert image.image_id
    skipped = [line for member, line in lines if member == "ws" and "building without it" in line]
    assert len(skipped) == 2, "the image and its dependency stage, each named once"
    assert all(":never-pushed" in line for line in skipped)


def test_a_cache_tag_docker_refuses_stops_the_run_before_any_build(
    engine: docker.DockerClient, made: Made, workspace: Path, lock_options: LockOptions
) -> None:
    """`--cache-to` names two tags, the image's and its dependency stage's (`TAG-deps`): a
    tag that fits Docker's 128 characters only without the suffix is refused with --tag's
    checks, before the first build, not halfway through the run."""
    from ws.errors import WsError

    built = {image.id for image in engine.images.list(filters={"label": made.selector})}
    with pytest.raises(WsError, match=r"--cache-from/--cache-to: .*128"):
        build(engine, made, workspace, ["svc"], lock_options, cache_to="c" * 125)
    assert {image.id for image in engine.images.list(filters={"label": made.selector})} == built

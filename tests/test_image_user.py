"""The user an image runs as, on a real engine (BuildKit): the configured name made in the
image with a home of its own to write to, a venv it runs but cannot change, and a uid:gid
given as numbers made under the name app."""

from __future__ import annotations

from pathlib import Path

import docker
import pytest
from ws.locks.sync import LockOptions

from tests.support.image_fixtures import MakeWorkspace
from tests.support.imagebuild import Made, build
from tests.support.images import run_image

MEMBERS = {
    "named": {"extra": '[tool.ws.docker]\ncommand = ["true"]\n'},
    "numbered": {"extra": '[tool.ws.docker]\ncommand = ["true"]\nuser = "1000:1000"\n'},
    # staff is a group the Debian base image has: used as it is, not made again
    "grouped": {"extra": '[tool.ws.docker]\ncommand = ["true"]\nuser = "svc:staff"\n'},
}
# One line per question; a step that fails prints nothing, or what says it failed.
PROBE = """
id -un; id -u; id -gn; id -g; echo "$HOME"
touch "$HOME/x" && echo home-writable
python -c "import pathlib; pathlib.Path.home().joinpath('.cache').mkdir()" && echo cache-made
stat -c %U:%G:%a /app/.venv
touch /app/.venv/x 2>/dev/null && echo venv-writable || echo venv-refused
grep -qs "^$(id -un):" /etc/subuid /etc/subgid && echo subordinate-ids || echo no-subordinate-ids
"""
# A service account: no subordinate uid or gid ranges (they serve users who run containers).
ANSWERS = ["home-writable", "cache-made", "root:root:755", "venv-refused", "no-subordinate-ids"]


@pytest.fixture(scope="module")
def root(image_workspace: MakeWorkspace) -> Path:
    """named takes the default user; numbered sets user = "1000:1000"; grouped "svc:staff"."""
    return image_workspace("image-user", MEMBERS)


@pytest.mark.docker
@pytest.mark.parametrize(
    ("member", "ids"),
    [
        ("named", ["app", "10001", "app", "10001", "/home/app"]),
        ("numbered", ["app", "1000", "app", "1000", "/home/app"]),
        ("grouped", ["svc", "10001", "staff", "50", "/home/svc"]),
    ],
)
def test_the_image_runs_as_its_user_with_a_home_and_a_venv_it_cannot_change(
    engine: docker.DockerClient,
    made: Made,
    root: Path,
    lock_options: LockOptions,
    member: str,
    ids: list[str],
) -> None:
    (image,), _ = build(engine, made, root, [member], lock_options)

    assert engine.images.get(image.image_id).attrs["Config"]["User"] == ids[0]
    answer = run_image(engine, image.image_id, ["sh", "-c", PROBE], made.label)
    assert answer.split() == [*ids, *ANSWERS]

"""Image references parse, default and print like Docker's, and bad ones say exactly why."""

from __future__ import annotations

import dataclasses

import pytest
from ws.docker.pin.imageref import ImageRef, check_digest, parse_image_ref

SHA = "sha256:" + "0123456789abcdef" * 4


@pytest.mark.parametrize(
    ("text", "registry", "repository", "tag", "digest"),
    [
        ("python", None, "library/python", None, None),
        ("python:3.11-slim", None, "library/python", "3.11-slim", None),
        ("astral-sh/uv:0.13.9", None, "astral-sh/uv", "0.13.9", None),
        ("localhost:5000/python:3.11-slim", "localhost:5000", "python", "3.11-slim", None),
        ("localhost/team/app", "localhost", "team/app", None, None),
        ("127.0.0.1:5000/a/b/c:v1", "127.0.0.1:5000", "a/b/c", "v1", None),
        ("[::1]:5000/app:1", "[::1]:5000", "app", "1", None),
        ("ghcr.io/astral-sh/uv:0.13.9", "ghcr.io", "astral-sh/uv", "0.13.9", None),
        (f"registry.example:443/app@{SHA}", "registry.example:443", "app", None, SHA),
        (f"localhost:5000/app:1@{SHA}", "localhost:5000", "app", "1", SHA),
        # An uppercase first component cannot be a path, so Docker reads it as a host.
        ("Mirror/app", "Mirror", "app", None, None),
        ("a.b-c--d/f_g", "a.b-c--d", "f_g", None, None),
        ("x/a.b-c__d---e", None, "x/a.b-c__d---e", None, None),
        ("app:_under.Score-1", None, "library/app", "_under.Score-1", None),
    ],
)
def test_parse_splits_like_docker(
    text: str, registry: str | None, repository: str, tag: str | None, digest: str | None
) -> None:
    ref = parse_image_ref(text)
    assert ref == ImageRef(registry, repository, tag, digest)


@pytest.mark.parametrize(
    "text",
    [
        "python",
        "python:3.11",
        "team/app:1",
        "localhost:5000/python:3.11-slim",
        "[::1]:5000/app:1",
        f"localhost:5000/app:1@{SHA}",
        f"ghcr.io/a/b@{SHA}",
    ],
)
def test_str_round_trips(text: str) -> None:
    ref = parse_image_ref(text)
    assert str(ref) == text
    assert parse_image_ref(str(ref)) == ref


def test_library_prefix_is_dropped_when_printing_and_restored_when_parsing() -> None:
    explicit = parse_image_ref("library/python:3.11")
    assert explicit == parse_image_ref("python:3.11")
    assert str(explicit) == "python:3.11"
    assert explicit.name == "python"
    # Only one-component hub names are shortened: deeper library paths print in full.
    assert str(ImageRef(None, "library/a/b")) == "library/a/b"


def test_with_digest_pins_and_unpins_keeping_the_tag() -> None:
    ref = parse_image_ref("localhost:5000/app:1")
    pinned = ref.with_digest(SHA)
    assert str(pinned) == f"localhost:5000/app:1@{SHA}"
    assert pinned.with_digest(None) == ref
    with pytest.raises(ValueError, match="64 hex digits"):
        ref.with_digest("sha256:abc")


def test_refs_are_frozen_and_hashable() -> None:
    ref = parse_image_ref("localhost:5000/app:1")
    with pytest.raises(dataclasses.FrozenInstanceError):
        ref.tag = "2"  # type: ignore[misc]
    assert {ref: 1}[parse_image_ref("localhost:5000/app:1")] == 1


def test_longest_tag_and_name_are_accepted() -> None:
    assert parse_image_ref("app:" + "t" * 128).tag == "t" * 128
    name = "localhost/" + "a" * (255 - len("localhost/"))
    assert parse_image_ref(name).name == name


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "it is empty"),
        ("python:3.11\n", "line break at position 11"),
        ("pyth\ron", "line break at position 4"),
        ("python 3", "whitespace at position 6"),
        ("py\tthon", "whitespace at position 2"),
        ("py\x00thon", "control character U+0000 at position 2"),
        ("py\x7fthon", "control character U+007F at position 2"),
        ("pythön", "non-ASCII character 'ö' at position 4"),
        ("Python", "repository names must be lowercase, not 'Python'"),
        ("localhost:5000/Team/app", "repository names must be lowercase, not 'Team'"),
        ("team//app", "empty path component"),
        ("team/app/", "empty path component"),
        ("localhost:5000/", "no repository name"),
        (":tag", "no repository name"),
        ("app:", "':' with no tag after it"),
        ("app@", "'@' with no digest after it"),
        (f"app@{SHA}@{SHA}", "more than one '@'"),
        ("team/-app", "component '-app' is not valid"),
        ("team/app.", "component 'app.' is not valid"),
        ("team/a...b", "component 'a...b' is not valid"),
        ("team/a___b", "component 'a___b' is not valid"),
        ("app:.hidden", "tag '.hidden' must start with a letter, digit or '_'"),
        ("app:-x", "tag '-x' must start"),
        ("app:1+2", "tag '1+2' may contain only letters, digits"),
        ("app:" + "t" * 129, "tag is 129 characters long; at most 128"),
        ("localhost/" + "a" * 246, "name is 256 characters long; at most 255"),
        ("app@0123", "lacks its algorithm"),
        ("app@md5:" + "0" * 32, "digest algorithm 'md5' is not supported"),
        ("app@sha256:" + "0" * 63, "a sha256 digest has 64 hex digits, this one 63"),
        ("app@sha512:" + "0" * 64, "a sha512 digest has 128 hex digits, this one 64"),
        ("app@sha256:" + "A" * 64, "must be lowercase hexadecimal"),
        ("app@sha256:" + "g" * 64, "must be lowercase hexadecimal"),
        ("-bad.host/app", "registry '-bad.host' is not a valid host"),
        ("host.:5000/app", "registry 'host.:5000' is not a valid host"),
        ("a.b_c/app", "registry 'a.b_c' is not a valid host"),
        ("local_host:5000/app", "registry 'local_host:5000' is not a valid host"),
        ("host:port/app", "registry 'host:port' is not a valid host"),
    ],
)
def test_bad_references_name_the_exact_problem(text: str, reason: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_image_ref(text)
    message = str(caught.value)
    assert message.startswith(f"invalid image reference {text!r}: ")
    assert reason in message


def test_non_strings_are_rejected_with_their_type() -> None:
    with pytest.raises(ValueError, match="must be a string, not int"):
        parse_image_ref(5000)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ((None, "python"), "on the default registry needs a namespace"),
        (("team", "app"), "would read as a repository path"),
        (("localhost:5000", "App"), "must be lowercase"),
        (("localhost:5000", "app", "bad tag"), "may contain only"),
        (("localhost:5000", "app", None, "sha256:xyz"), "64 hex digits"),
    ],
)
def test_direct_construction_validates_too(fields: tuple[str | None, ...], reason: str) -> None:
    """An ImageRef that exists always prints to text that parses back to it."""
    with pytest.raises(ValueError, match=reason):
        ImageRef(*fields)  # type: ignore[arg-type]


@pytest.mark.parametrize("digest", [SHA, "sha384:" + "a" * 96, "sha512:" + "b" * 128])
def test_check_digest_accepts_the_supported_algorithms(digest: str) -> None:
    check_digest(digest)
    assert parse_image_ref(f"localhost:5000/app@{digest}").digest == digest

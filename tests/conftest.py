"""Fixtures shared by every test module, and the rule that CI never skips a Docker test."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

pytest_plugins = [
    "tests.support.pyindex",
    "tests.support.gitrepo",
    "tests.support.loopback_images",
    "tests.support.image_fixtures",
    "tests.support.sshd",
]


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: Any) -> Iterator[None]:
    """With WS_REQUIRE_DOCKER set (make test, CI), a skipped `docker` test is a failure:
    a broken engine must not turn the suite green."""
    outcome: Any = yield
    report = outcome.get_result()
    if report.skipped and os.environ.get("WS_REQUIRE_DOCKER") and item.get_closest_marker("docker"):
        report.outcome = "failed"
        report.longrepr = f"skipped, but WS_REQUIRE_DOCKER is set: {report.longrepr}"

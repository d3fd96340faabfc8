"""The CI workflows the docs show: values reach `run:` lines only through `env:`, and uv
comes from astral-sh/setup-uv at an exact tag, with its cache."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).parents[1]
DOCS = ["docs/ci.md", "docs/renovate.md"]


def workflows(doc: str) -> list[dict]:
    blocks = re.findall(r"```yaml\n(.*?)```", (ROOT / doc).read_text(), re.S)
    found = [yaml.safe_load(block) for block in blocks]
    return [w for w in found if isinstance(w, dict) and "jobs" in w]


def steps(doc: str) -> list[dict]:
    return [s for w in workflows(doc) for job in w["jobs"].values() for s in job["steps"]]


@pytest.mark.parametrize("doc", DOCS)
def test_no_expression_is_pasted_into_a_script(doc: str) -> None:
    runs = [s["run"] for s in steps(doc) if "run" in s]
    assert runs
    assert [r for r in runs if "${{" in r] == []


@pytest.mark.parametrize("doc", DOCS)
def test_uv_comes_from_setup_uv_at_an_exact_tag_with_its_cache(doc: str) -> None:
    text = (ROOT / doc).read_text()
    assert "pip install uv" not in text
    setups = [s for s in steps(doc) if str(s.get("uses", "")).startswith("astral-sh/setup-uv@")]
    assert setups
    for step in setups:
        assert re.fullmatch(r"astral-sh/setup-uv@v\d+\.\d+\.\d+", step["uses"])
        assert step["with"]["enable-cache"] is True

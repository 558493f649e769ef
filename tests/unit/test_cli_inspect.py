"""`jobstream inspect`: what a feed would become, without running it."""

from __future__ import annotations

import json

import pytest

from cli.main import main
from cli.stack.config import PROJECT_ROOT

SAMPLE = PROJECT_ROOT / "examples" / "feeds" / "sample-feed.xml"
MAPPING = PROJECT_ROOT / "examples" / "feeds" / "sample-mapping.json"


def test_inspect_lists_mapped_jobs_and_every_skip_with_its_reason(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = main(["inspect", str(SAMPLE), "--mapping", str(MAPPING), "--json"])
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    jobs = [line for line in lines if "job" in line]
    skipped = [line for line in lines if "skipped" in line]
    assert code == 0
    assert len(jobs) == 7
    assert {j["job"]["title"] for j in jobs} >= {
        "Senior Data Analyst",
        "Accounts Payable Specialist",
    }
    assert all(len(j["job_hash"]) == 44 for j in jobs)
    assert [s["position"] for s in skipped] == [5, 9]
    assert "titel" in skipped[0]["skipped"]


def test_a_feed_that_cannot_be_read_is_a_clear_failure(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = main(["inspect", str(PROJECT_ROOT / "no-such-feed.xml")])
    assert code == 1
    assert "no-such-feed.xml" in capsys.readouterr().err


def test_a_mapping_that_is_not_json_is_refused(
    capsys: pytest.CaptureFixture[str], tmp_path: object
) -> None:
    bad = PROJECT_ROOT / "README.md"
    code = main(["inspect", str(SAMPLE), "--mapping", str(bad)])
    assert code == 1
    assert "cannot read the mapping" in capsys.readouterr().err

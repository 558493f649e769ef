"""`jobstream inspect`: what a feed would become, without running it."""

from __future__ import annotations

import json

import pytest

from cli.main import main
from cli.stack.config import PROJECT_ROOT
from schemas.taxonomy import load_taxonomy

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


def test_inspect_enrich_names_every_level_and_the_functions_soc_code(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ENRICHMENT_BACKEND", raising=False)  # offline by default
    code = main(["inspect", str(SAMPLE), "--mapping", str(MAPPING), "--enrich", "--json"])
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    enriched = [line for line in lines if "enrichment" in line]
    assert code == 0 and len(enriched) == 7
    taxonomy = load_taxonomy()
    for line in enriched:
        found = line["enrichment"]
        assert 0 <= found["confidence"] <= 1 and found["confidence_reasons"]
        sector, group = found["sector"], found["industry_group"]
        industry, function = found["industry"], found["job_function"]
        assert taxonomy.sectors[sector["id"]].name == sector["name"]
        assert taxonomy.groups[group["id"]].name == group["name"]
        assert taxonomy.industries[industry["id"]].name == industry["name"]
        assert taxonomy.functions[function["id"]].name == function["name"]
        assert taxonomy.functions[function["id"]].code == function["soc_code"]
    nurse = next(e for e in enriched if e["job"]["title"] == "Registered Nurse - Cardiac ICU")
    assert nurse["enrichment"]["job_function"] == {
        "id": 29114100, "name": "Registered Nurses", "soc_code": "29-1141.00"
    }  # fmt: skip
    assert nurse["enrichment"]["sector"]["name"] == "Hospitals and Health Care"


def test_inspect_enrich_prints_a_table_too(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["inspect", str(SAMPLE), "--mapping", str(MAPPING), "--enrich"]) == 0
    out = capsys.readouterr().out
    assert "enriched records" in out and "29-1141.00" in out

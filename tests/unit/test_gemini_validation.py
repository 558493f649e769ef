"""Answer validation: items matched by id, taxonomy ids checked, bad items named."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from schemas.records import Salary, SalaryPeriod
from schemas.taxonomy import Industry, IndustryGroup, JobFunction, Sector, Taxonomy
from services.enricher.backends.gemini.assemble import build_enrichment, salary_of
from services.enricher.backends.gemini.retry import MalformedResponseError
from services.enricher.backends.gemini.schemas import EnrichItem, FunctionItem, Stage
from services.enricher.backends.gemini.validation import (
    enrich_check,
    function_check,
    judge,
    parse_answer,
    searchable_check,
)


@pytest.fixture(scope="module")
def taxonomy() -> Taxonomy:
    return Taxonomy(
        version="t-1",
        sectors={1: Sector(1, "Technology"), 2: Sector(2, "Health")},
        groups={10: IndustryGroup(10, "Software", 1), 20: IndustryGroup(20, "Care", 2)},
        industries={
            100: Industry(100, "Software Development", 10, 1),
            200: Industry(200, "Hospitals", 20, 2),
        },
        functions={7: JobFunction(7, "Software Developers"), 8: JobFunction(8, "Nurses")},
        allowed={200: frozenset({8})},
    )


def enrich_item(item_id: str, **fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": item_id,
        "ai_title": "Engineer",
        "ai_description": "Builds.",
        "sector_id": 1,
        "industry_group_id": 10,
        "industry_id": 100,
        "confidence": 90,
    }
    return {**base, **fields}


def test_parse_answer_rejects_non_json_and_wrong_shapes() -> None:
    for text in (None, "", "Sure! {", '{"other": []}', "[1, 2]"):
        with pytest.raises(MalformedResponseError):
            parse_answer(text, Stage.ENRICH)
    assert parse_answer('{"enriched_jobs": [{"id": "J1"}]}', Stage.ENRICH) == [{"id": "J1"}]


def test_items_are_matched_by_id_not_position(taxonomy: Taxonomy) -> None:
    raw = [enrich_item("J2", ai_title="Second"), enrich_item("J1", ai_title="First")]
    verdicts = judge(Stage.ENRICH, raw, ["J1", "J2"], enrich_check(taxonomy))
    assert verdicts.accepted["J1"].ai_title == "First"
    assert verdicts.accepted["J2"].ai_title == "Second"
    assert verdicts.rejected == {}


def test_unknown_ids_answer_nothing_and_the_skipped_job_is_missing(taxonomy: Taxonomy) -> None:
    raw = [enrich_item("J1"), enrich_item("J9")]
    verdicts = judge(Stage.ENRICH, raw, ["J1", "J2"], enrich_check(taxonomy))
    assert set(verdicts.accepted) == {"J1"}
    assert verdicts.rejected == {"J2": "missing from the answer"}


def test_a_job_answered_twice_is_rejected(taxonomy: Taxonomy) -> None:
    raw = [enrich_item("J1"), enrich_item("J1", ai_title="Other")]
    verdicts = judge(Stage.ENRICH, raw, ["J1"], enrich_check(taxonomy))
    assert verdicts.accepted == {} and verdicts.rejected == {"J1": "answered more than once"}


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"industry_id": 999}, "unknown industry_id 999"),
        ({"sector_id": 2}, "sector/group/industry ids 2/10/100 are not one taxonomy path"),
        ({"salary_min": 90, "salary_max": 80}, "salary_min 90.0 exceeds salary_max 80.0"),
        (
            {"confidence": 150},
            "invalid item: confidence: Input should be less than or equal to 100",
        ),
        ({"industry_id": 100.5}, "invalid item: industry_id: Input should be a valid integer"),
    ],
)
def test_bad_stage_one_items_are_rejected_with_the_reason(
    taxonomy: Taxonomy, fields: dict[str, Any], reason: str
) -> None:
    verdicts = judge(Stage.ENRICH, [enrich_item("J1", **fields)], ["J1"], enrich_check(taxonomy))
    assert verdicts.rejected["J1"].startswith(reason)


def test_integer_ids_sent_as_floats_are_normalised(taxonomy: Taxonomy) -> None:
    raw = orjson.loads(orjson.dumps([enrich_item("J1", industry_id=100.0, sector_id=1.0)]))
    verdicts = judge(Stage.ENRICH, raw, ["J1"], enrich_check(taxonomy))
    assert verdicts.accepted["J1"].industry_id == 100


def test_function_must_be_allowed_for_the_jobs_industry(taxonomy: Taxonomy) -> None:
    check = function_check(taxonomy, {"J1": 200, "J2": 100})
    raw = [{"id": "J1", "job_function_id": 7}, {"id": "J2", "job_function_id": 7}]
    verdicts = judge(Stage.FUNCTION, raw, ["J1", "J2"], check)
    assert verdicts.rejected == {"J1": "job_function_id 7 is not allowed for industry 200"}
    assert set(verdicts.accepted) == {"J2"}


def test_empty_searchable_text_is_rejected() -> None:
    raw = [{"id": "J1", "searchable_text": "  "}, {"id": "J2", "searchable_text": "python, sql"}]
    verdicts = judge(Stage.SEARCHABLE, raw, ["J1", "J2"], searchable_check)
    assert verdicts.rejected == {"J1": "empty searchable_text"} and set(verdicts.accepted) == {"J2"}


def test_unstated_salary_stays_unknown_and_currency_is_normalised() -> None:
    assert salary_of(EnrichItem.model_validate(enrich_item("J1"))) is None
    stated = EnrichItem.model_validate(
        enrich_item("J1", salary_min=50, salary_period="HOURLY", currency=" usd")
    )
    assert salary_of(stated) == Salary(min=50, period=SalaryPeriod.HOURLY, currency="USD")
    odd = EnrichItem.model_validate(enrich_item("J1", salary_max=5, currency="dollars"))
    assert salary_of(odd) == Salary(max=5)


def test_enrichment_carries_taxonomy_names_and_clean_lists(taxonomy: Taxonomy) -> None:
    base = EnrichItem.model_validate(
        enrich_item("J1", tags=["Python", " python ", "", "SQL"], industry_reasoning=" why ")
    )
    function = FunctionItem(id="J1", job_function_id=7, reasoning="fits")
    enrichment = build_enrichment(taxonomy, base, function, " python, sql ")
    assert enrichment.tags == ("Python", "SQL")
    assert (enrichment.sector, enrichment.industry_group, enrichment.industry) == (
        "Technology",
        "Software",
        "Software Development",
    )
    assert (enrichment.job_function_id, enrichment.job_function) == (7, "Software Developers")
    assert enrichment.searchable_text == "python, sql" and enrichment.industry_reasoning == "why"

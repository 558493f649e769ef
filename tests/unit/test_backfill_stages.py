"""Backfill stages (pure): the prompts the online backend would send, and every way a Batch
API answer fails an item, with the reason."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from schemas.records import JobPosting
from schemas.taxonomy import Industry, IndustryGroup, JobFunction, Sector, Taxonomy
from schemas.usage import StageUsage, combined, overall
from services.enricher.backends.gemini.engine import Answer
from services.enricher.backends.gemini.pricing import Price
from services.enricher.backends.gemini.prompts import SystemPrompts, enrich_prompt
from services.enricher.backends.gemini.schemas import EnrichItem, Stage
from services.enricher.backfill import stages
from services.enricher.backfill.stages import Item, Sizes
from services.enricher.backfill.store import posting_of

PROMPTS = SystemPrompts(enrich="S1", function="S2", searchable="S3")
PRICE = Price(input=1.0, cached_input=0.1, output=4.0).for_batch_api()
SIZES = Sizes(batch_size=2, function_batch_size=25, max_description_chars=6000)


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
        allowed={200: frozenset({8}), 100: frozenset()},  # software: no function list
    )


def _item(feed_id: int, seq: int, **answers: Any) -> Item:
    job = JobPosting(title=f"Job {feed_id}-{seq}", company_name="Acme", description_html="<p>x</p>")
    item = Item(feed_id, seq, f"h{feed_id}-{seq}", job)
    item.answers.update({Stage(k): v for k, v in answers.items()})
    return item


def _base(industry_id: int = 200, **fields: Any) -> EnrichItem:
    sector, group = (2, 20) if industry_id == 200 else (1, 10)
    values: dict[str, Any] = {
        "id": "J1", "ai_title": "Ward nurse", "ai_description": "Cares.", "tags": ("care",),
        "sector_id": sector, "industry_group_id": group, "industry_id": industry_id,
        "confidence": 90,
    }  # fmt: skip
    return EnrichItem(**{**values, **fields})


def _answer(stage: Stage, items: list[dict[str, Any]], finish: str = "STOP") -> Answer:
    return Answer(orjson.dumps({stage.value: items}).decode(), finish, 100, 40)


def test_prompts_hold_one_feed_each_in_batches_of_the_online_size(taxonomy: Taxonomy) -> None:
    items = [_item(1, 1), _item(2, 1), _item(1, 2), _item(1, 3)]
    assert stages.plan(Stage.ENRICH, items, taxonomy, SIZES) == [
        [(1, 1), (1, 2)],
        [(1, 3)],
        [(2, 1)],
    ]


def test_a_prompt_is_the_one_the_online_backend_renders(taxonomy: Taxonomy) -> None:
    members = [_item(1, 1), _item(1, 2)]
    prompt = stages.render(Stage.ENRICH, members, PROMPTS, taxonomy, 6000)
    assert prompt.system == "S1" and prompt.keys == ("J1", "J2")
    assert prompt.user == enrich_prompt([("J1", members[0].job), ("J2", members[1].job)], 6000)


def test_stage_two_is_settled_without_a_call_for_an_industry_without_functions(
    taxonomy: Taxonomy,
) -> None:
    software, hospital = _item(1, 1, enriched_jobs=_base(100)), _item(1, 2, enriched_jobs=_base())
    assert stages.settle_local(software, taxonomy) and not stages.settle_local(hospital, taxonomy)
    assert stages.next_stage(software, taxonomy) is Stage.SEARCHABLE
    assert stages.next_stage(hospital, taxonomy) is Stage.FUNCTION


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        ("500 INTERNAL: An internal error has occurred.", "500 INTERNAL"),
        (_answer(Stage.ENRICH, [], finish="MAX_TOKENS"), "did not fit the output limit"),
        (Answer("Here you go {", "STOP", 10, 5), "not JSON"),
        (_answer(Stage.ENRICH, [{"id": "J1", "ai_title": "x"}]), "invalid item: ai_description"),
        (_answer(Stage.ENRICH, []), "missing from the answer"),
    ],
    ids=["line error", "truncated", "malformed", "invalid item", "missing item"],
)
def test_a_failed_stage_one_fails_the_job_with_the_reason(
    taxonomy: Taxonomy, answer: Answer | str, reason: str
) -> None:
    item = _item(1, 1)
    prompt = stages.render(Stage.ENRICH, [item], PROMPTS, taxonomy, 6000)
    stages.record(Stage.ENRICH, [item], prompt, answer)
    assert item.error is not None and item.error.startswith("enrichment: ")
    assert reason in item.error
    assert stages.next_stage(item, taxonomy) is None
    outcome = stages.outcome(item, taxonomy, PRICE)
    assert outcome.enrichment is None and outcome.error == item.error


def test_a_failed_stage_three_keeps_the_job_enriched_on_its_keywords_and_not_cached(
    taxonomy: Taxonomy,
) -> None:
    item = _item(1, 1, enriched_jobs=_base(100), selections=None)
    prompt = stages.render(Stage.SEARCHABLE, [item], PROMPTS, taxonomy, 6000)
    stages.record(Stage.SEARCHABLE, [item], prompt, "503 UNAVAILABLE: overloaded")
    outcome = stages.outcome(item, taxonomy, PRICE)
    assert outcome.enrichment is not None and not outcome.complete
    assert outcome.enrichment.searchable_text == "Ward nurse, care"
    assert outcome.incomplete == "searchable text: 503 UNAVAILABLE: overloaded (after 1 attempts)"


def test_a_request_the_server_failed_is_asked_again_until_its_attempts_run_out(
    taxonomy: Taxonomy,
) -> None:
    members = [_item(1, 1), _item(1, 2)]
    prompt = stages.render(Stage.ENRICH, members, PROMPTS, taxonomy, 6000)
    for _ in range(2):
        stages.record(Stage.ENRICH, members, prompt, "429 RESOURCE_EXHAUSTED: quota", 3)
        assert all(stages.next_stage(m, taxonomy) is Stage.ENRICH for m in members)
    stages.record(Stage.ENRICH, members, prompt, "429 RESOURCE_EXHAUSTED: quota", 3)
    assert [m.error for m in members] == [
        "enrichment: 429 RESOURCE_EXHAUSTED: quota (after 3 attempts)"
    ] * 2
    # every request counted once, as a call of its stage
    assert sum(m.usage["enrichment"].calls for m in members) == 3


def test_a_request_the_model_answered_badly_is_not_asked_again(taxonomy: Taxonomy) -> None:
    item = _item(1, 1)
    prompt = stages.render(Stage.ENRICH, [item], PROMPTS, taxonomy, 6000)
    stages.record(Stage.ENRICH, [item], prompt, "400 INVALID_ARGUMENT: schema", 4)
    assert item.error == "enrichment: 400 INVALID_ARGUMENT: schema"


def test_tokens_and_calls_of_a_request_are_shared_by_its_jobs(taxonomy: Taxonomy) -> None:
    members = [_item(1, 1), _item(1, 2)]
    prompt = stages.render(Stage.ENRICH, members, PROMPTS, taxonomy, 6000)
    answers = [_base(100, id=key).model_dump() for key in prompt.keys]
    answer = Answer(
        orjson.dumps({"enriched_jobs": answers}).decode(), "STOP", 101, 41, 60, thinking_tokens=7
    )
    stages.record(Stage.ENRICH, members, prompt, answer)
    assert all(m.error is None and m.base is not None for m in members)
    total = overall(combined(m.usage for m in members))
    assert total == StageUsage(calls=1, input=101, cached_input=60, output=41, thinking=7)
    assert set(members[0].usage) == set(members[1].usage) == {"enrichment"}


def test_a_jobs_outcome_carries_its_usage_by_stage_at_the_batch_api_price(
    taxonomy: Taxonomy,
) -> None:
    item = _item(1, 1)
    for stage, tokens in ((Stage.ENRICH, (1000, 400)), (Stage.SEARCHABLE, (500, 100))):
        prompt = stages.render(stage, [item], PROMPTS, taxonomy, 6000)
        answer = (
            _answer(Stage.ENRICH, [_base(100).model_dump()])
            if stage is Stage.ENRICH
            else _answer(stage, [{"id": "J1", "searchable_text": "ward nurse care"}])
        )
        used = Answer(answer.text, "STOP", tokens[0], tokens[1], cached_tokens=200)
        stages.record(stage, [item], prompt, used)
    item.answers[Stage.FUNCTION] = None
    outcome = stages.outcome(item, taxonomy, PRICE)
    assert outcome.complete
    assert set(outcome.usage) == {"enrichment", "searchable_text"}
    assert (outcome.llm_calls, outcome.input_tokens, outcome.output_tokens) == (2, 1500, 500)
    # 800 fresh + 200 cached input, 400 output at half of $1 / $0.1 / $4 per million
    assert outcome.usage["enrichment"].cost_usd == pytest.approx(
        (800 * 1.0 + 200 * 0.1 + 400 * 4.0) / 2 / 1e6
    )
    assert overall(outcome.usage).cost_usd == pytest.approx(
        ((800 + 300) * 1.0 + 400 * 0.1 + 500 * 4.0) / 2 / 1e6
    )
    assert stages.spent_by_feed([item], PRICE) == {
        1: pytest.approx(overall(outcome.usage).cost_usd)
    }


def test_a_request_the_server_failed_costs_a_call_and_no_tokens(taxonomy: Taxonomy) -> None:
    item = _item(1, 1)
    prompt = stages.render(Stage.ENRICH, [item], PROMPTS, taxonomy, 6000)
    stages.record(Stage.ENRICH, [item], prompt, "500 INTERNAL: boom", 1)
    outcome = stages.outcome(item, taxonomy, PRICE)
    assert outcome.usage == {"enrichment": StageUsage(calls=1)}
    assert outcome.error == "enrichment: 500 INTERNAL: boom (after 1 attempts)"


def test_a_job_row_gives_back_its_posting() -> None:
    row = {
        "external_job_id": "e1", "title": "Nurse", "company_name": "St Mary",
        "description": "<p>Care</p>", "application_url": "https://x.test/apply",
        "posted_at": None, "expires_at": None, "employment_type": "FULL_TIME",
        "is_remote": False, "locations": '[{"city": "Leeds", "state": null, "country": "GB", '
        '"postal_code": null}]', "salary_min": 30000, "salary_max": None,
        "salary_period": "YEARLY", "currency": "GBP", "cpc": None, "cpa": None,
        "closed_reason": None,
    }  # fmt: skip
    posting = posting_of(row)
    assert posting.locations[0].city == "Leeds" and posting.salary is not None
    assert posting.salary.min == 30000 and posting.description_html == "<p>Care</p>"

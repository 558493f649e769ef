"""Emulator internals: which request a fault hits, and how it spoils an answer."""

from __future__ import annotations

from typing import Any

import pytest

from emulators.gemini.answers import UNKNOWN_TAXONOMY_ID, apply_item_fault
from emulators.gemini.faults import Fault, FaultBook, FaultKind, FaultSpecError
from emulators.gemini.wire import BadRequestError, GenerateRequest, parse_request
from services.enricher.backends.gemini.schemas import Stage


def request(*titles: str, stage: Stage = Stage.ENRICH) -> GenerateRequest:
    jobs = tuple({"id": f"J{n}", "title": title} for n, title in enumerate(titles, 1))
    return GenerateRequest(system="s", user="u", stage=stage, jobs=jobs)


def items(count: int) -> list[dict[str, Any]]:
    return [{"id": f"J{n}", "industry_id": 4} for n in range(1, count + 1)]


def fired(book: FaultBook, stage: str, titles: list[str]) -> FaultKind | None:
    fault = book.take(stage, titles)
    return fault.kind if fault else None


def test_a_fault_fires_as_many_times_as_armed() -> None:
    book = FaultBook()
    book.arm([{"kind": "unavailable", "times": 2}])
    kinds = [fired(book, "enriched_jobs", ["a"]) for _ in range(3)]
    assert kinds == [FaultKind.UNAVAILABLE, FaultKind.UNAVAILABLE, None]


def test_faults_select_by_stage_title_and_size() -> None:
    book = FaultBook()
    book.arm(
        [
            {"kind": "rate_limit", "stage": "selections"},
            {"kind": "bad_ids", "title_contains": "Nurse", "times": None},
            {"kind": "token_limit", "max_items": 2, "times": None},
        ]
    )
    assert fired(book, "enriched_jobs", ["cook"]) is None
    assert fired(book, "enriched_jobs", ["a", "b", "c"]) is FaultKind.TOKEN_LIMIT
    assert fired(book, "enriched_jobs", ["head nurse"]) is FaultKind.BAD_IDS
    assert fired(book, "selections", ["cook"]) is FaultKind.RATE_LIMIT


@pytest.mark.parametrize("spec", [{"kind": "meteor"}, {"kind": "slow", "delay": 1}, {"times": 1}])
def test_unknown_fault_specs_are_refused(spec: dict[str, Any]) -> None:
    with pytest.raises(FaultSpecError):
        Fault.from_json(spec)


def test_dropping_items_shortens_the_answer() -> None:
    fault = Fault(FaultKind.DROP_ITEMS, count=2)
    assert apply_item_fault(fault, request("a", "b", "c"), items(3)) == items(1)


def test_item_faults_with_a_title_hit_only_those_jobs() -> None:
    fault = Fault(FaultKind.BAD_IDS, title_contains="nurse")
    spoiled = apply_item_fault(fault, request("cook", "Nurse", "dev"), items(3))
    assert [i["industry_id"] for i in spoiled] == [4, UNKNOWN_TAXONOMY_ID, 4]
    renamed = apply_item_fault(Fault(FaultKind.UNKNOWN_ID), request("a", "b"), items(2))
    assert [i["id"] for i in renamed] == ["J1-unknown", "J2"]


def test_requests_without_structured_output_are_refused() -> None:
    body = {"contents": [{"parts": [{"text": "hi"}]}], "generationConfig": {}}
    with pytest.raises(BadRequestError, match="structured output"):
        parse_request(body)
    with pytest.raises(BadRequestError, match="contents"):
        parse_request({"contents": []})


def test_a_cache_refusal_hits_cache_creates_only_and_counts_down() -> None:
    book = FaultBook()
    book.arm([{"kind": "cache_refused", "times": 1}, {"kind": "unavailable", "stage": "x"}])
    assert fired(book, "enriched_jobs", ["a"]) is None  # generateContent is untouched
    refusal = book.take_cache_refusal()
    assert refusal is not None and refusal.kind is FaultKind.CACHE_REFUSED
    assert book.take_cache_refusal() is None


def test_a_daily_quota_defaults_to_hours_and_needs_a_delay() -> None:
    assert (Fault.from_json({"kind": "daily_quota"}).retry_delay_s or 0) >= 3600
    assert Fault.from_json({"kind": "daily_quota", "retry_delay_s": 90}).retry_delay_s == 90
    with pytest.raises(FaultSpecError):
        Fault.from_json({"kind": "daily_quota", "retry_delay_s": None})
    assert Fault.from_json({"kind": "rate_limit", "retry_delay_s": None}).retry_delay_s is None

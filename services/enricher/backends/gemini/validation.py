"""Reading one Gemini answer: parse the JSON, match items to jobs by id, judge each item."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import orjson
from pydantic import ValidationError

from schemas.taxonomy import Taxonomy
from services.enricher.backends.gemini.retry import MalformedResponseError
from services.enricher.backends.gemini.schemas import (
    ITEM_MODELS,
    EnrichItem,
    FunctionItem,
    SearchableItem,
    Stage,
)

ItemT = TypeVar("ItemT")

# why a parsed item cannot be used, or None when it can
Check = Callable[[ItemT], str | None]


@dataclass(frozen=True, slots=True)
class Verdicts(Generic[ItemT]):
    """Per expected id: the accepted item, or the reason it was rejected."""

    accepted: dict[str, ItemT] = field(default_factory=dict)
    rejected: dict[str, str] = field(default_factory=dict)


def parse_answer(text: str | None, stage: Stage) -> list[Any]:
    """The answer's item array; anything else is a malformed response."""
    if not text:
        raise MalformedResponseError("empty answer")
    try:
        document = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise MalformedResponseError(f"not JSON ({exc})") from exc
    items = document.get(stage.value) if isinstance(document, dict) else None
    if not isinstance(items, list):
        raise MalformedResponseError(f"no {stage.value!r} array in the answer")
    return items


def judge(
    stage: Stage, raw_items: list[Any], expected_ids: Collection[str], check: Check[Any]
) -> Verdicts[Any]:
    """Matches items to the expected ids, never by position, and checks each one."""
    verdicts: Verdicts[Any] = Verdicts()
    answered: dict[str, int] = {}
    for raw in raw_items:
        item_id = raw.get("id") if isinstance(raw, dict) else None
        if not isinstance(item_id, str) or item_id not in expected_ids:
            continue  # an unknown id answers no job; the job it was meant for shows as missing
        answered[item_id] = answered.get(item_id, 0) + 1
        _judge_one(stage, item_id, raw, check, verdicts)
    for item_id in expected_ids:
        if item_id not in answered:
            verdicts.rejected[item_id] = "missing from the answer"
        elif answered[item_id] > 1:
            verdicts.accepted.pop(item_id, None)
            verdicts.rejected[item_id] = "answered more than once"
    return verdicts


def _judge_one(
    stage: Stage, item_id: str, raw: dict[str, Any], check: Check[Any], verdicts: Verdicts[Any]
) -> None:
    try:
        item = ITEM_MODELS[stage].model_validate(raw)
    except ValidationError as exc:
        verdicts.rejected[item_id] = f"invalid item: {_first_error(exc)}"
        return
    reason = check(item)
    if reason is None:
        verdicts.accepted[item_id] = item
    else:
        verdicts.rejected[item_id] = reason


def _first_error(exc: ValidationError) -> str:
    error = exc.errors()[0]
    where = ".".join(str(part) for part in error["loc"])
    return f"{where}: {error['msg']}"


def enrich_check(taxonomy: Taxonomy) -> Check[EnrichItem]:
    """Stage 1: the industry ids form a real taxonomy path and the salary is ordered."""

    def check(item: EnrichItem) -> str | None:
        if item.industry_id not in taxonomy.industries:
            return f"unknown industry_id {item.industry_id}"
        if not taxonomy.is_consistent(item.sector_id, item.industry_group_id, item.industry_id):
            ids = f"{item.sector_id}/{item.industry_group_id}/{item.industry_id}"
            return f"sector/group/industry ids {ids} are not one taxonomy path"
        low, high = item.salary_min, item.salary_max
        if low is not None and high is not None and low > high:
            return f"salary_min {low} exceeds salary_max {high}"
        if (low is not None and low < 0) or (high is not None and high < 0):
            return "negative salary"
        return None

    return check


def function_check(taxonomy: Taxonomy, industry_of: Mapping[str, int]) -> Check[FunctionItem]:
    """Stage 2: the function is one the job's industry allows."""

    def check(item: FunctionItem) -> str | None:
        industry_id = industry_of[item.id]
        if taxonomy.is_function_allowed(industry_id, item.job_function_id):
            return None
        return f"job_function_id {item.job_function_id} is not allowed for industry {industry_id}"

    return check


def searchable_check(item: SearchableItem) -> str | None:
    """Stage 3: some text to index."""
    return None if item.searchable_text.strip() else "empty searchable_text"

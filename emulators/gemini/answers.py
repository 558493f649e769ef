"""The emulator's answers: items in the requested schema, produced by an enrichment backend."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import ValidationError

from emulators.gemini.faults import Fault, FaultKind
from emulators.gemini.wire import GenerateRequest
from schemas.records import EmploymentType, Enrichment, JobPosting, Salary
from services.enricher.backends.base import EnrichmentBackend, EnrichmentOutcome
from services.enricher.backends.gemini.schemas import Stage

Item = dict[str, Any]
UNKNOWN_TAXONOMY_ID = 999_999_999


def posting_of(job: Mapping[str, Any]) -> JobPosting:
    """The job a prompt line describes, as the offline backend expects it."""
    return JobPosting(
        title=str(job.get("ai_title") or job.get("title") or ""),
        company_name=str(job.get("company") or ""),
        description_html=str(job.get("description") or ""),
        employment_type=_employment_type(job.get("employment_type")),
        is_remote=bool(job.get("remote")),
        salary=_salary(job.get("feed_salary")),
    )


def _employment_type(value: Any) -> EmploymentType:
    try:
        return EmploymentType(str(value))
    except ValueError:
        return EmploymentType.OTHER


def _salary(value: Any) -> Salary | None:
    try:
        return Salary.model_validate(value) if isinstance(value, dict) else None
    except ValidationError:
        return None


class BackendAnswerer:
    """Answers every stage from one backend's enrichments of the prompt's jobs."""

    def __init__(self, backend: EnrichmentBackend) -> None:
        self._backend = backend

    async def items(self, request: GenerateRequest) -> list[Item]:
        if request.stage is Stage.SEARCHABLE:
            return [_searchable_item(job) for job in request.jobs]
        outcomes = await self._backend.enrich([posting_of(job) for job in request.jobs])
        if request.stage is Stage.ENRICH:
            return [_enrich_item(job, o) for job, o in zip(request.jobs, outcomes, strict=True)]
        return [
            _function_item(job, o, request.function_ids)
            for job, o in zip(request.jobs, outcomes, strict=True)
        ]


def _enrich_item(job: Mapping[str, Any], outcome: EnrichmentOutcome) -> Item:
    enrichment = outcome.enrichment
    if enrichment is None:
        return _empty_item(job, outcome.error or "the job could not be classified")
    salary = enrichment.salary or Salary()
    return {
        "id": job["id"],
        "ai_title": enrichment.ai_title,
        "ai_description": enrichment.ai_description,
        "tasks": list(enrichment.tasks),
        "search_terms": list(enrichment.search_terms),
        "tags": list(enrichment.tags),
        "skills": list(enrichment.skills),
        "salary_min": salary.min,
        "salary_max": salary.max,
        "salary_period": salary.period.value if salary.period else None,
        "currency": salary.currency,
        "sector_id": enrichment.sector_id or 0,
        "industry_group_id": enrichment.industry_group_id or 0,
        "industry_id": enrichment.industry_id or 0,
        "industry_reasoning": enrichment.industry_reasoning,
        "confidence": enrichment.confidence,
        "confidence_reasons": list(enrichment.confidence_reasons),
    }


def _empty_item(job: Mapping[str, Any], reason: str) -> Item:
    # what the system prompt asks for an unusable job; its zero ids fail validation honestly
    return {
        "id": job["id"],
        "ai_title": "",
        "ai_description": "",
        **{key: [] for key in ("tasks", "search_terms", "tags", "skills")},
        **dict.fromkeys(("salary_min", "salary_max", "salary_period", "currency")),
        **dict.fromkeys(("sector_id", "industry_group_id", "industry_id"), 0),
        "industry_reasoning": "",
        "confidence": 0,
        "confidence_reasons": [reason],
    }


def _function_item(
    job: Mapping[str, Any], outcome: EnrichmentOutcome, offered: Sequence[int]
) -> Item:
    enrichment: Enrichment | None = outcome.enrichment
    chosen = enrichment.job_function_id if enrichment else None
    if chosen not in offered:
        # a model can only pick from the list it was given
        chosen = offered[0] if offered else 0
    reasoning = enrichment.job_function_reasoning if enrichment else ""
    return {
        "id": job["id"],
        "job_function_id": chosen,
        "reasoning": reasoning or "closest function in the list",
    }


def _searchable_item(job: Mapping[str, Any]) -> Item:
    words: list[str] = [str(job.get("ai_title") or "")]
    for key in ("tags", "search_terms", "skills"):
        words.extend(str(word) for word in job.get(key) or [])
    seen: dict[str, str] = {}
    for word in (w.strip() for w in words):
        if word:
            seen.setdefault(word.lower(), word)
    return {"id": job["id"], "searchable_text": ", ".join(seen.values())}


def apply_item_fault(
    fault: Fault | None, request: GenerateRequest, items: list[Item]
) -> list[Item]:
    """Spoils a correct answer as the fault says; faults without a title hit the first item."""
    if fault is None:
        return items
    if fault.kind is FaultKind.DROP_ITEMS:
        return _drop(fault, request, items)
    if fault.kind is FaultKind.UNKNOWN_ID:
        return [
            {**item, "id": f"{item['id']}-unknown"} if hit else item
            for item, hit in _hits(fault, request, items)
        ]
    if fault.kind is FaultKind.BAD_IDS:
        return [
            _spoil_ids(item, request.stage) if hit else item
            for item, hit in _hits(fault, request, items)
        ]
    return items


def apply_overrides(
    overrides: Sequence[Fault], request: GenerateRequest, items: list[Item]
) -> list[Item]:
    """The items a model that obeyed text in the jobs would give: the overrides' values."""
    if not overrides:
        return items
    texts = dict(zip((job["id"] for job in request.jobs), request.texts, strict=True))
    answered: list[Item] = []
    for item in items:
        text = texts.get(item["id"], "")
        for fault in overrides:
            if fault.all_items or fault.overrides(text):
                item = {**item, **fault.set, "id": item["id"]}
        answered.append(item)
    return answered


def _hits(fault: Fault, request: GenerateRequest, items: list[Item]) -> list[tuple[Item, bool]]:
    titles = dict(zip((job["id"] for job in request.jobs), request.titles, strict=True))
    if fault.title_contains is None:
        return [(item, index == 0) for index, item in enumerate(items)]
    return [(item, fault.targets(titles.get(item["id"], ""))) for item in items]


def _drop(fault: Fault, request: GenerateRequest, items: list[Item]) -> list[Item]:
    if fault.title_contains is None:
        return items[: max(len(items) - fault.count, 0)]
    return [item for item, hit in _hits(fault, request, items) if not hit]


def _spoil_ids(item: Item, stage: Stage) -> Item:
    if stage is Stage.ENRICH:
        return {**item, "industry_id": UNKNOWN_TAXONOMY_ID}
    if stage is Stage.FUNCTION:
        return {**item, "job_function_id": UNKNOWN_TAXONOMY_ID}
    return {**item, "searchable_text": ""}

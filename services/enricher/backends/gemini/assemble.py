"""Turning accepted stage answers into the `Enrichment` record (pure)."""

from __future__ import annotations

from schemas.records import Enrichment, Salary
from schemas.taxonomy import Taxonomy
from services.enricher.backends.gemini.schemas import EnrichItem, FunctionItem


def salary_of(item: EnrichItem) -> Salary | None:
    """The salary the posting states, or None: an unknown salary is never 0."""
    if item.salary_min is None and item.salary_max is None:
        return None
    currency = (item.currency or "").strip().upper()
    return Salary(
        min=item.salary_min,
        max=item.salary_max,
        period=item.salary_period,
        currency=currency if len(currency) == 3 and currency.isalpha() else None,
    )


def build_enrichment(
    taxonomy: Taxonomy,
    base: EnrichItem,
    function: FunctionItem | None,
    searchable_text: str | None,
) -> Enrichment:
    """Stage 1 attributes, the stage 2 function and stage 3 text, with taxonomy names."""
    path = taxonomy.path_of(base.industry_id)
    job_function = taxonomy.job_function(function.job_function_id if function else None)
    return Enrichment(
        ai_title=base.ai_title.strip(),
        ai_description=base.ai_description.strip(),
        tasks=_clean(base.tasks),
        search_terms=_clean(base.search_terms),
        tags=_clean(base.tags),
        skills=_clean(base.skills),
        salary=salary_of(base),
        sector_id=base.sector_id,
        industry_group_id=base.industry_group_id,
        industry_id=base.industry_id,
        industry_reasoning=base.industry_reasoning.strip(),
        sector=path[0].name if path else "",
        industry_group=path[1].name if path else "",
        industry=path[2].name if path else "",
        confidence=base.confidence,
        confidence_reasons=_clean(base.confidence_reasons),
        job_function_id=job_function.id if job_function else None,
        job_function=job_function.name if job_function else "",
        job_function_reasoning=function.reasoning.strip() if function else "",
        searchable_text=searchable_text.strip() if searchable_text else None,
    )


def stage_one_keywords(base: EnrichItem) -> str:
    """Search text from stage 1 alone (title, tags, search terms, skills), for a job whose
    stage 3 failed: it is indexed at once, and asked again on its next run."""
    return ", ".join(_clean((base.ai_title, *base.tags, *base.search_terms, *base.skills)))


def _clean(values: tuple[str, ...]) -> tuple[str, ...]:
    """Trimmed, non-empty, first occurrence kept (case-insensitively)."""
    seen: set[str] = set()
    kept: list[str] = []
    for value in (v.strip() for v in values):
        if value and value.lower() not in seen:
            seen.add(value.lower())
            kept.append(value)
    return tuple(kept)

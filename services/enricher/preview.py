"""Parsed feed records enriched for a look before anything runs.

One code path for `jobstream inspect --enrich` and the console's mapping editor: the
configured backend (offline unless ENRICHMENT_BACKEND says gemini) on the records
`inspect_feed_async` mapped, each with taxonomy ids, names and the function's O*NET-SOC code.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from schemas.identity import job_hash
from schemas.records import Enrichment, JobPosting
from schemas.taxonomy import Taxonomy, load_taxonomy
from services.enricher.backends.base import EnrichmentBackend
from services.enricher.backends.gemini.settings import GeminiSettings
from services.enricher.ports import Connections
from services.ingestor.feeds import (
    FeedInspection,
    FeedSettings,
    InspectedRecord,
    inspect_feed_async,
)


@dataclass(frozen=True, slots=True)
class EnrichedRecord:
    position: int
    job_hash: str
    job: JobPosting
    enrichment: Enrichment | None
    error: str | None
    soc_code: str | None


@dataclass(frozen=True, slots=True)
class BackendChoice:
    """Which backend a preview enriches with, read with the caller's settings."""

    name: str = "offline"
    profile_path: str | None = None
    gemini: GeminiSettings | None = None  # read only when the choice is gemini

    @classmethod
    def from_env(cls, env: Mapping[str, str], name: str | None = None) -> BackendChoice:
        """`name`, else ENRICHMENT_BACKEND, else offline; AUDIENCE_PROFILE; GEMINI_*."""
        chosen = name or env.get("ENRICHMENT_BACKEND") or "offline"
        gemini = GeminiSettings.from_env(env) if chosen == "gemini" else None
        return cls(chosen, env.get("AUDIENCE_PROFILE") or None, gemini)


def backend_for(
    choice: BackendChoice, taxonomy: Taxonomy, db: Connections | None = None
) -> EnrichmentBackend:
    """`offline` (the default) or `gemini` (needs GEMINI_API_KEY), as the enricher builds it.

    With `db`, a gemini preview books its requests in the deployment's one budget
    (PostgreSQL, migration 0009), as every enricher replica does: a preview spends the same
    project quota, so it must not go around it."""
    from schemas.profile import load_profile

    profile = load_profile(choice.profile_path)
    if choice.name == "gemini":
        from services.enricher.backends.gemini.backend import GeminiBackend, shared_budget_gate

        settings = choice.gemini or GeminiSettings()
        gate = shared_budget_gate(settings, db) if db is not None else None
        return GeminiBackend(settings, taxonomy, profile, gate=gate)
    if choice.name != "offline":
        raise ValueError(f"the enrichment backend must be offline or gemini, got {choice.name!r}")
    from services.enricher.backends.offline.backend import OfflineBackend

    return OfflineBackend(taxonomy, profile)


async def enrich_records(
    records: Sequence[InspectedRecord], backend: EnrichmentBackend, taxonomy: Taxonomy
) -> list[EnrichedRecord]:
    outcomes = await backend.enrich([r.job for r in records])
    enriched = []
    for record, outcome in zip(records, outcomes, strict=True):
        found = outcome.enrichment
        function = taxonomy.job_function(found.job_function_id) if found else None
        enriched.append(
            EnrichedRecord(
                record.position, job_hash(record.job), record.job, found, outcome.error,
                function.code if function else None,
            )
        )  # fmt: skip
    return enriched


async def preview(
    source: str,
    mapping: Mapping[str, Any] | None,
    *,
    limit: int,
    backend: EnrichmentBackend,
    taxonomy: Taxonomy | None = None,
    settings: FeedSettings | None = None,
) -> tuple[FeedInspection, list[EnrichedRecord]]:
    """The feed parsed with `mapping` (MappingError if it is invalid), then enriched."""
    inspection = await inspect_feed_async(source, mapping=mapping, settings=settings, limit=limit)
    records = await enrich_records(inspection.records, backend, taxonomy or load_taxonomy())
    return inspection, records


def _named(ident: int | None, name: str) -> dict[str, Any] | None:
    return None if ident is None else {"id": ident, "name": name}


def as_json(record: EnrichedRecord) -> dict[str, object]:
    """One JSON line of `inspect --enrich --json`: the job and what enrichment made of it."""
    line: dict[str, Any] = {
        "position": record.position,
        "job_hash": record.job_hash,
        "job": record.job.model_dump(mode="json"),
    }
    found = record.enrichment
    if found is None:
        return {**line, "enrichment": None, "error": record.error}
    function = _named(found.job_function_id, found.job_function)
    if function is not None:
        function["soc_code"] = record.soc_code
    line["enrichment"] = {
        "ai_title": found.ai_title,
        "sector": _named(found.sector_id, found.sector),
        "industry_group": _named(found.industry_group_id, found.industry_group),
        "industry": _named(found.industry_id, found.industry),
        "job_function": function,
        "confidence": round(found.confidence / 100, 4),
        "confidence_reasons": list(found.confidence_reasons),
        "skills": list(found.skills),
        "salary": found.salary.model_dump(mode="json") if found.salary else None,
    }
    return line

"""Pure enricher logic: what to ask the backend, and the records that come out."""

from __future__ import annotations

from schemas.clean import clean_enrichment
from schemas.records import DedupedJob, EnrichedJob, Enrichment, EnrichmentStatus
from schemas.taxonomy import Taxonomy
from services.enricher.backends.base import EnrichmentOutcome


def with_names(enrichment: Enrichment, taxonomy: Taxonomy) -> Enrichment:
    """Fills the sector, group, industry and function names from their ids."""
    sector = taxonomy.sector(enrichment.sector_id)
    group = taxonomy.industry_group(enrichment.industry_group_id)
    industry = taxonomy.industry(enrichment.industry_id)
    function = taxonomy.job_function(enrichment.job_function_id)
    return enrichment.model_copy(
        update={
            "sector": sector.name if sector else "",
            "industry_group": group.name if group else "",
            "industry": industry.name if industry else "",
            "job_function": function.name if function else "",
        }
    )


def skipped(job: DedupedJob) -> EnrichedJob:
    """Closed jobs are routed without spending an LLM call."""
    return _enriched(job, EnrichmentStatus.SKIPPED, version="")


def from_cache(
    job: DedupedJob, enrichment: Enrichment, *, version: str, earlier_run: bool = True
) -> EnrichedJob:
    """A stored result; a hit only when an earlier run stored it (not this run's own)."""
    return _enriched(
        job, EnrichmentStatus.SUCCESS, version=version, enrichment=enrichment,
        cache_hit=earlier_run,
    )  # fmt: skip


def paused(job: DedupedJob, reason: str, *, version: str) -> EnrichedJob:
    """Not sent to the LLM: its run reached its cost ceiling. It fails with the reason, so
    the router keeps a published job where it is and a new one unpublished in review, and
    nothing is cached: the feed's next run enriches it."""
    return _enriched(job, EnrichmentStatus.FAILED, version=version, error=reason)


def from_backend(
    job: DedupedJob, outcome: EnrichmentOutcome, *, version: str, taxonomy: Taxonomy
) -> EnrichedJob:
    if outcome.enrichment is None:
        return _enriched(
            job,
            EnrichmentStatus.FAILED,
            version=version,
            error=outcome.error or "the backend gave no result",
            outcome=outcome,
        )
    return _enriched(
        job,
        EnrichmentStatus.SUCCESS,
        version=version,
        enrichment=with_names(outcome.enrichment, taxonomy),
        outcome=outcome,
    )


def _enriched(
    job: DedupedJob,
    status: EnrichmentStatus,
    *,
    version: str,
    enrichment: Enrichment | None = None,
    error: str | None = None,
    cache_hit: bool = False,
    outcome: EnrichmentOutcome | None = None,
) -> EnrichedJob:
    # clean output: the posting was cleaned on the way in (service.py); a cached enrichment
    # may predate the limits, so every enrichment is cleaned on the way out
    return EnrichedJob(
        run_id=job.run_id,
        feed_id=job.feed_id,
        seq=job.seq,
        job_hash=job.job_hash,
        job=job.job,
        status=status,
        enrichment=clean_enrichment(enrichment) if enrichment is not None else None,
        error=error,
        enrichment_version=version,
        cache_hit=cache_hit,
        llm_calls=outcome.llm_calls if outcome else 0,
        input_tokens=outcome.input_tokens if outcome else 0,
        output_tokens=outcome.output_tokens if outcome else 0,
        llm_usage=dict(outcome.usage) if outcome else {},
    )

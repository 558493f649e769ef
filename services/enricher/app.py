"""Enricher composition root: batches from jobs.deduped, enriched records to jobs.enriched."""

from __future__ import annotations

import logging

import faust
from prometheus_client import Counter

from schemas import topics
from schemas.identity import dedupe_key
from schemas.profile import load_profile
from schemas.records import EnrichedJob, JobMerged
from schemas.taxonomy import Taxonomy, load_taxonomy
from schemas.usage import LLM_PAUSED, TOKEN_KINDS
from services.enricher.backends.base import EnrichmentBackend
from services.enricher.backends.offline.backend import OfflineBackend
from services.enricher.config import EnricherSettings
from services.enricher.service import Enricher, Output
from services.enricher.trust import TrustChecks
from services.shared import metrics, versions
from services.shared.database import Database
from services.shared.streaming import (
    Batch,
    app_publisher,
    close_on_shutdown,
    consume,
    create_app,
    open_on_startup,
)

SERVICE = "enricher"
log = logging.getLogger(__name__)


def create_backend(
    settings: EnricherSettings, taxonomy: Taxonomy, db: Database
) -> EnrichmentBackend:
    profile = load_profile(settings.profile_path)
    if settings.gemini is not None:
        from services.enricher.backends.gemini.backend import GeminiBackend, shared_budget_gate

        gate = shared_budget_gate(settings.gemini, db)
        return GeminiBackend(settings.gemini, taxonomy, profile, gate=gate)
    return OfflineBackend(taxonomy, profile)


def create_checks(settings: EnricherSettings, taxonomy: Taxonomy) -> TrustChecks | None:
    """An LLM's answers are checked against the offline backend's reading of each posting;
    the offline backend needs no check of itself."""
    if settings.backend == "offline":
        return None
    independent = OfflineBackend(taxonomy, load_profile(settings.profile_path))
    return TrustChecks(independent, max_gap=settings.max_confidence_gap)


def next_key(output: Output) -> str:
    """Enriched jobs are keyed for pass 2 (the AI title); merges follow their kept job."""
    if isinstance(output, JobMerged):
        return output.kept_hash
    title = output.enrichment.ai_title if output.enrichment else output.job.title
    return dedupe_key(title, output.job.company_name, output.job.employment_type)


TRUST_REASONS = Counter(
    "jobstream_trust_review_reasons",
    "LLM enrichments a trust check gave a review reason (held if the router would approve "
    "them), by check.",
    ["check"],
    registry=metrics.REGISTRY,
)


def count_llm_usage(outputs: list[Output]) -> None:
    for output in outputs:
        if isinstance(output, EnrichedJob):
            for check in {reason.split(" (", 1)[0] for reason in output.review_reasons}:
                TRUST_REASONS.labels(check).inc()
            metrics.LLM_REQUESTS.inc(output.llm_calls)
            for stage, used in output.llm_usage.items():
                for kind in TOKEN_KINDS:
                    tokens = getattr(used, kind)
                    metrics.LLM_TOKENS.labels(kind).inc(tokens)
                    metrics.LLM_STAGE_TOKENS.labels(stage, kind).inc(tokens)
                metrics.LLM_COST.labels(stage).inc(used.cost_usd)
            if output.error and output.error.startswith(LLM_PAUSED):
                metrics.LLM_PAUSED_JOBS.inc()
            if output.cache_hit:
                metrics.CACHE_HITS.inc()


def build(settings: EnricherSettings) -> faust.App:
    app = create_app(SERVICE, settings.stream)
    db = Database(settings.database_url)
    taxonomy = load_taxonomy(settings.taxonomy_source)
    backend = create_backend(settings, taxonomy, db)
    checks = create_checks(settings, taxonomy)
    enricher = Enricher(
        backend, taxonomy, db, checks=checks, cost_ceiling_usd=settings.run_cost_ceiling_usd
    )
    publisher = app_publisher(app, SERVICE)

    async def enrich(batch: Batch) -> None:
        log.info("enriching %d records", len(batch))
        outputs = await enricher.enrich([record for _, record in batch])
        for output in outputs:
            await publisher.send(topics.JOBS_ENRICHED, next_key(output), output)
        await publisher.flush()
        count_llm_usage(outputs)

    consume(
        app,
        topics.JOBS_DEDUPED,
        enrich,
        publisher,
        what="enrichment",
        size=settings.batch_size,
        within_s=settings.batch_within_s,
        members=settings.concurrency,
    )

    if settings.gemini is not None:
        from services.enricher.backfill.worker import attach  # it builds on this module

        attach(app, settings)  # Batch API backfills (services/enricher/backfill/)

    async def say_versions() -> None:
        checked = f"gap={settings.max_confidence_gap}" if checks else "none"
        async with db.connection() as conn:
            await versions.publish(
                conn, {versions.ENRICHMENT: backend.version, versions.ENRICHMENT_CHECKS: checked}
            )

    open_on_startup(app, db.open, say_versions)
    close_on_shutdown(app, db.close, backend.aclose, *((checks.aclose,) if checks else ()))
    return app

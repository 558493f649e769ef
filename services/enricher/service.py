"""One enrichment step over a batch: cache first, then the backend, then the cache again."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Sequence
from typing import TypeVar

from schemas.clean import clean_posting
from schemas.records import DedupedJob, EnrichedJob, JobMerged, Record
from schemas.report import money
from schemas.taxonomy import Taxonomy
from schemas.usage import LLM_PAUSED, overall
from services.enricher import handlers
from services.enricher.adapters import cache_repository as cache
from services.enricher.adapters import spend_repository as spend
from services.enricher.ports import Connections, EnrichmentBackend, EnrichmentOutcome
from services.enricher.trust import TrustChecks

log = logging.getLogger(__name__)

Output = EnrichedJob | JobMerged


class Enricher:
    def __init__(
        self,
        backend: EnrichmentBackend,
        taxonomy: Taxonomy,
        db: Connections,
        *,
        checks: TrustChecks | None = None,
        cost_ceiling_usd: float | None = None,
        counts_spending: bool = True,
    ) -> None:
        """`checks`: the trust checks an LLM backend's answers must pass (None for the
        offline backend, which is the independent check itself). `cost_ceiling_usd`: what one
        run may spend on the LLM; once it has, its jobs are no longer sent (None: no limit).
        `counts_spending`: False when the backend's calls are counted by its caller (a
        backfill's stored answers, which publishing again must not count twice)."""
        self._backend = backend
        self._taxonomy = taxonomy
        self._db = db
        self._checks = checks
        self._cost_ceiling_usd = cost_ceiling_usd
        self._counts_spending = counts_spending

    async def enrich(self, records: Sequence[Record]) -> list[Output]:
        """One output per input, in input order; merges pass straight through."""
        records = [_cleaned(r) if isinstance(r, DedupedJob) else r for r in records]
        jobs = [r for r in records if isinstance(r, DedupedJob)]
        done = await self._enrich_jobs([j for j in jobs if j.job.closed_reason is None])
        outputs: list[Output] = []
        for record in records:
            if isinstance(record, JobMerged):
                outputs.append(record)
            elif isinstance(record, DedupedJob):
                outputs.append(done.get(record.seq_key) or handlers.skipped(record))
        return outputs

    async def _enrich_jobs(self, jobs: Sequence[DedupedJob]) -> dict[tuple[str, int], EnrichedJob]:
        version = self._backend.version
        cached = await self._cached(jobs, version)
        misses = _first_per_hash(j for j in jobs if j.job_hash not in cached)
        paused = await self._paused_runs(misses)
        # one feed per prompt: a posting's text can only ever reach its own feed's batch-mates
        by_feed = _by_feed(j for j in misses if j.run_id not in paused)
        answers = await asyncio.gather(
            *(self._backend.enrich([j.job for j in group]) for group in by_feed)
        )
        pairs = [
            (job, outcome)
            for group, outcomes in zip(by_feed, answers, strict=True)
            for job, outcome in zip(group, outcomes, strict=True)
        ]
        if self._counts_spending:
            await self._count_spending(pairs)
        fresh = {
            job.job_hash: handlers.from_backend(
                job, outcome, version=version, taxonomy=self._taxonomy
            )
            for job, outcome in pairs
        }
        # held jobs fail without an LLM call and are never cached: the next run asks again
        fresh.update(
            (job.job_hash, handlers.paused(job, paused[job.run_id], version=version))
            for job in misses
            if job.run_id in paused
        )
        # a failed stage is never cached as success: the next run (or replay) asks again
        whole = {job.job_hash for job, outcome in pairs if outcome.complete}
        await self._remember({h: r for h, r in fresh.items() if h in whole}, version)
        results: dict[tuple[str, int], EnrichedJob] = {}
        for job in jobs:
            if job.job_hash in cached:
                entry = cached[job.job_hash]
                results[job.seq_key] = handlers.from_cache(
                    job,
                    entry.enrichment,
                    version=version,
                    # this run's own result, stored before a crash cut the batch short
                    earlier_run=entry.run_id != job.run_id,
                )
            else:
                results[job.seq_key] = _for_job(fresh[job.job_hash], job)
        return await self._checked(results)

    async def _checked(
        self, results: dict[tuple[str, int], EnrichedJob]
    ) -> dict[tuple[str, int], EnrichedJob]:
        """Each LLM enrichment with its review reasons, checked anew on every run (a cached
        answer is no more trusted than a fresh one), one feed at a time."""
        checks = self._checks
        if checks is None:
            return results
        enriched = [r for r in results.values() if r.enrichment is not None]
        groups = _by_feed(enriched)
        reviews = await asyncio.gather(
            *(
                checks.review(
                    [r.job for r in group],
                    [r.enrichment for r in group if r.enrichment],
                    feed=(group[0].feed_id, [r.job_hash for r in group]),
                )
                for group in groups
            )
        )
        for group, reasons in zip(groups, reviews, strict=True):
            for record, why in zip(group, reasons, strict=True):
                if why:
                    results[(record.run_id, record.seq)] = record.model_copy(
                        update={"review_reasons": why}
                    )
        return results

    async def _paused_runs(self, jobs: Sequence[DedupedJob]) -> dict[str, str]:
        """The runs among `jobs` that have spent their LLM cost ceiling, with the reason."""
        ceiling = self._cost_ceiling_usd
        if ceiling is None or not jobs:
            return {}
        async with self._db.connection() as conn:
            spent = await spend.spent(conn, sorted({j.run_id for j in jobs}))
        paused = {
            run_id: f"{LLM_PAUSED}the run spent {money(cost)} of its {money(ceiling)} LLM cost "
            "ceiling (LLM_RUN_COST_CEILING_USD); enriched again on its feed's next run"
            for run_id, cost in spent.items()
            if cost >= ceiling
        }
        for run_id, reason in paused.items():
            held = sum(1 for j in jobs if j.run_id == run_id)
            log.warning("run %s: %d job(s) not sent to the LLM: %s", run_id, held, reason)
        return paused

    async def _count_spending(self, pairs: Sequence[tuple[DedupedJob, EnrichmentOutcome]]) -> None:
        """Adds what these calls cost to their runs' spending, which every replica reads."""
        costs: dict[str, float] = {}
        for job, outcome in pairs:
            cost = overall(outcome.usage).cost_usd
            if cost > 0:
                costs[job.run_id] = costs.get(job.run_id, 0.0) + cost
        if costs:
            async with self._db.connection() as conn:
                await spend.add(conn, costs)

    async def _cached(self, jobs: Sequence[DedupedJob], version: str) -> dict[str, cache.Cached]:
        wanted = [j.job_hash for j in jobs if not j.refresh]
        if not wanted:
            return {}
        async with self._db.connection() as conn:
            return await cache.lookup(conn, wanted, version)

    async def _remember(self, fresh: dict[str, EnrichedJob], version: str) -> None:
        good = {h: (r.enrichment, r.run_id) for h, r in fresh.items() if r.enrichment is not None}
        if good:
            async with self._db.connection() as conn:
                await cache.store(conn, good, version)


def _cleaned(record: DedupedJob) -> DedupedJob:
    """Clean output from the start: the model reads, and the router stores, the sanitised
    description and only a web application URL (schemas/clean.py)."""
    job = clean_posting(record.job)
    return record if job is record.job else record.model_copy(update={"job": job})


FeedRecord = TypeVar("FeedRecord", DedupedJob, EnrichedJob)


def _by_feed(records: Iterable[FeedRecord]) -> list[list[FeedRecord]]:
    groups: dict[int, list[FeedRecord]] = {}
    for record in records:
        groups.setdefault(record.feed_id, []).append(record)
    return list(groups.values())


def _first_per_hash(jobs: Iterable[DedupedJob]) -> list[DedupedJob]:
    seen: dict[str, DedupedJob] = {}
    for job in jobs:
        seen.setdefault(job.job_hash, job)
    return list(seen.values())


def _for_job(result: EnrichedJob, job: DedupedJob) -> EnrichedJob:
    """The same content seen twice in a batch is enriched once; each record keeps its own seq."""
    if (result.run_id, result.seq) == job.seq_key:
        return result
    return result.model_copy(
        update={
            "run_id": job.run_id,
            "seq": job.seq,
            "feed_id": job.feed_id,
            "job": job.job,  # same content, but possibly other locations
            "llm_calls": 0,
            "input_tokens": 0,
            "output_tokens": 0,
            "llm_usage": {},
        }
    )

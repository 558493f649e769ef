"""Drives one Batch API backfill to its end from its state in PostgreSQL; safe to kill.

Each round: the jobs waiting for a stage are planned into Batch API jobs (recorded before
they are created, under a unique display name), planned batches are created (marked
`submitting` first; such a batch is looked up by that name after a crash, so a crash between
creating one and recording it never creates it twice),
finished batches are read and their answers stored with the batch closed in one transaction,
and a feed whose jobs are all answered is applied: its jobs go through the online
enricher's own code (`Enricher.enrich`: clean, trust checks, cache) with the batch answers
as the backend's, and are published to `jobs.enriched` as one run of the feed (reason
`replay`), so the router and the syncer treat them exactly as online results. A crash while
publishing publishes the run again under the same run id; the router applies each
`(run_id, seq)` once.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg
from aiokafka import AIOKafkaProducer

from schemas import topics
from schemas.codec import CODEC
from schemas.records import (
    DedupedJob,
    IngestFinished,
    JobPosting,
    Record,
    RequestReason,
    RunStarted,
)
from schemas.report import money
from schemas.taxonomy import Taxonomy
from schemas.usage import LLM_PAUSED, overall
from services.enricher.adapters import spend_repository as spend
from services.enricher.app import next_key
from services.enricher.backends.base import EnrichmentOutcome
from services.enricher.backends.gemini.pricing import Price
from services.enricher.backends.gemini.prompts import SystemPrompts
from services.enricher.backends.gemini.schemas import Stage
from services.enricher.backfill import stages, store
from services.enricher.backfill.batch_api import BatchApi, Line
from services.enricher.backfill.stages import Item, Ref, Sizes
from services.enricher.ports import Connections, Sleep
from services.enricher.service import Enricher
from services.enricher.trust import TrustChecks
from services.shared.durability import DURABLE_PRODUCER
from services.shared.partitioner import partition_for
from services.shared.streaming import COMPRESSION

log = logging.getLogger(__name__)
SOURCE = "backfill"


@dataclass(frozen=True, slots=True)
class Plan:
    """How a backfill is cut and paced."""

    sizes: Sizes
    lines_per_batch: int = 100  # prompts per Batch API job
    max_attempts: int = 4  # GEMINI_MAX_ATTEMPTS: a request the server failed is sent again
    poll_s: float = 10.0
    # LLM_RUN_COST_CEILING_USD: what each feed's backfill run may spend (None: no limit)
    cost_ceiling_usd: float | None = None


@dataclass(frozen=True, slots=True)
class Parts:
    """What driving needs besides the backfill's own state."""

    dsn: str
    bootstrap: str
    api: BatchApi
    taxonomy: Taxonomy
    prompts: SystemPrompts
    version: str
    db: Connections
    checks: TrustChecks | None
    price: Price  # the Batch API's


class _Answered:
    """The backend the online enricher code sees while applying: the Batch API's answers."""

    def __init__(self, version: str, outcomes: dict[JobPosting, EnrichmentOutcome]) -> None:
        self._version = version
        self._outcomes = outcomes

    @property
    def version(self) -> str:
        return self._version

    async def enrich(self, jobs: Sequence[JobPosting]) -> list[EnrichmentOutcome]:
        return [self._outcomes[job] for job in jobs]

    async def aclose(self) -> None:
        return None


class Driver:
    def __init__(
        self, backfill_id: int, parts: Parts, plan: Plan, *, sleep: Sleep = asyncio.sleep
    ) -> None:
        self._id = backfill_id
        self._parts = parts
        self._plan = plan
        self._sleep = sleep  # what it waits between rounds that moved nothing with

    async def run(self) -> bool:
        """Drives the backfill to its end; False when another process holds it."""
        conn = await asyncpg.connect(self._parts.dsn)
        try:
            if not await store.try_lock(conn, self._id):
                return False
            backfill = await store.get(conn, self._id)
            if backfill is None or backfill.status != "running":
                return True
            if backfill.version != self._parts.version:
                log.warning(
                    "backfill %d was planned for %s, this process enriches as %s",
                    self._id,
                    backfill.version,
                    self._parts.version,
                )
            await self._loop(conn, backfill.token)
            return True
        finally:
            await conn.close()

    async def _loop(self, conn: store.Conn, token: str) -> None:
        items = {item.ref: item for item in await store.items(conn, self._id)}
        while True:
            batches = await store.batches(conn, self._id)
            moved = await self._plan_waiting(conn, items, batches, token)
            for batch in batches:
                if batch.state in ("planned", "submitting"):
                    await self._submit(conn, batch, items)
                    moved = True
                elif batch.state == "submitted":
                    moved = await self._collect(conn, batch, items) or moved
            if await self._apply_ready(conn, items):
                await store.complete(conn, self._id)
                log.info("backfill %d completed (%d jobs)", self._id, len(items))
                return
            if not moved:
                await self._sleep(self._plan.poll_s)

    async def _plan_waiting(
        self, conn: store.Conn, items: dict[Ref, Item], batches: list[store.BatchRow], token: str
    ) -> bool:
        taxonomy = self._parts.taxonomy
        settled = [item for item in items.values() if stages.settle_local(item, taxonomy)]
        if settled:
            await store.save(conn, self._id, settled)
        busy = {
            ref
            for batch in batches
            if batch.state in ("planned", "submitting", "submitted")
            for request in batch.requests
            for ref in request
        }
        number = max((batch.number for batch in batches), default=0)
        planned = False
        for stage in stages.STAGES:
            waiting = [
                item
                for item in items.values()
                if item.ref not in busy and stages.next_stage(item, taxonomy) is stage
            ]
            if stage is Stage.ENRICH and self._plan.cost_ceiling_usd is not None:
                waiting, paused = self._within_ceiling(
                    waiting, items, batches, self._plan.cost_ceiling_usd
                )
                if paused:
                    await store.save(conn, self._id, paused)
                    planned = True
            prompts = stages.plan(stage, waiting, taxonomy, self._plan.sizes)
            size = self._plan.lines_per_batch
            for start in range(0, len(prompts), size):
                number += 1
                row = store.BatchRow(
                    number,
                    stage,
                    f"jobstream-backfill-{token}-{number}",
                    prompts[start : start + size],
                    None,
                    "planned",
                )
                await store.plan_batch(conn, self._id, row)
                batches.append(row)
                planned = True
        return planned

    def _within_ceiling(
        self,
        waiting: list[Item],
        items: dict[Ref, Item],
        batches: list[store.BatchRow],
        ceiling: float,
    ) -> tuple[list[Item], list[Item]]:
        """Under a cost ceiling, a feed's jobs start (stage 1) one Batch API job at a time,
        and none start once the feed's spending reaches the ceiling: they fail with the
        reason, as jobs of an online run over its ceiling do. Jobs already started finish
        their stages, as an online batch does, so a feed may go over by one batch's worth.
        Returns the jobs to plan now and those paused."""
        spent = stages.spent_by_feed(items.values(), self._parts.price)
        in_flight = {
            feed_id
            for batch in batches
            if batch.stage is Stage.ENRICH and batch.state in ("planned", "submitting", "submitted")
            for request in batch.requests
            for feed_id, _ in request
        }
        room = self._plan.lines_per_batch * self._plan.sizes.batch_size
        by_feed: dict[int, list[Item]] = {}
        for item in waiting:
            by_feed.setdefault(item.feed_id, []).append(item)
        now: list[Item] = []
        paused: list[Item] = []
        for feed_id, feed_items in by_feed.items():
            cost = spent.get(feed_id, 0.0)
            if cost >= ceiling:
                reason = (
                    f"{LLM_PAUSED}the backfill spent {money(cost)} on this feed, its "
                    f"{money(ceiling)} LLM cost ceiling (LLM_RUN_COST_CEILING_USD); enriched "
                    "again on its feed's next run"
                )
                log.warning(
                    "backfill %d: feed %d: %d job(s) not sent to the LLM: %s",
                    self._id,
                    feed_id,
                    len(feed_items),
                    reason,
                )
                for item in feed_items:
                    item.error = reason
                paused.extend(feed_items)
            elif feed_id not in in_flight:
                now.extend(feed_items[:room])
        return now, paused

    async def _submit(
        self, conn: store.Conn, batch: store.BatchRow, items: dict[Ref, Item]
    ) -> None:
        api = self._parts.api
        name = None
        if batch.state == "submitting":  # a process died while creating it: did it get there?
            name = await api.find(batch.display_name)
        else:  # said before the request goes out, so the listing is only read after a crash
            await store.mark_batch(conn, self._id, batch.number, "submitting", None)
        if name is None:
            lines = [
                self._line(batch, index, [items[ref] for ref in request])
                for index, request in enumerate(batch.requests)
            ]
            name = await api.submit(batch.display_name, lines)
            log.info("backfill %d: batch %s created (%d requests)", self._id, name, len(lines))
        else:
            log.info("backfill %d: batch %s was already created", self._id, name)
        await store.mark_batch(conn, self._id, batch.number, "submitted", name)

    def _line(self, batch: store.BatchRow, index: int, members: list[Item]) -> Line:
        prompt = self._prompt(batch.stage, members)
        return Line(f"r{index}", batch.stage, prompt.system, prompt.user)

    def _prompt(self, stage: Stage, members: list[Item]) -> stages.Prompt:
        parts = self._parts
        max_chars = self._plan.sizes.max_description_chars
        return stages.render(stage, members, parts.prompts, parts.taxonomy, max_chars)

    async def _collect(
        self, conn: store.Conn, batch: store.BatchRow, items: dict[Ref, Item]
    ) -> bool:
        assert batch.name is not None
        status = await self._parts.api.status(batch.name)
        if not status.done:
            return False
        if status.state == "JOB_STATE_EXPIRED":
            # never run (a batch not done within 48 hours): its jobs are asked again
            await store.mark_batch(conn, self._id, batch.number, "expired", batch.name)
            log.warning(
                "backfill %d: batch %s expired; its jobs go out again", self._id, batch.name
            )
            return True
        answers = (
            await self._parts.api.results(status.results_file)
            if status.results_file and status.state == "JOB_STATE_SUCCEEDED"
            else {}
        )
        changed: list[Item] = []
        for index, request in enumerate(batch.requests):
            members = [items[ref] for ref in request]
            answer = answers.get(f"r{index}", f"the batch ended {status.state} without an answer")
            prompt = self._prompt(batch.stage, members)
            stages.record(batch.stage, members, prompt, answer, self._plan.max_attempts)
            changed.extend(members)
        async with conn.transaction():
            await store.save(conn, self._id, changed)
            await store.mark_batch(conn, self._id, batch.number, "done", batch.name)
        log.info("backfill %d: batch %s read (%s)", self._id, batch.name, status.state)
        return True

    async def _apply_ready(self, conn: store.Conn, items: dict[Ref, Item]) -> bool:
        """Applies every feed whose jobs are all answered; True once every feed is applied."""
        taxonomy = self._parts.taxonomy
        by_feed: dict[int, list[Item]] = {}
        for item in items.values():
            by_feed.setdefault(item.feed_id, []).append(item)
        applied = 0
        for feed_id, feed_items in sorted(by_feed.items()):
            if any(stages.next_stage(item, taxonomy) is not None for item in feed_items):
                continue
            if await self._apply_feed(conn, feed_id, feed_items):
                applied += 1
        return applied == len(by_feed)

    async def _apply_feed(self, conn: store.Conn, feed_id: int, feed_items: list[Item]) -> bool:
        run = await store.feed_run(conn, self._id, feed_id)
        if run is None:
            claimed = await store.claim_feed(conn, self._id, feed_id, str(uuid.uuid4()), feed_items)
            if isinstance(claimed, str):
                log.info("backfill %d: feed %d has run %s in progress", self._id, feed_id, claimed)
                return False
            run = claimed
        if not run.published:
            carried = [item for item in feed_items if item.seq in run.seqs]
            await self._publish(run.run_id, feed_id, carried)
            await spend.settle(conn, run.run_id, self._cost(carried))
            await store.mark_published(conn, self._id, feed_id)
            log.info(
                "backfill %d: feed %d applied as run %s (%d jobs, %d changed or gone since)",
                self._id,
                feed_id,
                run.run_id,
                len(carried),
                len(feed_items) - len(carried),
            )
        return True

    def _cost(self, feed_items: list[Item]) -> float:
        price = self._parts.price
        return sum(overall(stages.priced(item, price)).cost_usd for item in feed_items)

    async def _publish(self, run_id: str, feed_id: int, feed_items: list[Item]) -> None:
        parts = self._parts
        outcomes = {
            item.job: stages.outcome(item, parts.taxonomy, parts.price) for item in feed_items
        }
        enricher = Enricher(
            _Answered(parts.version, outcomes),
            parts.taxonomy,
            parts.db,
            checks=parts.checks,
            counts_spending=False,  # settled once the run is published (`spend.settle`)
        )
        records = [
            DedupedJob(
                run_id=run_id,
                feed_id=feed_id,
                seq=item.seq,
                job_hash=item.job_hash,
                job=item.job,
                refresh=True,  # asked anew: the cache holds the answers being replaced
            )
            for item in feed_items
        ]
        outputs = await enricher.enrich(records)
        producer = AIOKafkaProducer(
            bootstrap_servers=parts.bootstrap,
            **DURABLE_PRODUCER,
            compression_type=COMPRESSION,
            partitioner=partition_for,
        )
        await producer.start()
        try:
            started = RunStarted(
                run_id=run_id,
                feed_id=feed_id,
                reason=RequestReason.REPLAY,
                started_at=datetime.now(UTC),
            )
            await _send(producer, topics.RUNS_EVENTS.name, run_id.encode(), started)
            for output in outputs:
                await producer.send(
                    topics.JOBS_ENRICHED.name,
                    value=CODEC.encode(output, source=SOURCE),
                    key=next_key(output).encode(),
                )
            await producer.flush()
            finished = IngestFinished(
                run_id=run_id, feed_id=feed_id, emitted=len(outputs), parsed=len(outputs)
            )
            await _send(producer, topics.RUNS_EVENTS.name, run_id.encode(), finished)
        finally:
            await producer.stop()


async def _send(producer: AIOKafkaProducer, topic: str, key: bytes, record: Record) -> None:
    await producer.send_and_wait(topic, value=CODEC.encode(record, source=SOURCE), key=key)

"""A feed read gives its request up mid-way, at a stop or when a rebalance takes the request's
partition away: what it sent is flushed, no IngestFinished claims a count, and the batch is
raised as not to be committed (`Interrupted` at a stop, `Revoked` at a hand-over)."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest

from cli.stack.config import PROJECT_ROOT
from schemas.records import FeedRequested, IngestFinished, RawJob, Record, RequestReason
from schemas.topics import TopicSpec
from services.ingestor.config import IngestorSettings
from services.ingestor.incremental import PreviousRun
from services.ingestor.ports import FeedDefinition
from services.ingestor.service import Ingestor
from services.shared.agents import Interrupted, Revoked, hand_over_on
from tests.feed_sources import DATA, pipeline_feed_env

FEED = DATA / "router-30.xml"
MAPPING = json.loads((PROJECT_ROOT / "examples" / "feeds" / "sample-mapping.json").read_text())
GIVE_UP_AT = 5  # RawJobs sent when the signal comes
EMITTED = 29  # RawJobs of the whole feed (one record of 30 is malformed)


class _Feeds:
    async def load(self, feed_id: int) -> FeedDefinition:
        return FeedDefinition(feed_id, "f", str(FEED), MAPPING)


@dataclass
class _FirstRun:
    """The history of a feed that never ran: every record of the read goes in full."""

    fingerprints: list[tuple[int, int, int]] = field(default_factory=list)

    async def begin(self, request: FeedRequested) -> PreviousRun | None:
        return None

    async def write_fingerprints(
        self, run_id: str, feed_id: int, rows: Sequence[tuple[int, int, int]]
    ) -> None:
        self.fingerprints.extend(rows)


@dataclass
class _Publisher:
    """Records what is sent; sets `signal` once GIVE_UP_AT RawJobs are sent."""

    signal: asyncio.Event
    sent: list[Record] = field(default_factory=list)
    flushed_at: list[int] = field(default_factory=list)  # RawJobs sent at each flush

    def raw_jobs(self) -> int:
        return sum(isinstance(r, RawJob) for r in self.sent)

    async def send(self, spec: TopicSpec, key: str, record: Record) -> None:
        self.sent.append(record)
        if self.raw_jobs() == GIVE_UP_AT:
            self.signal.set()
        await asyncio.sleep(0)  # the read goes on until the signal is heard

    async def drain(self, *, keep: int) -> None:
        return None

    async def flush(self) -> None:
        self.flushed_at.append(self.raw_jobs())

    async def send_now(self, spec: TopicSpec, key: str, record: Record) -> None:
        await self.send(spec, key, record)


def _request() -> FeedRequested:
    return FeedRequested(
        run_id=str(uuid.uuid4()),
        feed_id=1,
        reason=RequestReason.API,
        requested_at=datetime.now(UTC),
    )


def _ingestor(publisher: _Publisher, stopping: asyncio.Event) -> Ingestor:
    settings = IngestorSettings.from_env(
        {"DATABASE_URL": "postgresql://u@h/d", **pipeline_feed_env()}
    )
    return Ingestor(settings, _Feeds(), _FirstRun(), publisher, stopping)


async def test_a_read_handed_over_by_a_rebalance_is_given_up_uncommitted() -> None:
    handover = asyncio.Event()
    hand_over_on(handover)  # what the consumer does for its batch
    publisher = _Publisher(handover)
    with pytest.raises(Revoked) as given_up:
        await _ingestor(publisher, asyncio.Event()).run(_request())
    assert not isinstance(given_up.value, Interrupted)
    assert "next owner reads the feed again" in str(given_up.value)
    sent = publisher.raw_jobs()
    assert GIVE_UP_AT <= sent < EMITTED  # stopped mid-read
    assert publisher.flushed_at == [sent]  # what it sent is delivered before it gives up
    assert not any(isinstance(r, IngestFinished) for r in publisher.sent)


async def test_a_read_stopped_by_a_shutdown_is_interrupted() -> None:
    stopping = asyncio.Event()
    publisher = _Publisher(stopping)
    with pytest.raises(Interrupted, match="read again after the restart"):
        await _ingestor(publisher, stopping).run(_request())
    assert publisher.flushed_at == [publisher.raw_jobs()]
    assert not any(isinstance(r, IngestFinished) for r in publisher.sent)


async def test_a_read_neither_stopped_nor_handed_over_finishes() -> None:
    publisher = _Publisher(asyncio.Event())
    await _ingestor(publisher, asyncio.Event()).run(_request())
    finished = [r for r in publisher.sent if isinstance(r, IngestFinished)]
    assert len(finished) == 1 and finished[0].emitted == publisher.raw_jobs() == EMITTED

"""What the ingestor depends on, as protocols; `app.py` wires the adapters that implement
them (`services.shared.publisher.Publisher`, `services.shared.database.Database`,
`services.ingestor.adapters.feeds_repository.FeedsRepository`,
`services.ingestor.adapters.seen_repository.SeenRepository`)."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, Protocol

from schemas.records import FeedRequested, Record
from schemas.topics import TopicSpec
from services.ingestor.incremental import PreviousRun
from services.shared.database import Conn


class Publisher(Protocol):
    """Records onto topics; `drain` bounds the sends in flight while a feed streams in."""

    async def send(self, spec: TopicSpec, key: str, record: Record) -> None: ...

    async def drain(self, *, keep: int) -> None: ...

    async def flush(self) -> None: ...

    async def send_now(self, spec: TopicSpec, key: str, record: Record) -> None: ...


class Connections(Protocol):
    """A borrowed PostgreSQL connection."""

    def connection(self) -> AbstractAsyncContextManager[Conn]: ...


@dataclass(frozen=True, slots=True)
class FeedDefinition:
    feed_id: int
    name: str
    source_url: str
    mapping: dict[str, Any] | None


class Feeds(Protocol):
    """The feed definitions a run reads; `load` raises FeedNotFoundError for a feed that is
    missing or deactivated."""

    async def load(self, feed_id: int) -> FeedDefinition: ...


class RunHistory(Protocol):
    """What the feed's runs read (incremental runs): `begin` records this run's snapshot and
    returns the last run to compare with (None: every record goes in full);
    `write_fingerprints` records (seq, fingerprint, group key) of records read."""

    async def begin(self, request: FeedRequested) -> PreviousRun | None: ...

    async def write_fingerprints(
        self, run_id: str, feed_id: int, rows: Sequence[tuple[int, int, int]]
    ) -> None: ...

"""What the syncer depends on, as protocols: where jobs are mirrored, its database, its clock.

Adapters implement them (`adapters/xano.py` is one `JobMirror`, `adapters/memory.py`
another); the composition root (`app.py`) wires them. A second sink is a new adapter and a
line of wiring: `Syncer(db, xano, also=[search_index])`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, Protocol

from services.shared.database import Conn
from services.shared.retry import Sleep
from services.syncer.errors import SyncerError

__all__ = [
    "BatchDone",
    "Clock",
    "Connections",
    "JobMirror",
    "JsonRecord",
    "MirrorError",
    "Sleep",
    "WriteResult",
]

JsonRecord = dict[str, Any]


class MirrorError(SyncerError):
    """A mirror could not do what was asked; the message says what and why."""


@dataclass(frozen=True, slots=True)
class WriteResult:
    """Records the mirror confirmed, records that failed, and why."""

    confirmed: int = 0
    failed: int = 0
    errors: tuple[str, ...] = ()
    unavailable: bool = False  # some failed because the mirror was down (no answer, 5xx, 429)
    stopped: int = 0  # records never sent: the worker began to stop before their turn
    # The job hashes of the batches the mirror answered, confirming some: what the syncer
    # remembers as written (a record among them that failed is redone by the next plan).
    written: tuple[str, ...] = ()

    def __add__(self, other: WriteResult) -> WriteResult:
        return WriteResult(
            confirmed=self.confirmed + other.confirmed,
            failed=self.failed + other.failed,
            errors=self.errors + other.errors,
            unavailable=self.unavailable or other.unavailable,
            stopped=self.stopped + other.stopped,
            written=self.written + other.written,
        )


Clock = Callable[[], float]  # monotonic seconds (the loop's time)

# Called with each batch's result as soon as the mirror answers it, so progress survives a crash.
BatchDone = Callable[[WriteResult], Awaitable[None]]


class JobMirror(Protocol):
    """A place the approved jobs are mirrored to, each record keyed by its job_hash.

    `list_feed` returns every record of the feed or raises `MirrorError` (never a partial
    list); writes are safe to retry (adds carry a stable eid, the rest go by job_hash).
    """

    async def open(self) -> object: ...

    async def aclose(self) -> None: ...

    async def list_feed(self, feed_id: int) -> list[JsonRecord]: ...

    async def add(
        self, records: Sequence[Mapping[str, Any]], on_batch: BatchDone | None = None
    ) -> WriteResult: ...

    async def update(
        self, records: Sequence[Mapping[str, Any]], on_batch: BatchDone | None = None
    ) -> WriteResult: ...

    async def delete(
        self, feed_id: int, hashes: Sequence[str], on_batch: BatchDone | None = None
    ) -> WriteResult: ...


class Connections(Protocol):
    """Borrowed PostgreSQL connections (`services.shared.database.Database`)."""

    def connection(self) -> AbstractAsyncContextManager[Conn]: ...

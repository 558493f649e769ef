"""Agent bodies: decode a batch, run the handler, pause on outages, dead-letter only poison.

A batch's handler is retried until it succeeds. When it fails because a dependency is
unavailable (`failures.is_retriable`) the stage pauses: it takes no new records and tries
the same ones again, with backoff, for as long as the outage lasts. Any other failure may be
a bad record: after a second failure the batch is split, and a record that fails the same
way alone is poison, dead-lettered whole with the reason. Handlers must be idempotent: a
retried batch runs again from its first record.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import Awaitable, Callable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Protocol

from schemas.codec import CODEC, DecodeError
from schemas.records import DeadLetter, Record
from schemas.topics import TopicSpec, by_name
from services.shared import metrics
from services.shared.failures import describe, is_retriable
from services.shared.health import Stage
from services.shared.logs import current_run_id
from services.shared.retry import Backoff, Sleep

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Delivery:
    """One consumed message, as the broker holds it."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes

    @property
    def raw_key(self) -> bytes:
        return self.key or b""


Batch = list[tuple[Delivery, Record]]
"""Decoded records of one batch, each with the message it came in."""

Handler = Callable[[Batch], Awaitable[None]]

PAUSE_BACKOFF = Backoff(0.2, 5.0)  # between a paused batch's attempts


class Sender(Protocol):
    """Where dead letters go (a `Publisher`)."""

    async def send_now(self, spec: TopicSpec, key: str, record: Record) -> None: ...


class Revoked(Exception):  # noqa: N818 - a signal, not an error
    """The batch touched a partition this replica no longer owns: drop it, uncommitted."""


class Interrupted(Revoked):
    """The worker is stopping mid-batch: the batch is given up uncommitted, and done again
    from its start after the restart (handlers are idempotent)."""


_HANDOVER: ContextVar[asyncio.Event] = ContextVar("handover")


def handing_over() -> asyncio.Event:
    """Set once a rebalance takes the batch in hand's partitions away. A handler whose batch
    may run long (a feed read) waits on it as on a stop and gives the batch up (`Revoked`):
    left uncommitted, it is done again from its start by the partitions' next owner, and
    the group need not wait for it. Outside a consumer's batch: an event never set."""
    return _HANDOVER.get(None) or asyncio.Event()


def hand_over_on(event: asyncio.Event) -> None:
    """Makes `event` what `handing_over` returns in this task (the consumer's batch)."""
    _HANDOVER.set(event)


def decode_batch(messages: Sequence[Delivery]) -> tuple[Batch, list[tuple[Delivery, str]]]:
    """Splits messages into decodable records and (message, error) pairs: undecodable ones
    are poison whatever the state of the world."""
    good: Batch = []
    bad: list[tuple[Delivery, str]] = []
    received: collections.Counter[str] = collections.Counter()
    for message in messages:
        received[message.topic] += 1
        try:
            good.append((message, CODEC.decode(message.value)))
        except DecodeError as exc:
            bad.append((message, str(exc)))
    for topic_name, count in received.items():
        metrics.RECORDS_IN.labels(topic_name).inc(count)
    return good, bad


def dead_letter_of(message: Delivery, error: str) -> DeadLetter:
    return DeadLetter(
        topic=message.topic,
        partition=message.partition,
        offset=message.offset,
        error=error[:2000],
        raw=message.value,
        key=message.key,
    )


class BatchBody:
    """What an agent does with each batch its consumer hands it (see the module docstring)."""

    def __init__(
        self,
        what: str,
        handle: Handler,
        publisher: Sender,
        stage: Stage,
        *,
        sleep: Sleep = asyncio.sleep,
        backoff: Backoff = PAUSE_BACKOFF,
        poison_attempts: int = 2,
    ) -> None:
        self._what = what
        self._handle = handle
        self._publisher = publisher
        self._stage = stage
        self._sleep = sleep
        self._backoff = backoff
        self._poison_attempts = poison_attempts

    async def __call__(self, messages: Sequence[Delivery]) -> None:
        good, bad = decode_batch(messages)
        for message, reason in bad:
            await self._dead_letter(message, reason)
        if good:
            await self._settle(good)

    async def _settle(self, batch: Batch) -> None:
        error = await self._attempt(batch)
        if error is None:
            return
        if len(batch) > 1:
            log.warning("%s of %d records failed: trying them one by one", self._what, len(batch))
            for item in batch:
                await self._settle([item])
            return
        await self._dead_letter(batch[0][0], describe(error))

    async def _attempt(self, batch: Batch) -> Exception | None:
        """None once the handler succeeded; the error once it failed `poison_attempts` times
        for a reason of its own. Retriable failures are waited out, however long."""
        what = f"{self._what} of {len(batch)} record(s)"
        current_run_id.set(getattr(batch[0][1], "run_id", None))
        failures = 0
        for delay in self._backoff.delays():
            try:
                await self._handle(batch)
            except Revoked:
                raise
            except Exception as exc:  # an agent must survive anything a handler raises
                if is_retriable(exc):
                    self._paused(what, exc, delay)
                else:
                    failures += 1
                    if failures >= self._poison_attempts:
                        log.warning("%s failed %d times: %s", what, failures, describe(exc))
                        self._resumed(what)
                        return exc
                    log.warning("%s failed, trying again: %s", what, describe(exc))
                await self._sleep(delay)
            else:
                self._resumed(what)
                return None
        raise AssertionError("unreachable: backoff delays never end")

    def _paused(self, what: str, error: Exception, delay: float) -> None:
        if self._stage.paused_for is None:
            log.warning(
                "%s: dependency unavailable, pausing %s (%s)",
                self._stage.name,
                what,
                describe(error),
            )
        else:
            log.info(
                "%s still paused, next try in %.1f s: %s", self._stage.name, delay, describe(error)
            )
        self._stage.pause(describe(error))

    def _resumed(self, what: str) -> None:
        if self._stage.paused_for is not None:
            log.warning("%s: resumed, %s done", self._stage.name, what)
            self._stage.resume()

    async def _dead_letter(self, message: Delivery, error: str) -> None:
        """Keeps the message whole, with the reason, on its topic's dead-letter topic; waits
        out a broker outage like any other retriable failure."""
        spec = by_name(message.topic)
        if spec.dead_letter is None:
            log.error("dropping unprocessable message from %s: %s", message.topic, error)
            return
        record = dead_letter_of(message, error)
        target = by_name(spec.dead_letter)

        async def send(_: Batch) -> None:
            await self._publisher.send_now(target, message.topic, record)

        for delay in self._backoff.delays():
            try:
                await send([])
                break
            except Exception as exc:
                if not is_retriable(exc):
                    raise
                self._paused(f"dead letter of {message.topic}", exc, delay)
                await self._sleep(delay)
        self._resumed("dead letter")
        metrics.DEAD_LETTERS.labels(message.topic).inc()
        log.warning(
            "dead-lettered %s[%d]@%d: %s", message.topic, message.partition, message.offset, error
        )


async def with_retries(
    work: Callable[[], Awaitable[None]],
    *,
    what: str,
    attempts: int = 5,
    first_delay_s: float = 0.2,
    sleep: Sleep = asyncio.sleep,
) -> str | None:
    """Runs `work` (a sweep, not a record), retrying with backoff; returns the last error text
    if it never succeeded. Nothing is dead-lettered: the next sweep tries again."""
    delays = Backoff(first_delay_s, 5.0).delays()
    for attempt in range(1, attempts + 1):
        try:
            await work()
            return None
        except Exception as exc:
            if attempt == attempts:
                log.warning("%s failed after %d attempt(s): %s", what, attempts, describe(exc))
                return describe(exc)
            log.warning("%s failed (attempt %d/%d): %s", what, attempt, attempts, exc)
            await sleep(next(delays))
    return None

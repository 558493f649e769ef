"""The call budget: a concurrency limit plus requests- and tokens-per-minute.

`RateBudget` keeps the window in this process; `SharedBudget` keeps it in PostgreSQL, so
every enricher replica of a deployment spends one budget (the enricher service uses it).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from services.enricher.ports import Connections
from services.shared.failures import DependencyUnavailableError, is_retriable
from services.shared.retry import Sleep

WINDOW_S = 60.0
# A budget that is full is asked again at least this often: bookings in flight settle at
# unknown times, and another replica's 429 may lift or extend a pause.
MAX_POLL_S = 1.0

Clock = Callable[[], float]
T = TypeVar("T")


@dataclass(slots=True)
class Booking:
    """One request's place in the window; settle it with the tokens the call really used."""

    at: float
    tokens: int
    id: int | None = None  # the shared budget's row

    def settle(self, actual_tokens: int) -> None:
        self.tokens = actual_tokens


class Budget(Protocol):
    async def acquire(self, estimated_tokens: int) -> Booking:
        """Waits until one more request of `estimated_tokens` fits, then books it."""
        ...

    async def settle(self, booking: Booking, actual_tokens: int) -> None:
        """The call is over (answered or not) and used `actual_tokens`."""
        ...

    async def pause(self, seconds: float) -> None:
        """Gemini refused a request (429): no request goes out for `seconds`."""
        ...


class BudgetUnavailableError(DependencyUnavailableError):
    """The shared budget's database did not answer: the enricher pauses, no job fails."""


@dataclass(slots=True)
class RateBudget:
    """A sliding one-minute window over requests and tokens.

    A request bigger than the whole token budget still goes through once the window is
    empty: refusing it forever would stall the pipeline.
    """

    requests_per_minute: int
    tokens_per_minute: int
    clock: Clock = time.monotonic
    sleep: Sleep = asyncio.sleep
    _spent: deque[Booking] = field(default_factory=deque)
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    _paused_until: float = float("-inf")

    async def acquire(self, estimated_tokens: int) -> Booking:
        """Waits until one more request of `estimated_tokens` fits, then books it."""
        async with self._lock:  # first come, first served: no starvation of big requests
            while (wait := self.wait_needed(estimated_tokens)) > 0:
                await self.sleep(wait)
            booking = Booking(self.clock(), estimated_tokens)
            self._spent.append(booking)
            return booking

    async def settle(self, booking: Booking, actual_tokens: int) -> None:
        booking.settle(actual_tokens)

    async def pause(self, seconds: float) -> None:
        self._paused_until = max(self._paused_until, self.clock() + seconds)

    def wait_needed(self, estimated_tokens: int) -> float:
        """Seconds until the request fits (0 when it fits now)."""
        now = self.clock()
        if self._paused_until > now:
            return self._paused_until - now
        self._forget_before(now - WINDOW_S)
        if not self._spent:
            return 0.0
        tokens_used = sum(spend.tokens for spend in self._spent)
        fits_requests = len(self._spent) < self.requests_per_minute
        fits_tokens = tokens_used + estimated_tokens <= self.tokens_per_minute
        if fits_requests and fits_tokens:
            return 0.0
        return max(self._spent[0].at + WINDOW_S - now, 0.001)

    def _forget_before(self, cutoff: float) -> None:
        while self._spent and self._spent[0].at <= cutoff:
            self._spent.popleft()


@dataclass(slots=True)
class SharedBudget:
    """The sliding window in PostgreSQL (migration 0009, `llm_budget_book`): one budget for
    every replica. Each booking is one round trip, each settlement another; this process's
    callers queue here first, so only one of them asks the database while the budget is full.
    """

    db: Connections
    scope: str  # what Google counts a quota for: the model (and the endpoint)
    requests_per_minute: int
    tokens_per_minute: int
    hold_s: float  # the longest a call may take: an unsettled booking counts that long
    window_s: float = WINDOW_S
    sleep: Sleep = asyncio.sleep
    clock: Clock = time.monotonic
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def acquire(self, estimated_tokens: int) -> Booking:
        async with self._lock:
            while True:
                booking_id, wait_s = await self._guarded(self._book(estimated_tokens))
                if booking_id is not None:
                    return Booking(self.clock(), estimated_tokens, booking_id)
                await self.sleep(min(wait_s, MAX_POLL_S))

    async def settle(self, booking: Booking, actual_tokens: int) -> None:
        booking.settle(actual_tokens)
        await self._guarded(
            self._execute("SELECT llm_budget_settle($1, $2)", booking.id, actual_tokens)
        )

    async def pause(self, seconds: float) -> None:
        await self._guarded(self._execute("SELECT llm_budget_pause($1, $2)", self.scope, seconds))

    async def _book(self, tokens: int) -> tuple[int | None, float]:
        async with self.db.connection() as conn:
            row = await conn.fetchrow(
                "SELECT booking_id, wait_s FROM llm_budget_book($1, $2, $3, $4, $5, $6)",
                self.scope,
                self.requests_per_minute,
                self.tokens_per_minute,
                tokens,
                self.window_s,
                self.hold_s,
            )
        assert row is not None
        return row["booking_id"], float(row["wait_s"])

    async def _execute(self, sql: str, *args: object) -> None:
        async with self.db.connection() as conn:
            await conn.execute(sql, *args)

    @staticmethod
    async def _guarded(step: Awaitable[T]) -> T:
        """A database that is down or busy pauses the stage (`DependencyUnavailableError`),
        it never fails the jobs whose call it was booking."""
        try:
            return await step
        except Exception as exc:
            if is_retriable(exc):
                why = f"the shared LLM budget is unavailable: {exc}"
                raise BudgetUnavailableError(why) from exc
            raise


@dataclass(slots=True)
class CallGate:
    """Bounds concurrent calls and spends the per-minute budget before each one."""

    budget: Budget
    semaphore: asyncio.Semaphore

    @classmethod
    def create(cls, max_concurrency: int, rpm: int, tpm: int) -> CallGate:
        return cls(RateBudget(rpm, tpm), asyncio.Semaphore(max_concurrency))

    @classmethod
    def shared(cls, db: Connections, scope: str, max_concurrency: int, rpm: int, tpm: int,
               hold_s: float) -> CallGate:  # fmt: skip
        """A gate whose budget every replica shares; the concurrency limit stays per process."""
        return cls(SharedBudget(db, scope, rpm, tpm, hold_s), asyncio.Semaphore(max_concurrency))

    @asynccontextmanager
    async def slot(self, estimated_tokens: int) -> AsyncIterator[Booking]:
        async with self.semaphore:
            yield await self.budget.acquire(estimated_tokens)


_GATES: dict[tuple[int, str, str], CallGate] = {}


def shared_gate(model: str, endpoint: str, max_concurrency: int, rpm: int, tpm: int) -> CallGate:
    """The gate every backend of this process shares for one model and endpoint.

    Keyed by event loop too, because asyncio primitives belong to the loop that uses them.
    """
    key = (id(asyncio.get_running_loop()), model, endpoint)
    gate = _GATES.get(key)
    if gate is None:
        gate = _GATES[key] = CallGate.create(max_concurrency, rpm, tpm)
    return gate

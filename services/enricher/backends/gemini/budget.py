"""The process-wide call budget: a concurrency limit plus requests- and tokens-per-minute."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from services.shared.retry import Sleep

WINDOW_S = 60.0

Clock = Callable[[], float]


@dataclass(slots=True)
class Booking:
    """One request's place in the window; settle it with the tokens the call really used."""

    at: float
    tokens: int

    def settle(self, actual_tokens: int) -> None:
        self.tokens = actual_tokens


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

    async def acquire(self, estimated_tokens: int) -> Booking:
        """Waits until one more request of `estimated_tokens` fits, then books it."""
        async with self._lock:  # first come, first served: no starvation of big requests
            while (wait := self.wait_needed(estimated_tokens)) > 0:
                await self.sleep(wait)
            booking = Booking(self.clock(), estimated_tokens)
            self._spent.append(booking)
            return booking

    def wait_needed(self, estimated_tokens: int) -> float:
        """Seconds until the request fits (0 when it fits now)."""
        now = self.clock()
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
class CallGate:
    """Bounds concurrent calls and spends the per-minute budget before each one."""

    budget: RateBudget
    semaphore: asyncio.Semaphore

    @classmethod
    def create(cls, max_concurrency: int, rpm: int, tpm: int) -> CallGate:
        return cls(RateBudget(rpm, tpm), asyncio.Semaphore(max_concurrency))

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

"""Waiting between attempts: one backoff rule, and the sleep it waits with (a test injects its
own, so no test waits real seconds or patches asyncio)."""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass

Sleep = Callable[[float], Awaitable[None]]

_MAX_DOUBLINGS = 60  # 2.0 ** 1024 overflows; every cap is reached long before this


@dataclass(frozen=True, slots=True)
class Backoff:
    """Exponential delays from `base_s`, doubling per attempt, capped at `max_s`.

    With `rand`, each delay is half fixed and half random ("equal jitter"): concurrent
    retriers spread out and never retry at once. A server's hint (Retry-After) is never
    undercut, nor the cap exceeded.
    """

    base_s: float = 0.2
    max_s: float = 5.0
    rand: Callable[[], float] | None = None

    def delay(self, attempt: int, hint_s: float | None = None) -> float:
        """Seconds to wait after failed attempt number `attempt` (1-based)."""
        ceiling = min(self.max_s, self.base_s * 2.0 ** min(attempt - 1, _MAX_DOUBLINGS))
        if self.rand is not None:
            ceiling = ceiling / 2 + self.rand() * ceiling / 2
        return min(max(ceiling, hint_s or 0.0), self.max_s)

    def delays(self) -> Iterator[float]:
        """The delays after attempts 1, 2, 3, … for as long as the caller keeps trying."""
        return (self.delay(attempt) for attempt in itertools.count(1))

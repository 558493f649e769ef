"""A sliding-window request limiter, as Xano's free plan applies it (pure, clock injected)."""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable

from emulators.xano.settings import RateLimit


class SlidingWindowLimiter:
    """Admits a request when fewer than `limit.requests` were admitted in the last window."""

    def __init__(self, limit: RateLimit, clock: Callable[[], float]) -> None:
        self._limit = limit
        self._clock = clock
        self._admitted: deque[float] = deque()

    def try_admit(self) -> int | None:
        """None when admitted; otherwise the whole seconds to wait (a Retry-After value)."""
        now = self._clock()
        self._forget_before(now - self._limit.window_seconds)
        if len(self._admitted) < self._limit.requests:
            self._admitted.append(now)
            return None
        wait = self._admitted[0] + self._limit.window_seconds - now
        return max(1, math.ceil(wait))

    def reset(self) -> None:
        self._admitted.clear()

    def _forget_before(self, horizon: float) -> None:
        while self._admitted and self._admitted[0] <= horizon:
            self._admitted.popleft()


class ArrivalMeter:
    """Tracks the most requests that ever arrived within one window, admitted or not."""

    def __init__(self, window_seconds: float, clock: Callable[[], float]) -> None:
        self._window = window_seconds
        self._clock = clock
        self._arrivals: deque[float] = deque()
        self.peak = 0

    def record(self) -> None:
        now = self._clock()
        while self._arrivals and self._arrivals[0] <= now - self._window:
            self._arrivals.popleft()
        self._arrivals.append(now)
        self.peak = max(self.peak, len(self._arrivals))

    def reset(self) -> None:
        self._arrivals.clear()
        self.peak = 0

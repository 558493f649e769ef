"""The emulator's settings: base path, persistence file, token and optional rate limit."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_BASE_PATH = "/api:jobstream"


@dataclass(frozen=True, slots=True)
class RateLimit:
    """At most `requests` accepted requests in any sliding window of `window_seconds`."""

    requests: int = 10
    window_seconds: float = 20.0


# Xano's free plan: 10 requests per 20 seconds, then 429.
FREE_PLAN = RateLimit(requests=10, window_seconds=20.0)


@dataclass(frozen=True, slots=True)
class EmulatorSettings:
    base_path: str = DEFAULT_BASE_PATH
    data_file: Path | None = None
    token: str | None = field(default=None, repr=False)
    rate_limit: RateLimit | None = None
    # Injectable so tests can move time instead of sleeping through a 20 s window.
    clock: Callable[[], float] = field(default=time.monotonic, repr=False)

"""Explicit context caching of the stable system prompts (google-genai's `caches` API).

A system prompt over the model's caching minimum is stored once as a cached content and
each request names it instead of sending it again: its tokens are billed at the cached
rate on every request, not only when Gemini's implicit caching happens to hit. Below the
minimum, with caching off, or when a cache cannot be created, requests carry the prompt
inline as before, and implicit caching still applies: a request never fails for caching.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass

from google import genai
from google.genai import errors as genai_errors
from google.genai import types

log = logging.getLogger(__name__)

CHARS_PER_TOKEN = 4
# The largest minimum Google documents for a cached content on current models (2.5: 1,024
# to 2,048; 3.x: 4,096). Below it a create is refused, so it is not tried.
MIN_CACHE_TOKENS = 4096
# after a failed create, the prompt goes inline for this long before creating is tried again
RETRY_CREATE_AFTER_S = 600.0

Clock = Callable[[], float]


@dataclass(frozen=True, slots=True)
class _Cache:
    name: str
    renew_at: float  # monotonic: a fresh cache is created from then on, before this expires


class ContextCaches:
    """One explicit cache per (model, system prompt), created on first use and renewed
    before it expires; deleted on `aclose`."""

    def __init__(
        self,
        client: genai.Client,
        model: str,
        *,
        ttl_s: int = 3600,
        enabled: bool = True,
        min_tokens: int = MIN_CACHE_TOKENS,
        timeout_s: float = 30.0,
        clock: Clock = time.monotonic,
    ) -> None:
        self._client = client
        self._model = model
        self._ttl_s = ttl_s
        self._enabled = enabled
        self._min_tokens = min_tokens
        self._timeout_s = timeout_s
        self._clock = clock
        self._caches: dict[str, _Cache] = {}
        self._failed_until: dict[str, float] = {}
        self._locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._created: set[str] = set()

    def worth_caching(self, system: str) -> bool:
        return self._enabled and len(system) / CHARS_PER_TOKEN >= self._min_tokens

    async def name_for(self, system: str) -> str | None:
        """The cache to name for `system`; None to send it inline (implicit caching)."""
        if not self.worth_caching(system):
            return None
        key = hashlib.sha256(system.encode()).hexdigest()
        if (cached := self._fresh(key)) is not None:
            return cached
        if self._failed_until.get(key, 0.0) > self._clock():
            return None
        async with self._locks[key]:  # concurrent batches wait for one create
            if (cached := self._fresh(key)) is not None:
                return cached
            if self._failed_until.get(key, 0.0) > self._clock():
                return None
            return await self._create(key, system)

    def forget(self, name: str) -> None:
        """The service no longer knows `name` (expired early, deleted): the next request
        creates a new one."""
        for key, cache in list(self._caches.items()):
            if cache.name == name:
                del self._caches[key]
        self._created.discard(name)

    async def aclose(self) -> None:
        """Deletes the caches this process created: their storage is billed by the hour."""
        for name in sorted(self._created):
            try:
                await asyncio.wait_for(self._client.aio.caches.delete(name=name), self._timeout_s)
            except Exception as exc:  # it expires on its own within its TTL anyway
                log.info("context cache %s not deleted: %s", name, exc)
        self._created.clear()
        self._caches.clear()

    def _fresh(self, key: str) -> str | None:
        cache = self._caches.get(key)
        return cache.name if cache is not None and cache.renew_at > self._clock() else None

    async def _create(self, key: str, system: str) -> str | None:
        started = self._clock()
        config = types.CreateCachedContentConfig(
            system_instruction=system, ttl=f"{self._ttl_s}s", display_name=f"jobstream-{key[:12]}"
        )
        try:
            cache = await asyncio.wait_for(
                self._client.aio.caches.create(model=self._model, config=config), self._timeout_s
            )
        except Exception as exc:  # any failure: inline prompts, never a failed request
            # too small by the service's own count stays too small: never asked again
            too_small = "too small" in str(exc).lower()
            self._failed_until[key] = math.inf if too_small else started + RETRY_CREATE_AFTER_S
            log.warning(
                "context cache for a %d-char system prompt not created (%s); sending it "
                "inline (implicit caching) %s",
                len(system),
                _describe(exc),
                "from now on" if too_small else f"for the next {RETRY_CREATE_AFTER_S:.0f}s",
            )
            return None
        if not cache.name:
            self._failed_until[key] = started + RETRY_CREATE_AFTER_S
            return None
        # renew with a tenth of the TTL to spare: a request never names a cache about to go
        self._caches[key] = _Cache(cache.name, started + self._ttl_s * 0.9)
        self._created.add(cache.name)
        tokens = cache.usage_metadata.total_token_count if cache.usage_metadata else None
        log.info("context cache %s created (%s tokens, ttl %ss)", cache.name, tokens, self._ttl_s)
        return cache.name


def cache_is_gone(exc: BaseException) -> bool:
    """Whether a generateContent error says the cache it named no longer exists (Gemini
    answers 403 "CachedContent not found (or permission denied)")."""
    if not isinstance(exc, genai_errors.APIError) or exc.code not in (400, 403, 404):
        return False
    message = (exc.message or "").lower()
    return "cachedcontent" in message or "cached content" in message


def _describe(exc: BaseException) -> str:
    if isinstance(exc, genai_errors.APIError):
        return f"HTTP {exc.code} {exc.status or ''}: {exc.message or ''}"
    if isinstance(exc, TimeoutError):
        return "timed out"
    return f"{type(exc).__name__}: {exc}"

"""Explicit context caches: the `cachedContents` resource google-genai's `caches` API calls,
and what a generateContent request naming one reads from it."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from emulators.gemini.wire import BadRequestError, estimate_tokens

# the largest minimum Google documents for current models (the smallest is 1,024)
DEFAULT_MIN_TOKENS = 4096
DEFAULT_TTL_S = 3600.0

Clock = Callable[[], float]


class CacheNotFoundError(LookupError):
    """Gemini's answer for a cache that expired, was deleted or never existed (403)."""


@dataclass(slots=True)
class CachedContent:
    name: str
    model: str  # "models/…"
    system: dict[str, Any]  # the systemInstruction Content, as sent
    contents: list[Any]
    display_name: str
    tokens: int
    created_at: float
    expires_at: float

    @property
    def system_text(self) -> str:
        parts = self.system.get("parts") or []
        return "".join(str(p.get("text", "")) for p in parts if isinstance(p, dict))

    def to_json(self, updated_at: float | None = None) -> dict[str, Any]:
        return {
            "name": self.name,
            "displayName": self.display_name,
            "model": self.model,
            "createTime": _timestamp(self.created_at),
            "updateTime": _timestamp(updated_at or self.created_at),
            "expireTime": _timestamp(self.expires_at),
            "usageMetadata": {"totalTokenCount": self.tokens},
        }


@dataclass(slots=True)
class CacheStore:
    """The emulator's caches; expired ones are gone, as on the real service."""

    min_tokens: int = DEFAULT_MIN_TOKENS
    clock: Clock = time.time
    caches: dict[str, CachedContent] = field(default_factory=dict)

    def create(self, body: Mapping[str, Any]) -> CachedContent:
        model = body.get("model")
        if not isinstance(model, str) or not model:
            raise BadRequestError("cachedContent.model is required")
        system = body.get("systemInstruction") or {}
        contents = body.get("contents") or []
        if not isinstance(system, dict) or not isinstance(contents, list):
            raise BadRequestError("systemInstruction must be a Content, contents a list")
        texts = [str(p.get("text", "")) for p in system.get("parts") or [] if isinstance(p, dict)]
        for content in contents:
            parts = content.get("parts") if isinstance(content, dict) else None
            texts += [str(p.get("text", "")) for p in parts or [] if isinstance(p, dict)]
        tokens = estimate_tokens("".join(texts))
        if tokens < self.min_tokens:
            raise BadRequestError(
                f"Cached content is too small. total_token_count={tokens}, "
                f"min_total_token_count={self.min_tokens}"
            )
        now = self.clock()
        cache = CachedContent(
            name=f"cachedContents/{uuid.uuid4().hex[:16]}",
            model=model if model.startswith("models/") else f"models/{model}",
            system=system,
            contents=contents,
            display_name=str(body.get("displayName") or ""),
            tokens=tokens,
            created_at=now,
            expires_at=now + _ttl_s(body),
        )
        self.caches[cache.name] = cache
        return cache

    def get(self, name: str) -> CachedContent:
        self._forget_expired()
        cache = self.caches.get(name)
        if cache is None:
            raise CacheNotFoundError("CachedContent not found (or permission denied)")
        return cache

    def update(self, name: str, body: Mapping[str, Any]) -> CachedContent:
        cache = self.get(name)
        cache.expires_at = self.clock() + _ttl_s(body)
        return cache

    def delete(self, name: str) -> None:
        self.get(name)
        del self.caches[name]

    def live(self) -> list[CachedContent]:
        self._forget_expired()
        return list(self.caches.values())

    def _forget_expired(self) -> None:
        now = self.clock()
        for name in [n for n, c in self.caches.items() if c.expires_at <= now]:
            del self.caches[name]


def _ttl_s(body: Mapping[str, Any]) -> float:
    ttl = body.get("ttl")
    if ttl is None:
        return DEFAULT_TTL_S
    text = str(ttl)
    try:
        seconds = float(text.removesuffix("s"))
    except ValueError as exc:
        raise BadRequestError(f"invalid ttl {text!r}: a duration like '3600s'") from exc
    if not text.endswith("s") or seconds <= 0:
        raise BadRequestError(f"invalid ttl {text!r}: a duration like '3600s'")
    return seconds


def _timestamp(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).isoformat().replace("+00:00", "Z")

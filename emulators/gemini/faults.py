"""Injectable faults of the Gemini emulator: which request gets which failure (pure)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class FaultKind(StrEnum):
    RATE_LIMIT = "rate_limit"  # 429 RESOURCE_EXHAUSTED with a RetryInfo delay (None: no hint)
    DAILY_QUOTA = "daily_quota"  # 429 naming a per-day quota, RetryInfo of hours
    UNAVAILABLE = "unavailable"  # 503 UNAVAILABLE
    INTERNAL = "internal"  # 500 INTERNAL
    SLOW = "slow"  # answers correctly, after `delay_s`
    MALFORMED_JSON = "malformed_json"  # 200 whose text is not JSON
    TRUNCATED = "truncated"  # 200, finishReason MAX_TOKENS, text cut in half
    DROP_ITEMS = "drop_items"  # the answer lacks its last `count` item(s)
    UNKNOWN_ID = "unknown_id"  # the targeted item(s) come back under an id nobody sent
    BAD_IDS = "bad_ids"  # the targeted item(s) name taxonomy ids that do not exist
    TOKEN_LIMIT = "token_limit"  # noqa: S105  (400 INVALID_ARGUMENT above `max_items` jobs)
    SCHEMA_REJECTED = "schema_rejected"  # 400 INVALID_ARGUMENT: the response schema is refused
    NON_JSON_ERROR = "non_json_error"  # a 5xx whose body is a proxy's HTML page, not JSON
    BLOCKED_PROMPT = "blocked_prompt"  # 200, promptFeedback.blockReason, no candidates
    SAFETY = "safety"  # 200, a candidate stopped with finishReason SAFETY and no content
    RECITATION = "recitation"  # 200, finishReason RECITATION, half the answer's text
    THOUGHTS = "thoughts"  # a correct answer after a thought-summary part (thought: true)
    CACHE_REFUSED = "cache_refused"  # a cachedContents create answers 429 RESOURCE_EXHAUSTED
    # the answer a model gives that obeyed text in a job: the `set` values replace the items'
    # own for jobs whose prompt line contains `text_contains` (every item with `all_items`).
    # Several overrides can hit one request, alongside one other fault.
    OVERRIDE = "override"


# faults that answer with an HTTP error; the rest answer 200
REQUEST_FAULTS = frozenset(
    {
        FaultKind.RATE_LIMIT,
        FaultKind.DAILY_QUOTA,
        FaultKind.UNAVAILABLE,
        FaultKind.INTERNAL,
        FaultKind.TOKEN_LIMIT,
        FaultKind.SCHEMA_REJECTED,
        FaultKind.NON_JSON_ERROR,
    }
)
# faults whose 200 answer carries no usable text: the model refused the prompt or its answer
REFUSAL_FAULTS = frozenset({FaultKind.BLOCKED_PROMPT, FaultKind.SAFETY, FaultKind.RECITATION})


# what Gemini asks a client that spent its requests-per-day quota to wait: hours, where a
# per-minute quota asks for seconds
DAILY_QUOTA_DELAY_S = 6 * 3600.0


# faults a generateContent request never gets from `take`
_NOT_PER_REQUEST = frozenset({FaultKind.OVERRIDE, FaultKind.CACHE_REFUSED})


class FaultSpecError(ValueError):
    """An admin request described a fault the emulator cannot apply."""


@dataclass(slots=True)
class Fault:
    """One fault rule; `times` None means every matching request, forever."""

    kind: FaultKind
    times: int | None = 1
    stage: str | None = None  # enriched_jobs, selections or searchable_jobs; None: any
    title_contains: str | None = None  # only requests with such a job; item faults hit those
    min_items: int = 1
    max_items: int = 1  # the token limit, for TOKEN_LIMIT
    count: int = 1  # items dropped, for DROP_ITEMS
    delay_s: float = 0.0  # for SLOW
    retry_delay_s: float | None = 1.0  # the RetryInfo hint: RATE_LIMIT (None: none), DAILY_QUOTA
    block_reason: str = "SAFETY"  # promptFeedback.blockReason, for BLOCKED_PROMPT
    status: int = 502  # for NON_JSON_ERROR
    content_type: str = "text/html"  # for NON_JSON_ERROR: what the body claims to be
    text_contains: str | None = None  # OVERRIDE: jobs whose prompt line contains it
    set: dict[str, Any] = field(default_factory=dict)  # OVERRIDE: the values answered
    all_items: bool = False  # OVERRIDE: every item of a request with such a job
    applied: int = field(default=0)

    @classmethod
    def from_json(cls, spec: Mapping[str, Any]) -> Fault:
        try:
            kind = FaultKind(str(spec["kind"]))
        except (KeyError, ValueError) as exc:
            known = ", ".join(k.value for k in FaultKind)
            raise FaultSpecError(f"fault 'kind' must be one of {known}") from exc
        allowed = {f for f in cls.__dataclass_fields__ if f not in {"kind", "applied"}}
        unknown = set(spec) - allowed - {"kind"}
        if unknown:
            raise FaultSpecError(f"unknown fault fields: {sorted(unknown)}")
        if kind is FaultKind.OVERRIDE and not isinstance(spec.get("set"), dict):
            raise FaultSpecError("an override needs 'set': an object of item fields")
        if kind is FaultKind.DAILY_QUOTA and spec.get("retry_delay_s", 0) is None:
            raise FaultSpecError("a daily quota answers with a retry delay")
        try:
            fault = cls(kind=kind, **{k: v for k, v in spec.items() if k != "kind"})
        except TypeError as exc:
            raise FaultSpecError(str(exc)) from exc
        if kind is FaultKind.DAILY_QUOTA and "retry_delay_s" not in spec:
            fault.retry_delay_s = DAILY_QUOTA_DELAY_S
        return fault

    def to_json(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}

    def matches(self, stage: str, titles: Sequence[str]) -> bool:
        if self.times is not None and self.applied >= self.times:
            return False
        if self.stage is not None and self.stage != stage:
            return False
        if len(titles) < self.min_items:
            return False
        if self.kind is FaultKind.TOKEN_LIMIT and len(titles) <= self.max_items:
            return False
        return self.title_contains is None or any(self.targets(title) for title in titles)

    def targets(self, title: str) -> bool:
        """Whether an item-level fault hits the job with this title."""
        return self.title_contains is None or self.title_contains.lower() in title.lower()

    def overrides(self, text: str) -> bool:
        """Whether an override hits the job whose prompt line is `text`."""
        return self.text_contains is None or self.text_contains.lower() in text.lower()


@dataclass(slots=True)
class FaultBook:
    """The armed faults; the first matching one fires for a request."""

    faults: list[Fault] = field(default_factory=list)

    def arm(self, specs: Sequence[Mapping[str, Any]]) -> list[Fault]:
        armed = [Fault.from_json(spec) for spec in specs]
        self.faults.extend(armed)
        return armed

    def clear(self) -> None:
        self.faults.clear()

    def take_cache_refusal(self) -> Fault | None:
        """The fault a cachedContents create gets, counted as applied; None to create it."""
        for fault in self.faults:
            if fault.kind is FaultKind.CACHE_REFUSED and (
                fault.times is None or fault.applied < fault.times
            ):
                fault.applied += 1
                return fault
        return None

    def take(self, stage: str, titles: Sequence[str]) -> Fault | None:
        """The fault this request gets, counted as applied; None for a clean answer."""
        for fault in self.faults:
            if fault.kind in _NOT_PER_REQUEST:
                continue
            if fault.matches(stage, titles):
                fault.applied += 1
                return fault
        return None

    def take_overrides(self, stage: str, texts: Sequence[str]) -> list[Fault]:
        """Every override this request gets (each counted as applied once)."""
        hits = [
            fault
            for fault in self.faults
            if fault.kind is FaultKind.OVERRIDE
            and fault.matches(stage, texts)
            and any(fault.overrides(text) for text in texts)
        ]
        for fault in hits:
            fault.applied += 1
        return hits

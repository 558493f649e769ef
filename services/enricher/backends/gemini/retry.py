"""What to do after a failed Gemini call: retry after a backoff, split the batch, or give up."""

from __future__ import annotations

import datetime as dt
import html
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import aiohttp
from google.genai import errors as genai_errors

from services.enricher.errors import EnricherError
from services.shared.failures import DependencyUnavailableError

_RETRYABLE_STATUS = frozenset({408, 429, 500, 502, 503, 504})
# "The input token count (N) exceeds the maximum number of tokens allowed (M)."
_TOKEN_LIMIT_WORDS = re.compile(r"token count|number of tokens", re.IGNORECASE)
_SCHEMA_WORDS = re.compile(r"schema", re.IGNORECASE)
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)s\s*$")
_TAGS = re.compile(r"<(script|style)\b.*?</\1>|<[^>]*>", re.IGNORECASE | re.DOTALL)
_REASON_CHARS = 300
# A per-minute quota never asks for more than its minute: a longer wait is a daily quota (or
# worse), to be waited out without calls rather than retried every minute.
PER_MINUTE_WINDOW_S = 60.0
# Gemini's requests-per-day quotas reset at midnight Pacific time.
_QUOTA_DAY_ZONE = "America/Los_Angeles"

Clock = Callable[[], float]


class MalformedResponseError(EnricherError):
    """The model answered, but not with JSON in the requested shape."""


class OutputTruncatedError(EnricherError):
    """The model stopped at its output-token limit: a smaller batch will fit."""


class UnreadableResponseError(EnricherError):
    """The HTTP answer itself was not JSON (a proxy's page, a cut body): the network's fault."""


class ContentRefusedError(EnricherError):
    """Gemini refused the prompt (promptFeedback.blockReason) or stopped its answer for
    safety, recitation or the like: some job in the batch is the cause."""


class GeminiUnavailableError(DependencyUnavailableError, EnricherError):
    """Gemini did not answer usefully within the attempts: the enricher's stage pauses."""


class QuotaExhaustedError(GeminiUnavailableError):
    """The quota is spent for longer than retries can wait: no calls until it is back."""


class FailureKind(StrEnum):
    RETRY = "retry"  # transient: try the same request again after a backoff
    SPLIT = "split"  # too big for the model: halve the batch
    ISOLATE = "isolate"  # refused for its content: halve until the job is alone, then fail it
    PAUSE = "pause"  # quota spent for hours: stop calling until `retry_after_s` has passed
    GIVE_UP = "give_up"  # retrying cannot help


@dataclass(frozen=True, slots=True)
class Failure:
    kind: FailureKind
    reason: str
    retry_after_s: float | None = None
    # Gemini itself was unreachable, slow or overloaded (not this request's fault): once the
    # attempts are spent the enricher pauses rather than fail the jobs.
    unavailable: bool = False


def classify(exc: BaseException) -> Failure:
    """Maps an exception from one call to the action the backend should take."""
    if isinstance(exc, TimeoutError):
        reason = f"timed out: {exc}" if str(exc) else "timed out"
        return Failure(FailureKind.RETRY, reason, unavailable=True)
    if isinstance(exc, MalformedResponseError):
        return Failure(FailureKind.RETRY, f"malformed response: {exc}")
    if isinstance(exc, UnreadableResponseError):
        return Failure(FailureKind.RETRY, f"unreadable response: {exc}", unavailable=True)
    if isinstance(exc, ContentRefusedError):
        return Failure(FailureKind.ISOLATE, str(exc))
    if isinstance(exc, OutputTruncatedError):
        return Failure(FailureKind.SPLIT, f"output truncated: {exc}")
    if isinstance(exc, genai_errors.APIError):
        return _classify_api_error(exc)
    if isinstance(exc, aiohttp.ClientError | ConnectionError):
        reason = f"connection error: {type(exc).__name__}: {exc}"
        return Failure(FailureKind.RETRY, reason, unavailable=True)
    return Failure(FailureKind.GIVE_UP, f"unexpected error: {type(exc).__name__}: {exc}")


def _classify_api_error(exc: genai_errors.APIError) -> Failure:
    message = _readable(exc.message or "")
    reason = f"HTTP {exc.code} {exc.status or ''}: {message}".strip()
    if exc.code == 429 and (pause_s := quota_pause_s(exc)) is not None:
        return Failure(FailureKind.PAUSE, f"quota exhausted: {reason}", pause_s, unavailable=True)
    if exc.code in _RETRYABLE_STATUS:
        return Failure(FailureKind.RETRY, reason, retry_hint_s(exc), unavailable=True)
    if exc.code == 400 and _TOKEN_LIMIT_WORDS.search(message):
        return Failure(FailureKind.SPLIT, reason)
    if exc.code == 400 and _SCHEMA_WORDS.search(message):
        # the request's shape, not a job, is at fault: every job fails now, nothing retries
        return Failure(FailureKind.GIVE_UP, f"Gemini rejected the response schema: {reason}")
    return Failure(FailureKind.GIVE_UP, reason)


def _readable(message: str) -> str:
    """An error message fit for a job's reason: an HTML page's text, on one line, cut short."""
    text = " ".join(html.unescape(_TAGS.sub(" ", message)).split())
    return text if len(text) <= _REASON_CHARS else f"{text[: _REASON_CHARS - 1]}…"


def quota_pause_s(exc: genai_errors.APIError) -> float | None:
    """How long to stop calling after a 429 that no per-minute retry can outlast: the hint
    when it is longer than a minute, else until the day's quota resets when the 429 names a
    per-day quota; None for an ordinary rate limit."""
    hint = retry_hint_s(exc)
    if hint is not None and hint > PER_MINUTE_WINDOW_S:
        return hint
    if _names_daily_quota(exc.details):
        return max(hint or 0.0, seconds_until_quota_day_ends())
    return None


def _names_daily_quota(details: Any) -> bool:
    for entry in _detail_entries(details):
        if str(entry.get("@type", "")).endswith("QuotaFailure"):
            violations = entry.get("violations")
            for violation in violations if isinstance(violations, list) else []:
                quota = str(violation.get("quotaId", "")) if isinstance(violation, dict) else ""
                if "PerDay" in quota:
                    return True
    return False


def seconds_until_quota_day_ends(now: dt.datetime | None = None) -> float:
    """Seconds to the next midnight Pacific time, when daily quotas reset."""
    try:
        zone: dt.tzinfo = ZoneInfo(_QUOTA_DAY_ZONE)
    except ZoneInfoNotFoundError:  # a slim image without tzdata: standard time is close
        zone = dt.timezone(dt.timedelta(hours=-8))
    local = (now or dt.datetime.now(dt.UTC)).astimezone(zone)
    midnight = dt.datetime.combine(local.date() + dt.timedelta(days=1), dt.time(), zone)
    return max((midnight - local).total_seconds(), 1.0)


class QuotaHold:
    """No calls until the quota is back: set by a 429 that asks for a long wait, shared by
    every stage and batch of a backend, so one such answer stops them all."""

    def __init__(self, clock: Clock = time.monotonic) -> None:
        self._clock = clock
        self._until = 0.0
        self._reason = ""

    def hold(self, seconds: float, reason: str) -> None:
        self._until = max(self._until, self._clock() + seconds)
        self._reason = reason

    def check(self) -> None:
        """Raises `QuotaExhaustedError` while the hold lasts; returns once it is over."""
        left = self._until - self._clock()
        if left > 0:
            raise QuotaExhaustedError(f"{self._reason}; no Gemini calls for {left:.0f}s more")


def retry_hint_s(exc: genai_errors.APIError) -> float | None:
    """The server's advice on when to retry: a google.rpc.RetryInfo detail or Retry-After."""
    from_body = _retry_info_delay(exc.details)
    if from_body is not None:
        return from_body
    headers = getattr(exc.response, "headers", None)
    if isinstance(headers, Mapping):
        return _parse_seconds(str(headers.get("Retry-After", "")))
    return None


def _retry_info_delay(details: Any) -> float | None:
    for entry in _detail_entries(details):
        if str(entry.get("@type", "")).endswith("RetryInfo"):
            return _parse_duration(str(entry.get("retryDelay", "")))
    return None


def _detail_entries(details: Any) -> list[dict[str, Any]]:
    """The google.rpc detail objects of an error body (`{"error": {"details": [...]}}`)."""
    error = details.get("error", details) if isinstance(details, dict) else {}
    entries = error.get("details", []) if isinstance(error, dict) else []
    return (
        [entry for entry in entries if isinstance(entry, dict)] if isinstance(entries, list) else []
    )


def _parse_duration(text: str) -> float | None:
    match = _DURATION.match(text)
    return float(match.group(1)) if match else None


def _parse_seconds(text: str) -> float | None:
    try:
        return max(float(text), 0.0) if text.strip() else None
    except ValueError:
        return None  # an HTTP date: rare from Google, and the backoff still applies

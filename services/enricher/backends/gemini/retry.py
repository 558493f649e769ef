"""What to do after a failed Gemini call: retry after a backoff, split the batch, or give up."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import aiohttp
from google.genai import errors as genai_errors

from services.enricher.errors import EnricherError
from services.shared.failures import DependencyUnavailableError

_RETRYABLE_STATUS = frozenset({408, 429, 500, 502, 503, 504})
_TOKEN_LIMIT_WORDS = re.compile(r"token", re.IGNORECASE)
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)s\s*$")


class MalformedResponseError(EnricherError):
    """The model answered, but not with JSON in the requested shape."""


class OutputTruncatedError(EnricherError):
    """The model stopped at its output-token limit: a smaller batch will fit."""


class GeminiUnavailableError(DependencyUnavailableError, EnricherError):
    """Gemini did not answer usefully within the attempts: the enricher's stage pauses."""


class FailureKind(StrEnum):
    RETRY = "retry"  # transient: try the same request again after a backoff
    SPLIT = "split"  # too big for the model: halve the batch
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
    if isinstance(exc, OutputTruncatedError):
        return Failure(FailureKind.SPLIT, f"output truncated: {exc}")
    if isinstance(exc, genai_errors.APIError):
        return _classify_api_error(exc)
    if isinstance(exc, aiohttp.ClientError | ConnectionError):
        reason = f"connection error: {type(exc).__name__}: {exc}"
        return Failure(FailureKind.RETRY, reason, unavailable=True)
    return Failure(FailureKind.GIVE_UP, f"unexpected error: {type(exc).__name__}: {exc}")


def _classify_api_error(exc: genai_errors.APIError) -> Failure:
    reason = f"HTTP {exc.code} {exc.status or ''}: {exc.message or ''}".strip()
    if exc.code in _RETRYABLE_STATUS:
        return Failure(FailureKind.RETRY, reason, retry_hint_s(exc), unavailable=True)
    if exc.code == 400 and _TOKEN_LIMIT_WORDS.search(exc.message or ""):
        return Failure(FailureKind.SPLIT, reason)
    return Failure(FailureKind.GIVE_UP, reason)


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
    error = details.get("error", details) if isinstance(details, dict) else {}
    entries = error.get("details", []) if isinstance(error, dict) else []
    for entry in entries if isinstance(entries, list) else []:
        if isinstance(entry, dict) and str(entry.get("@type", "")).endswith("RetryInfo"):
            return _parse_duration(str(entry.get("retryDelay", "")))
    return None


def _parse_duration(text: str) -> float | None:
    match = _DURATION.match(text)
    return float(match.group(1)) if match else None


def _parse_seconds(text: str) -> float | None:
    try:
        return max(float(text), 0.0) if text.strip() else None
    except ValueError:
        return None  # an HTTP date: rare from Google, and the backoff still applies

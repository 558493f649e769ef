"""Classifying what the real service does beyond plain errors: quota pauses, refusals,
unreadable bodies and rejected schemas (pure; the wire-level tests are in
tests/integration/test_gemini_faults.py)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from google.genai import errors

from services.enricher.backends.gemini.retry import (
    ContentRefusedError,
    FailureKind,
    QuotaExhaustedError,
    QuotaHold,
    UnreadableResponseError,
    classify,
    quota_pause_s,
    seconds_until_quota_day_ends,
)
from services.shared.failures import is_retriable


def api_error(
    code: int, message: str, details: list[dict[str, Any]] | None = None
) -> errors.APIError:
    body: dict[str, Any] = {"error": {"code": code, "status": "X", "message": message}}
    if details is not None:
        body["error"]["details"] = details
    return errors.ClientError(code, body) if code < 500 else errors.ServerError(code, body)


def retry_info(seconds: str) -> dict[str, Any]:
    return {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": seconds}


def quota_failure(quota_id: str) -> dict[str, Any]:
    return {
        "@type": "type.googleapis.com/google.rpc.QuotaFailure",
        "violations": [{"quotaId": quota_id, "quotaValue": "10"}],
    }


def test_a_long_retry_hint_pauses_a_short_one_retries() -> None:
    assert classify(api_error(429, "quota", [retry_info("3600s")])).kind is FailureKind.PAUSE
    assert classify(api_error(429, "quota", [retry_info("30s")])).kind is FailureKind.RETRY
    assert classify(api_error(429, "quota")).kind is FailureKind.RETRY  # no hint at all


def test_a_per_day_quota_pauses_until_midnight_pacific_even_with_a_short_hint() -> None:
    per_day = api_error(
        429, "quota", [quota_failure("GenerateRequestsPerDayPerProjectPerModel"), retry_info("5s")]
    )
    failure = classify(per_day)
    assert failure.kind is FailureKind.PAUSE and failure.unavailable
    assert failure.retry_after_s is not None and 5 <= failure.retry_after_s <= 25 * 3600
    per_minute = api_error(
        429, "quota", [quota_failure("GenerateRequestsPerMinutePerProjectPerModel")]
    )
    assert quota_pause_s(per_minute) is None


def test_the_quota_day_ends_at_midnight_pacific() -> None:
    # 2026-07-01 06:00 UTC is 23:00 PDT on June 30: one hour to go
    assert seconds_until_quota_day_ends(dt.datetime(2026, 7, 1, 6, 0, tzinfo=dt.UTC)) == 3600
    # 2026-01-15 09:00 UTC is 01:00 PST: 23 hours to go
    assert seconds_until_quota_day_ends(dt.datetime(2026, 1, 15, 9, 0, tzinfo=dt.UTC)) == 23 * 3600


def test_a_hold_refuses_calls_until_it_is_over() -> None:
    now = [0.0]
    hold = QuotaHold(lambda: now[0])
    hold.check()
    hold.hold(100, "quota exhausted")
    hold.hold(10, "a shorter one never shortens it")
    now[0] = 50
    with pytest.raises(QuotaExhaustedError, match="no Gemini calls for 50s more") as raised:
        hold.check()
    assert is_retriable(raised.value)
    now[0] = 100
    hold.check()


def test_refusals_isolate_unreadable_bodies_retry_schemas_give_up() -> None:
    assert classify(ContentRefusedError("prompt blocked")).kind is FailureKind.ISOLATE
    unreadable = classify(UnreadableResponseError("not JSON"))
    assert unreadable.kind is FailureKind.RETRY and unreadable.unavailable
    schema = classify(
        api_error(400, "The specified schema produces a constraint that has too many states")
    )
    assert schema.kind is FailureKind.GIVE_UP
    assert schema.reason.startswith("Gemini rejected the response schema: HTTP 400")
    # "token" alone is no token limit: only the input-size message splits
    assert classify(api_error(400, "invalid token in schema")).kind is FailureKind.GIVE_UP


def test_an_html_error_page_becomes_a_short_readable_reason() -> None:
    page = (
        "<html><style>b{}</style><title>Error 502</title><p><b>502.</b> That&#39;s an error."
        + "x" * 2000
    )
    failure = classify(api_error(502, page))
    assert failure.kind is FailureKind.RETRY
    assert "<" not in failure.reason and "b{}" not in failure.reason
    assert "Error 502 502. That's an error." in failure.reason and len(failure.reason) < 330

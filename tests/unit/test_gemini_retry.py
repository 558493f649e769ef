"""Failure classification and backoff: retry, split or give up, and how long to wait."""

from __future__ import annotations

from typing import Any

import pytest
from google.genai import errors

from services.enricher.backends.gemini.retry import (
    FailureKind,
    GeminiUnavailableError,
    MalformedResponseError,
    OutputTruncatedError,
    classify,
)
from services.enricher.backends.gemini.settings import GeminiSettings
from services.shared.failures import is_retriable
from services.shared.retry import Backoff
from services.shared.settings import SettingsError


def api_error(code: int, status: str, message: str, details: Any = None) -> errors.APIError:
    body: dict[str, Any] = {"error": {"code": code, "status": status, "message": message}}
    if details is not None:
        body["error"]["details"] = details
    return errors.ClientError(code, body) if code < 500 else errors.ServerError(code, body)


def test_429_is_retried_with_the_servers_delay() -> None:
    hint = {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "7.5s"}
    failure = classify(api_error(429, "RESOURCE_EXHAUSTED", "quota", [hint]))
    assert failure.kind is FailureKind.RETRY and failure.retry_after_s == 7.5
    assert "429" in failure.reason


@pytest.mark.parametrize("code", [500, 502, 503, 504])
def test_server_errors_are_retried(code: int) -> None:
    assert classify(api_error(code, "UNAVAILABLE", "busy")).kind is FailureKind.RETRY


def test_token_limit_splits_and_other_client_errors_give_up() -> None:
    too_big = api_error(400, "INVALID_ARGUMENT", "The input token count (2000000) exceeds ...")
    assert classify(too_big).kind is FailureKind.SPLIT
    assert classify(api_error(400, "INVALID_ARGUMENT", "bad schema")).kind is FailureKind.GIVE_UP
    assert classify(api_error(403, "PERMISSION_DENIED", "key")).kind is FailureKind.GIVE_UP


def test_timeouts_and_malformed_answers_are_retried_truncation_splits() -> None:
    assert classify(TimeoutError("no answer within 5s")).reason == "timed out: no answer within 5s"
    assert classify(MalformedResponseError("x")).kind is FailureKind.RETRY
    assert classify(OutputTruncatedError("x")).kind is FailureKind.SPLIT
    assert classify(ValueError("boom")).kind is FailureKind.GIVE_UP


def test_backoff_grows_exponentially_with_jitter_and_a_cap() -> None:
    low = Backoff(1.0, 10.0, rand=lambda: 0.0)
    high = Backoff(1.0, 10.0, rand=lambda: 1.0)
    assert [low.delay(n) for n in (1, 2, 3)] == [0.5, 1.0, 2.0]
    assert [high.delay(n) for n in (1, 2, 3, 6)] == [1.0, 2.0, 4.0, 10.0]
    assert low.delay(1, hint_s=3.0) == 3.0
    assert low.delay(1, hint_s=99.0) == 10.0


def test_settings_read_the_environment_and_mask_the_key() -> None:
    settings = GeminiSettings.from_env(
        {
            "GEMINI_API_KEY": "secret-value",
            "GEMINI_BATCH_SIZE": "25",
            "GEMINI_RPM": "60",
            "GEMINI_THINKING_LEVEL": "minimal",
        }
    )
    assert (settings.batch_size, settings.requests_per_minute) == (25, 60)
    assert settings.thinking_level == "MINIMAL"
    assert settings.model == "gemini-3.5-flash-lite" and settings.base_url is None
    assert "secret-value" not in repr(settings) and "***" in repr(settings)


def test_settings_reject_nonsense() -> None:
    with pytest.raises(SettingsError, match="GEMINI_BATCH_SIZE"):
        GeminiSettings.from_env({"GEMINI_BATCH_SIZE": "ten"})
    with pytest.raises(SettingsError, match="batch_size"):
        GeminiSettings(batch_size=0)
    with pytest.raises(SettingsError, match="thinking_level"):
        GeminiSettings.from_env({"GEMINI_THINKING_LEVEL": "deep"})


def test_gemini_down_or_slow_is_an_outage_a_bad_answer_is_not() -> None:
    assert classify(TimeoutError()).unavailable
    assert classify(ConnectionResetError()).unavailable
    assert classify(api_error(503, "UNAVAILABLE", "overloaded")).unavailable
    assert classify(api_error(429, "RESOURCE_EXHAUSTED", "quota")).unavailable
    assert not classify(MalformedResponseError("not JSON")).unavailable
    assert not classify(api_error(400, "INVALID_ARGUMENT", "bad schema")).unavailable
    assert is_retriable(GeminiUnavailableError("enriched_jobs: timed out (after 3 attempts)"))

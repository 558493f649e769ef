"""The Xano client's pure parts: request budget, Retry-After, envelopes, settings."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from services.shared.settings import Secret
from services.syncer.adapters.xano import (
    MAX_RETRY_AFTER_SECONDS,
    WindowBudget,
    XanoClient,
    XanoListingError,
    XanoSettings,
    _read_envelope,
    _retry_after,
)
from services.syncer.ports import WriteResult


def test_budget_admits_up_to_the_limit_then_waits_for_the_oldest_answer_to_age_out() -> None:
    budget = WindowBudget(max_requests=2, window_seconds=20.0)
    for now in (0.0, 1.0):
        assert budget.delay(now) == 0.0
        budget.start()
        budget.finish(now + 0.5)

    assert budget.delay(2.0) == pytest.approx(18.5)  # first answer at 0.5, plus 20 s
    assert budget.delay(20.5) == 0.0


def test_budget_counts_requests_still_in_flight() -> None:
    budget = WindowBudget(max_requests=2, window_seconds=20.0)
    budget.start()
    budget.start()

    assert math.isinf(budget.delay(100.0))
    budget.finish(100.0)
    assert budget.delay(100.0) == pytest.approx(20.0)


def test_budget_stamps_answers_not_sends_so_latency_cannot_overrun_the_server() -> None:
    budget = WindowBudget(max_requests=1, window_seconds=20.0)
    budget.start()  # sent at 0, answered at 5: the server saw it somewhere in between
    budget.finish(5.0)

    assert budget.delay(6.0) == pytest.approx(19.0)


def test_429_pauses_for_retry_after_and_halves_the_budget_once_per_pause() -> None:
    budget = WindowBudget(max_requests=8, window_seconds=1.0)
    for _ in range(3):
        budget.start()
    for _ in range(3):
        budget.finish(10.0, retry_after=4.0)

    assert budget.limit == 4
    assert budget.delay(12.0) == pytest.approx(2.0)
    assert budget.delay(14.0) == 0.0


def test_budget_grows_back_after_clean_answers_but_never_past_its_maximum() -> None:
    budget = WindowBudget(max_requests=4, window_seconds=1.0)
    budget.start()
    budget.finish(0.0, retry_after=1.0)
    assert budget.limit == 2
    for step in range(40):
        budget.start()
        budget.finish(10.0 + step)

    assert budget.limit == 4


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("7", 7.0),
        (None, 20.0),
        ("soon", 20.0),
        ("-3", 0.0),
        ("999999", MAX_RETRY_AFTER_SECONDS),
    ],
)
def test_retry_after_values(header: str | None, expected: float) -> None:
    assert _retry_after(header, default=20.0) == expected


def test_retry_after_as_an_http_date() -> None:
    header = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)

    assert 25.0 <= _retry_after(header, default=1.0) <= 30.0


def envelope(items: int, total: int, page: int = 1, next_page: int | None = None) -> object:
    rows = [{"job_hash": f"h{i}"} for i in range(items)]
    return {"items": rows, "itemsTotal": total, "curPage": page, "nextPage": next_page}


def test_envelope_is_read_into_items_total_and_next_page() -> None:
    items, total, next_page = _read_envelope(envelope(2, 5, 1, 2), 1, None)

    assert (len(items), total, next_page) == (2, 5, 2)


@pytest.mark.parametrize(
    ("body", "expected_total"),
    [
        (envelope(2, 6, 2, 3), 5),  # the total moved between pages
        (envelope(2, 5, 3, None), None),  # answered another page than asked
        (envelope(2, 5, 2, 5), None),  # skips pages
        ({"records": []}, None),  # not an envelope
        ({"items": [1, 2], "itemsTotal": 2, "curPage": 2}, None),  # items are not objects
    ],
)
def test_inconsistent_envelopes_are_listing_errors(
    body: object, expected_total: int | None
) -> None:
    with pytest.raises(XanoListingError):
        _read_envelope(body, 2, expected_total)


def test_write_results_add_up() -> None:
    total = WriteResult(2, 1, ("a",)) + WriteResult(3, 0, ())

    assert total == WriteResult(confirmed=5, failed=1, errors=("a",))


def test_settings_never_show_the_token() -> None:
    settings = XanoSettings(base_url="http://127.0.0.1:1", token=Secret("s3cret"))

    assert "s3cret" not in repr(settings)


def test_settings_from_env_follow_the_original_variable_names() -> None:
    env = {
        "XANO_API_URL": "http://127.0.0.1:9/api:x",
        "XANO_API_KEY": " k ",
        "XANO_BULK_BATCH_SIZE": "100",
        "MAX_CONCURRENT_XANO_CALLS": "3",
        "XANO_PATH_DELETE": "/custom/remove",
    }

    settings = XanoSettings.from_env(env)

    assert (settings.base_url, settings.token.value) == ("http://127.0.0.1:9/api:x", "k")
    assert (settings.batch_size, settings.max_concurrency) == (100, 3)
    assert settings.paths.delete == "/custom/remove"
    assert settings.paths.add == "/job_posting/supabase_bulk"


def test_backoff_grows_exponentially_with_bounded_jitter() -> None:
    settings = XanoSettings(base_url="", backoff_base_seconds=1.0, backoff_max_seconds=5.0)
    low = XanoClient(settings, jitter=lambda: 0.0)
    high = XanoClient(settings, jitter=lambda: 1.0)

    assert [low._backoff.delay(n) for n in (1, 2, 3, 4)] == [0.5, 1.0, 2.0, 2.5]
    assert [high._backoff.delay(n) for n in (1, 2, 3, 4)] == [1.0, 2.0, 4.0, 5.0]

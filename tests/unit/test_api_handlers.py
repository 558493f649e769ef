"""The API's pure logic: bearer auth, validation with clear messages, paging, progress."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from schemas.records import RunStatus
from schemas.status import ArchiveState, RunState, SyncStatus
from services.api.config import ApiSettings
from services.api.errors import BadRequestError, UnauthorizedError
from services.api.handlers import (
    RunAction,
    check_job_hash,
    check_token,
    parse_id,
    parse_paging,
    validate_feed,
    validate_review,
    validate_run_action,
)
from services.api.openapi import docs_page
from services.api.views import progress
from services.shared.settings import Secret
from tests.reports import a_report, a_run

TOKEN = Secret("s3cret")


def test_the_right_bearer_token_passes() -> None:
    check_token("Bearer s3cret", TOKEN)
    check_token("bearer s3cret", TOKEN)


@pytest.mark.parametrize("header", [None, "", "s3cret", "Basic s3cret", "Bearer ", "Bearer nope"])
def test_anything_else_is_unauthorized(header: str | None) -> None:
    with pytest.raises(UnauthorizedError):
        check_token(header, TOKEN)


def test_an_api_without_a_token_refuses_every_mutation() -> None:
    with pytest.raises(UnauthorizedError):
        check_token("Bearer ", Secret(""))
    with pytest.raises(UnauthorizedError):
        check_token("Bearer anything", Secret(""))


@pytest.mark.parametrize("raw", ["0", "-1", "abc", "1.5", "²", "99999999999"])
def test_ids_must_be_positive_integers(raw: str) -> None:
    with pytest.raises(BadRequestError, match="feed_id must be a positive integer"):
        parse_id(raw, "feed_id")


def test_paging_defaults_and_bounds() -> None:
    assert parse_paging({}) == (50, 0)
    assert parse_paging({"limit": "10", "offset": "20"}) == (10, 20)
    with pytest.raises(BadRequestError, match="limit"):
        parse_paging({"limit": "501"})


def test_a_valid_feed_is_normalised() -> None:
    fields = validate_feed(
        {"name": " Acme ", "source_url": "https://x.test/f.xml", "check_frequency_minutes": 5},
        partial=False,
    )
    assert fields == {
        "name": "Acme",
        "source_url": "https://x.test/f.xml",
        "check_frequency_minutes": 5,
    }


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"name": "a"}, "missing field(s): source_url"),
        ({"name": "", "source_url": "/f"}, "name must be a non-empty string"),
        ({"name": "a", "source_url": "/f", "partner_id": True}, "partner_id"),
        ({"name": "a", "source_url": "/f", "bypass_filters": "yes"}, "bypass_filters"),
        ({"name": "a\x00", "source_url": "/f"}, "without NUL"),
        ({"name": "a", "source_url": "http://[::1/f.xml"}, "not a valid URL: Invalid IPv6 URL"),
        ("feed", "JSON object"),
    ],
)
def test_invalid_feeds_say_what_is_wrong(body: Any, message: str) -> None:
    with pytest.raises(BadRequestError) as caught:
        validate_feed(body, partial=False)
    assert message in caught.value.message


def test_an_update_may_give_any_one_field() -> None:
    assert validate_feed({"is_active": True}, partial=True) == {"is_active": True}


def test_a_rejection_needs_a_reason_an_approval_does_not() -> None:
    assert validate_review({"reviewer": "ann"}, needs_reason=False).reason is None
    with pytest.raises(BadRequestError, match="reason"):
        validate_review({"reviewer": "ann"}, needs_reason=True)
    with pytest.raises(BadRequestError, match="reviewer"):
        validate_review({}, needs_reason=False)


def test_job_hashes_are_printable_ascii() -> None:
    assert check_job_hash("abc+/=") == "abc+/="
    with pytest.raises(BadRequestError):
        check_job_hash("é")


def test_progress_while_running_and_when_done() -> None:
    live = progress(a_run(emitted=None), {}, None)
    assert live["finished"] is False and live["stages"]["ingest"]["done"] is False
    counting = progress(a_run(emitted=4), {"approved": 3}, a_report(run_status=RunStatus.RUNNING))
    assert counting["stages"]["route"] | {"by_outcome": None} == {
        "done": False, "outcomes": 3, "total": 4, "by_outcome": None
    }  # fmt: skip
    done = progress(
        a_run(emitted=1, status=RunState.COMPLETED),
        {"approved": 1},
        a_report(run_status=RunStatus.PARTIAL, xano_status=SyncStatus.SYNCED),
    )
    assert done["finished"] and done["stages"]["sync"]["done"]


def test_a_running_run_says_what_it_waits_for() -> None:
    since = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    reading = progress(a_run(emitted=None, last_progress_at=since), {}, None)
    assert reading["waiting_for"] == (
        "the ingestor to finish reading the feed (no IngestFinished yet) (last progress "
        "2026-01-01T12:00:00+00:00); `jobstream runs fail RUN` closes it as a failure"
    )
    routing = progress(a_run(emitted=10), {"approved": 7}, None)
    waits = routing["waiting_for"]
    assert waits is not None and waits.startswith("outcomes of 3 of 10 records;")
    done = progress(
        a_run(status=RunState.COMPLETED, emitted=1),
        {"approved": 1},
        a_report(run_status=RunStatus.SUCCESS),
    )
    assert done["waiting_for"] is None


def test_a_held_archive_says_how_to_answer_it() -> None:
    reason = "archive held: 6000 jobs, confirm or discard (...)"
    report = a_report(
        run_status=RunStatus.PARTIAL,
        jobs_archive_held=6000,
        jobs_archived=0,
        archive_skipped_reason=reason,
    )
    run = a_run(status=RunState.COMPLETED, emitted=4000, archive_state=ArchiveState.HELD)
    archive = progress(run, {"approved": 4000}, report)["archive"]
    assert archive["message"] == "archive held: 6000 jobs, confirm or discard"
    assert (archive["state"], archive["held"], archive["archived"]) == (ArchiveState.HELD, 6000, 0)
    answered = progress(replace(run, archive_state=ArchiveState.CONFIRMED), {}, report)["archive"]
    assert "message" not in answered


def test_run_actions_name_who_and_why() -> None:
    assert validate_run_action(None, needs_reason=True) == RunAction("operator", "no reason given")
    assert validate_run_action({"by": "ana"}, needs_reason=False) == RunAction("ana", None)
    given = validate_run_action({"by": "ana", "reason": "stuck"}, needs_reason=True)
    assert given == RunAction("ana", "stuck")
    bodies: list[Any] = [[], {"who": "x"}, {"by": ""}, {"by": "x" * 501}]
    for bad in bodies:
        with pytest.raises(BadRequestError):
            validate_run_action(bad, needs_reason=False)


def test_the_docs_page_is_swagger_ui_from_the_api_itself() -> None:
    page = docs_page()
    assert "/docs/static/swagger-ui-bundle.js" in page and "/static/docs.js" in page
    assert "http" not in page  # no CDN: the console works on a machine without internet


def test_settings_mask_the_token() -> None:
    settings = ApiSettings.from_env({"API_TOKEN": "abc", "API_PORT": "1234"})
    assert settings.port == 1234 and settings.token.value == "abc"
    assert "abc" not in repr(settings)

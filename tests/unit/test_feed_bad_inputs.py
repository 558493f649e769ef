"""Bad inputs not covered by test_feed_reading, each with its documented outcome, and the
dialect fixtures beyond the first seven (ZipRecruiter wrapper, Jobg8 actions, Appcast JSON).

Documented outcomes:

* an unclosed tag mid-feed: that record is malformed with the parser's reason, the records
  after it are read (libxml2 alone would swallow them);
* a 5 MB description: the record is kept with the field cut to `max_field_chars` and a
  warning; a 20 MB one is over the per-record cap (`max_record_bytes`): that record is
  malformed; either way the records after it are read;
* an empty body (no bytes, or only whitespace): a failed fetch ("empty"), never a feed with
  zero jobs, so nothing gets archived; a well-formed feed without records: a failed fetch
  ("no_records") whose message names the elements seen and how to write a mapping;
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from schemas.records import EmploymentType, Location, SalaryPeriod
from services.ingestor.feeds import (
    FeedItem,
    FeedReader,
    FetchError,
    MalformedItem,
    ParsedJob,
)
from tests.feed_sources import local_settings

DATA = Path(__file__).parent.parent / "data" / "feeds"
NOW = datetime(2025, 9, 10, tzinfo=UTC)


async def read_all(
    source: Path, mapping: dict[str, Any] | None = None
) -> tuple[list[FeedItem], FeedReader]:
    reader = FeedReader(str(source), mapping=mapping, settings=local_settings(), now=NOW)
    return [item async for item in reader], reader


def titles(items: list[FeedItem]) -> list[str]:
    return [item.job.title for item in items if isinstance(item, ParsedJob)]


async def test_an_unclosed_tag_mid_feed_loses_only_its_record() -> None:
    items, reader = await read_all(DATA / "unclosed-tag.xml")
    assert titles(items) == ["Baker", "Cashier", "Driver"]
    (bad,) = [item for item in items if isinstance(item, MalformedItem)]
    assert (bad.position, bad.line) == (2, 4)
    assert bad.reason == (
        "line 4, column 91: Opening and ending tag mismatch: description line 4 and job"
    )
    assert bad.salvaged["title"] == "Porter"  # what inspect shows of the lost record
    stats = reader.stats
    assert (stats.parsed, stats.malformed, stats.fetch_status) == (3, 1, "ok")


def huge_feed(tmp_path: Path, cdata: bool, repeats: int) -> Path:
    html = "<p>" + "Lorem ipsum dolor sit amet. " * repeats + "</p>"
    body = f"<![CDATA[{html}]]>" if cdata else html.replace("<", "&lt;")
    record = "<job><title>{}</title><description>{}</description></job>"
    path = tmp_path / "huge.xml"
    path.write_text(
        "<source>" + record.format("Before", "b") + record.format("Huge", body)
        + record.format("After", "a") + "</source>"
    )  # fmt: skip
    return path


@pytest.mark.parametrize("cdata", [True, False], ids=["cdata", "escaped"])
async def test_a_5_mb_description_is_cut_and_the_feed_goes_on(tmp_path: Path, cdata: bool) -> None:
    items, reader = await read_all(huge_feed(tmp_path, cdata, 180_000))  # 5 MB
    assert titles(items) == ["Before", "Huge", "After"]
    huge = next(i.job for i in items if isinstance(i, ParsedJob) and i.job.title == "Huge")
    assert len(huge.description_html) == local_settings().max_field_chars
    assert reader.stats.fields_truncated == 1 and reader.stats.malformed == 0


@pytest.mark.parametrize("cdata", [True, False], ids=["cdata", "escaped"])
async def test_a_record_over_the_cap_is_malformed_and_the_feed_goes_on(
    tmp_path: Path, cdata: bool
) -> None:
    items, reader = await read_all(huge_feed(tmp_path, cdata, 750_000))  # 21 MB
    assert titles(items) == ["Before", "After"]
    (huge,) = [item for item in items if isinstance(item, MalformedItem)]
    cap = local_settings().max_record_bytes
    assert huge.position == 2 and huge.reason == f"record larger than {cap} characters skipped"
    assert (reader.stats.malformed, reader.stats.fetch_status) == (1, "ok")


@pytest.mark.parametrize(
    "content", [b"", b"\n  \r\n\t ", b"\xef\xbb\xbf"], ids=["zero", "blank", "bom-only"]
)
async def test_an_empty_body_is_a_failed_fetch_not_an_empty_feed(
    tmp_path: Path, content: bytes
) -> None:
    path = tmp_path / "empty.xml"
    path.write_bytes(content)
    with pytest.raises(FetchError) as raised:
        await read_all(path)
    assert raised.value.kind == "empty"


async def test_a_feed_without_records_is_a_failed_fetch_that_says_why(tmp_path: Path) -> None:
    path = tmp_path / "none.xml"
    path.write_text('<?xml version="1.0"?><source><publisher>Quiet Board</publisher></source>')
    reader = FeedReader(str(path), mapping=None, settings=local_settings(), now=NOW)
    with pytest.raises(FetchError) as raised:
        _ = [item async for item in reader]
    assert raised.value.kind == "no_records"
    assert "<source>, <publisher>" in raised.value.message
    assert '"record":' in raised.value.message  # how to name the record element
    assert (reader.stats.parsed, reader.stats.fetch_status) == (0, "failed")


async def test_ziprecruiter_wrapper_and_rfc822_zone_names() -> None:
    items, reader = await read_all(DATA / "ziprecruiter.xml")
    (job,) = [i.job for i in items if isinstance(i, ParsedJob)]
    assert reader.stats.dialect == "indeed"
    assert job.external_job_id == "ZR-1001" and job.company_name == "Northwind Logistics"
    assert job.posted_at == datetime(2025, 9, 5, 13, 30, tzinfo=UTC)  # 09:30 EDT
    assert job.employment_type is EmploymentType.FULL_TIME
    columbus = Location(city="Columbus", state="OH", country="US", postal_code="43004")
    assert job.locations == (columbus,)
    assert job.salary is not None and job.salary.period is SalaryPeriod.HOURLY
    assert (job.salary.min, job.salary.max) == (19.5, 23.0)


async def test_jobg8_delete_action_closes_the_job_with_a_mapping_for_position() -> None:
    mapping = {"fields": {"title": "position", "external_job_id": "senderreference"}}
    items, reader = await read_all(DATA / "jobg8-incremental.xml", mapping)
    added, deleted = (i.job for i in items if isinstance(i, ParsedJob))
    assert reader.stats.dialect == "jobs" and reader.stats.closed == 1
    assert (added.title, added.external_job_id) == ("Site Supervisor", "J8-77")
    assert added.company_name == "Kestrel Construction" and added.closed_reason is None
    assert added.description_text == "Lead a crew of twelve on residential builds."
    assert added.locations[0].country == "GB"
    assert deleted.closed_reason == "action: delete"


async def test_appcast_json_with_a_nested_location_object_and_bids() -> None:
    items, reader = await read_all(DATA / "appcast.json")
    technician, driver = (i.job for i in items if isinstance(i, ParsedJob))
    assert reader.stats.dialect == "json"
    assert technician.company_name == "Cedar Pharmacy" and technician.external_job_id == "AC-1"
    austin = Location(city="Austin", state="TX", country="US", postal_code="73301")
    assert technician.locations == (austin,)
    assert (technician.cpc, technician.cpa) == (0.45, 9.0)
    assert technician.posted_at == datetime(2025, 9, 3, 13, tzinfo=UTC)  # -05:00 kept as UTC
    assert driver.locations[0].city == "Round Rock"

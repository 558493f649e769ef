"""Feed reading end to end on local files: dialects, the sample feed, faults and hostile XML."""

from __future__ import annotations

import gzip
import io
import json
import zipfile
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from schemas.records import EmploymentType, JobPosting, Location, SalaryPeriod
from services.ingestor.feeds import (
    FeedItem,
    FeedReader,
    FetchError,
    MalformedItem,
    ParsedJob,
    inspect_feed_async,
)
from tests.feed_sources import local_settings

DATA = Path(__file__).parent.parent / "data" / "feeds"
EXAMPLES = Path(__file__).parents[2] / "examples" / "feeds"
NOW = datetime(2025, 9, 10, tzinfo=UTC)


async def read_all(
    source: Path | str, mapping: Mapping[str, Any] | None = None, **settings: Any
) -> tuple[list[FeedItem], FeedReader]:
    reader = FeedReader(str(source), mapping=mapping, settings=local_settings(**settings), now=NOW)
    return [item async for item in reader], reader


def jobs_of(items: list[FeedItem]) -> list[JobPosting]:
    return [item.job for item in items if isinstance(item, ParsedJob)]


async def test_sample_feed_outcome_with_the_reference_bugs_fixed() -> None:
    mapping = json.loads((EXAMPLES / "sample-mapping.json").read_text())
    items, reader = await read_all(EXAMPLES / "sample-feed.xml", mapping)
    jobs = {item.position: item.job for item in items if isinstance(item, ParsedJob)}
    malformed = {item.position: item for item in items if isinstance(item, MalformedItem)}
    assert sorted(jobs) == [1, 2, 3, 4, 6, 7, 8]
    assert jobs[7].title == "Accounts Payable Specialist"  # <job id="..."> is no longer lost
    assert malformed[5].line == 99 and "titel" in malformed[5].reason
    assert "empty record" in malformed[9].reason
    assert jobs[4].closed_reason == "status: expired"
    assert jobs[8].locations == (Location(state="CA", country="US"),)
    assert jobs[8].is_remote and jobs[8].cpa == 12.5
    assert jobs[8].posted_at == datetime(2025, 9, 4, 15, 33, 20, tzinfo=UTC)
    assert jobs[1].locations[0].country == "US" and jobs[1].locations[0].postal_code == "02114"
    assert jobs[2].posted_at == datetime(2025, 9, 2, 14, 15, tzinfo=UTC)
    helper = jobs[6]
    assert (
        helper.title == "Driver\u2019s Helper (CDL-B)"
        and helper.company_name == "Smith & Sons Logistics"
    )
    assert helper.posted_at is None and helper.cpc is None
    assert helper.description_html.startswith("<p>Assist") and helper.description_text.startswith(
        "Assist"
    )
    assert jobs[1].application_url is not None and "&utm_medium=cpc" in jobs[1].application_url
    stats = reader.stats
    assert (stats.parsed, stats.malformed, stats.closed, stats.fetch_status) == (7, 2, 1, "ok")
    assert stats.bytes_uncompressed == (EXAMPLES / "sample-feed.xml").stat().st_size
    assert stats.dialect == "indeed"


async def test_jobs_dialect_reads_attributes_and_nested_locations() -> None:
    items, reader = await read_all(DATA / "jobs-attributes.xml")
    cook, manager = jobs_of(items)
    assert reader.stats.dialect == "jobs"
    assert cook.external_job_id == "CJ-1" and cook.employment_type is EmploymentType.PART_TIME
    assert cook.locations == (Location(city="Portland", state="OR", country="US"),)
    assert cook.salary is not None and (cook.salary.min, cook.salary.max) == (18, 22)
    assert cook.salary.period is SalaryPeriod.HOURLY and cook.salary.currency == "USD"
    assert cook.posted_at == datetime(2025, 9, 2, tzinfo=UTC)
    assert manager.locations == (Location(city="London", country="GB"),)
    assert manager.employment_type is EmploymentType.FULL_TIME
    assert manager.closed_reason is not None and manager.closed_reason.startswith("expired at")


async def test_rss_items_take_link_guid_and_entity_escaped_html() -> None:
    items, reader = await read_all(DATA / "rss.xml")
    (job,) = jobs_of(items)
    assert reader.stats.dialect == "rss"
    assert job.application_url == job.external_job_id == "https://jobs.example/de-1"
    assert job.description_html == "<p>Build pipelines\xa0in Spark.</p>"
    assert job.description_text == "Build pipelines in Spark."
    assert job.posted_at == datetime(2014, 12, 20, 3, 49, 39, tzinfo=UTC)
    assert job.is_remote


async def test_atom_entries_keep_xhtml_content_and_link_href() -> None:
    items, reader = await read_all(DATA / "atom.xml")
    (job,) = jobs_of(items)
    assert reader.stats.dialect == "atom"
    assert job.application_url == "https://vacancies.example/77"
    assert job.company_name == "Ministry of Examples"
    assert job.description_text == "Keep people safe."
    assert "<b>safe</b>" in job.description_html
    assert job.posted_at == datetime(2025, 9, 1, 7, tzinfo=UTC)


async def test_csv_feed_with_quoted_newlines_and_epoch_millis() -> None:
    items, reader = await read_all(DATA / "feed.csv")
    welder, driver = jobs_of(items)
    assert reader.stats.dialect == "csv"
    assert welder.description_text == 'Weld steel frames. Night shift, "hot" work.'
    assert welder.locations == (Location(city="Tulsa", state="OK", country="US"),)
    assert driver.employment_type is EmploymentType.CONTRACT
    assert driver.posted_at == datetime(2025, 9, 4, 15, 33, 20, tzinfo=UTC)


async def test_json_array_maps_schema_org_and_plain_objects() -> None:
    items, _ = await read_all(DATA / "feed.json")
    nurse, porter = jobs_of(items)
    assert nurse.company_name == "Mercy"
    assert nurse.locations == (Location(city="Omaha", state="NE", country="US"),)
    assert nurse.salary is not None and nurse.salary.period is SalaryPeriod.HOURLY
    assert (nurse.salary.min, nurse.salary.max, nurse.salary.currency) == (30, 40, "USD")
    assert porter.locations == (Location(city="Omaha", state="NE", country="US"),)


async def test_json_lines_skip_a_broken_line_and_unfilled_is_open() -> None:
    items, reader = await read_all(DATA / "feed.jsonl")
    assert [type(i).__name__ for i in items] == ["ParsedJob", "MalformedItem", "ParsedJob"]
    cashier, stocker = jobs_of(items)
    assert cashier.is_remote and cashier.locations == (Location(country="US"),)
    assert stocker.closed_reason is None
    assert items[1].position == 2 and reader.stats.malformed == 1


async def test_native_mapping_overrides_one_field_with_a_path() -> None:
    mapping = {"fields": {"company_name": "location/city", "title": ["nope", "title"]}}
    items, _ = await read_all(DATA / "jobs-attributes.xml", mapping)
    assert jobs_of(items)[0].company_name == "Portland"
    assert jobs_of(items)[0].title == "Line Cook"


async def test_classic_faults_are_repaired_not_fatal() -> None:
    items, reader = await read_all(DATA / "faults.xml")
    (job,) = jobs_of(items)
    assert job.title == "Fish & Chips Cook"
    assert job.description_text == "Fry fish & chips."
    assert reader.stats.control_chars_removed == 1


@pytest.mark.parametrize("name", ["entity-bomb.xml", "xxe.xml"])
async def test_entity_declarations_are_refused_and_never_expanded(name: str) -> None:
    items, reader = await read_all(DATA / name)
    (job,) = jobs_of(items)
    assert "lol" not in job.title and len(job.description_html) < 50
    assert reader.stats.entities_refused >= 2
    assert any("entity declarations refused" in w for w in reader.stats.warnings)


def local_hostname() -> str:
    path = Path("/etc/hostname")
    return path.read_text().strip() if path.exists() else "no hostname file"


async def test_xxe_does_not_read_local_files() -> None:
    items, _ = await read_all(DATA / "xxe.xml")
    (job,) = jobs_of(items)
    hostname = local_hostname()
    assert job.title == "Leaky" and hostname not in job.description_text


async def test_bom_declared_latin1_and_invalid_utf8(tmp_path: Path) -> None:
    record = "<source><job><title>{}</title><description>d</description></job></source>"
    bom = tmp_path / "bom.xml"
    bom.write_bytes(b"\xef\xbb\xbf" + record.format("Caf\u00e9 Cook").encode())
    latin = tmp_path / "latin.xml"
    latin.write_bytes(
        b'<?xml version="1.0" encoding="ISO-8859-1"?>'
        + record.format("Caf\u00e9").encode("latin-1")
    )
    broken = tmp_path / "broken.xml"
    broken.write_bytes(record.format("Caf\u00e9").encode("latin-1"))  # no declaration: UTF-8
    titles = []
    for path in (bom, latin, broken):
        items, reader = await read_all(path)
        titles.append(jobs_of(items)[0].title)
    assert titles == ["Caf\u00e9 Cook", "Caf\u00e9", "Caf\u00e9"]
    assert reader.stats.invalid_bytes == 1


async def test_gzip_and_zip_bodies_are_detected_by_magic_bytes(tmp_path: Path) -> None:
    feed = (DATA / "jobs-attributes.xml").read_bytes()
    packed = tmp_path / "feed.bin"
    packed.write_bytes(gzip.compress(feed))
    items, reader = await read_all(packed)
    assert len(jobs_of(items)) == 2
    assert reader.stats.bytes_compressed == packed.stat().st_size
    assert reader.stats.bytes_uncompressed == len(feed)
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zipped:
        zipped.writestr("README.txt", "not the feed")
        zipped.writestr("export/jobs.xml", feed)
    (tmp_path / "feed.zip").write_bytes(archive.getvalue())
    items, _ = await read_all(f"file://{tmp_path / 'feed.zip'}")
    assert [j.title for j in jobs_of(items)] == ["Line Cook", "Store Manager"]


async def test_broken_gzip_stream_is_truncated_after_yielding_what_was_read(tmp_path: Path) -> None:
    body = b"<source>" + b"".join(
        f"<job><title>T{i}</title><description>{'x' * 200}</description></job>\n".encode()
        for i in range(2000)
    )
    cut = tmp_path / "cut.xml.gz"
    cut.write_bytes(gzip.compress(body)[:-2000])
    reader = FeedReader(str(cut), mapping=None, settings=local_settings(chunk_bytes=4096), now=NOW)
    seen: list[FeedItem] = []
    with pytest.raises(FetchError) as raised:
        async for item in reader:
            seen.append(item)
    assert raised.value.kind == "truncated" and reader.stats.fetch_status == "truncated"
    assert 0 < len(seen) < 2000 and all(isinstance(i, ParsedJob) for i in seen)


async def test_html_error_page_is_a_failed_fetch_not_an_empty_feed() -> None:
    with pytest.raises(FetchError) as raised:
        await read_all(DATA / "html-error.html")
    assert raised.value.kind == "html"


async def test_missing_file_and_oversized_body_fail() -> None:
    with pytest.raises(FetchError) as missing:
        await read_all(DATA / "does-not-exist.xml")
    assert missing.value.kind == "not_found"
    with pytest.raises(FetchError) as big:
        await read_all(DATA / "jobs-attributes.xml", max_body_bytes=100, chunk_bytes=64)
    assert big.value.kind == "too_large"


async def test_gigantic_field_is_capped_and_reported(tmp_path: Path) -> None:
    path = tmp_path / "big.xml"
    path.write_text(
        f"<source><job><title>T</title><description>{'a' * 5000}</description></job></source>"
    )
    items, reader = await read_all(path, max_field_chars=1000)
    assert len(jobs_of(items)[0].description_html) == 1000
    assert reader.stats.fields_truncated == 1


async def test_inspect_lists_raw_fields_and_skips() -> None:
    mapping = json.loads((EXAMPLES / "sample-mapping.json").read_text())
    inspection = await inspect_feed_async(
        str(EXAMPLES / "sample-feed.xml"), mapping=mapping, settings=local_settings(), limit=2
    )
    assert [r.position for r in inspection.records] == [1, 2]
    assert inspection.records[0].raw["referencenumber"] == "RHS-44821"
    assert [s.position for s in inspection.skipped] == [5, 9]


@pytest.mark.parametrize("header_bytes", [0, 2 * 1024 * 1024])
async def test_records_are_read_whether_or_not_the_probe_finds_them_early(
    tmp_path: Path, header_bytes: int
) -> None:
    """Past the probe's reach (a huge feed header) every event is read: same records."""
    jobs = "".join(
        f"<Job><Title>Cook {n}</Title><Company>Diner</Company>"
        f"<Description><![CDATA[<p>Cook {n} & co.</p>]]></Description><City>Austin</City>"
        f"<State>TX</State><Country>US</Country></Job>"
        for n in range(3)
    )
    header = f"<publisher>{'x' * header_bytes}</publisher>"
    feed = tmp_path / "feed.xml"
    feed.write_text(f'<?xml version="1.0"?><Source>{header}{jobs}</Source>')
    items, reader = await read_all(feed)
    assert [job.title for job in jobs_of(items)] == ["Cook 0", "Cook 1", "Cook 2"]
    assert jobs_of(items)[2].description_text == "Cook 2 & co."
    assert reader.stats.dialect == "indeed" and reader.stats.malformed == 0


async def test_records_spelled_in_another_case_or_namespace_are_still_read(
    tmp_path: Path,
) -> None:
    feed = tmp_path / "feed.xml"
    feed.write_text(
        '<source xmlns:x="urn:x"><job><title>A</title></job><Job><title>B</title></Job>'
        "<x:job><title>C</title></x:job><JOB><title>D</title></JOB></source>"
    )
    items, _ = await read_all(feed)
    assert [job.title for job in jobs_of(items)] == ["A", "B", "C", "D"]

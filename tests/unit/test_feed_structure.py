"""The record element is found from the feed's structure; a feed without one says so."""

from __future__ import annotations

from pathlib import Path

import pytest

from cli.main import main
from tests.unit.xml_corpus import read_measured

RECORD_NAMES = [
    "job_posting", "JobPosting", "advert", "record", "row", "vacancy", "position", "listing",
]  # fmt: skip


def records(name: str, count: int = 3) -> str:
    return "".join(
        f"<{name}><title>Role {n}</title><company>Acme</company>"
        f"<description>Do thing {n}.</description></{name}>\n"
        for n in range(1, count + 1)
    )


@pytest.mark.parametrize("name", RECORD_NAMES)
async def test_record_elements_of_any_usual_name_parse_without_a_mapping(
    tmp_path: Path, name: str
) -> None:
    path = tmp_path / "feed.xml"
    path.write_text(f"<export><meta><title>Board</title></meta>\n{records(name)}</export>")
    outcome = await read_measured(path)
    assert outcome.titles == ["Role 1", "Role 2", "Role 3"]
    assert outcome.reader.stats.fetch_status == "ok" and not outcome.malformed


async def test_an_unknown_record_name_is_found_by_its_title_and_description(
    tmp_path: Path,
) -> None:
    path = tmp_path / "feed.xml"
    gigs = "".join(
        f"<gig><jobtitle>Gig {n}</jobtitle><summary>Deliver {n}.</summary></gig>" for n in (1, 2)
    )
    path.write_text(f"<opportunities><owner><name>Acme</name></owner>{gigs}</opportunities>")
    outcome = await read_measured(path)
    assert outcome.titles == ["Gig 1", "Gig 2"]


async def test_an_rss_channel_is_never_taken_for_its_one_item(tmp_path: Path) -> None:
    path = tmp_path / "feed.xml"
    path.write_text(
        "<rss><channel><title>Board</title><description>All jobs</description>"
        "<item><title>Only</title><description>One job.</description></item></channel></rss>"
    )
    outcome = await read_measured(path)
    assert outcome.titles == ["Only"] and outcome.reader.stats.dialect == "rss"


async def test_a_broken_field_is_never_taken_for_the_record_element(tmp_path: Path) -> None:
    """A forgiving parse turns `<url>https://…>` into an element holding the rest of the
    entry; the entries must still be the records, and only the broken one is lost."""
    entries = [
        f'<entry><id>urn:{n}</id><title>Post {n}</title><content type="html">Text {n}</content>'
        "</entry>\n"
        for n in (1, 2, 3)
    ]
    entries[1] = entries[1].replace("</id>", "</id><url>https://x.example/a>")
    path = tmp_path / "feed.xml"
    path.write_text(f'<feed xmlns="http://www.w3.org/2005/Atom">\n{"".join(entries)}</feed>\n')
    outcome = await read_measured(path)
    assert outcome.titles == ["Post 1", "Post 3"]
    assert [item.position for item in outcome.malformed] == [2]
    assert outcome.reader.stats.fetch_status == "ok"


def _items(count: int, broken: dict[int, str]) -> str:
    """RSS items 1..count; those in `broken` damaged: "quote" leaves an attribute's quote
    open (it runs on to the next quote, swallowing records), "field" leaves a field open."""
    items = []
    for n in range(1, count + 1):
        item = f"<item><title>Cook {n}</title><description>Meals {n}.</description></item>\n"
        if broken.get(n) == "quote":
            item = item.replace("<item>", '<item x="1>')
        elif broken.get(n) == "field":
            item = item.replace("</title>", "</title><url>https://x.example/a>")
        items.append(item)
    return "".join(items)


@pytest.mark.parametrize(
    "broken",
    [
        {1: "quote", 2: "quote", 3: "quote"},
        {1: "quote", 2: "field", 3: "field", 4: "field", 5: "quote"},
        {1: "field", 2: "field", 3: "field", 4: "field", 5: "field"},
    ],
    ids=["three-open-quotes", "quotes-around-open-fields", "five-open-fields"],
)
async def test_a_feed_whose_first_records_are_all_broken_loses_those_and_says_so(
    tmp_path: Path, broken: dict[int, str]
) -> None:
    """Found by the property test: the forgiving parse of such a head saw no whole item,
    and the channel (a title, a description) was taken for the record: one malformed
    "record", every job lost, and the fetch `ok`."""
    path = tmp_path / "feed.xml"
    head = "<rss><channel><title>Board</title><description>All jobs</description>\n"
    path.write_text(f"{head}{_items(8, broken)}</channel></rss>\n")
    outcome = await read_measured(path)
    assert [item.position for item in outcome.malformed] == sorted(broken)
    assert outcome.titles == [f"Cook {n}" for n in range(1, 9) if n not in broken]
    assert outcome.reader.stats.fetch_status == "ok"


async def test_a_record_with_a_position_field_is_still_the_record(tmp_path: Path) -> None:
    """<position> is a usual record name too; as a field it starts once more than the
    records whole so far, which must not make the record its container."""
    jobs = "".join(
        f"<job><title>Cook {n}</title><position>Full time</position>"
        f"<description>Meals {n}.</description></job>\n"
        for n in range(1, 41)
    )
    path = tmp_path / "feed.xml"
    path.write_text(f"<jobs>\n{jobs}</jobs>\n")
    outcome = await read_measured(path)
    assert outcome.titles == [f"Cook {n}" for n in range(1, 41)]
    assert not outcome.malformed and outcome.reader.stats.fetch_status == "ok"


async def test_prefixed_atom_records_keep_the_root_namespaces(tmp_path: Path) -> None:
    path = tmp_path / "feed.xml"
    entries = "".join(
        f'<a:entry><a:id>urn:{n}</a:id><a:title>Post {n}</a:title><a:link href="https://x/{n}"/>'
        f"<a:content>Text {n}</a:content></a:entry>"
        for n in (1, 2)
    )
    path.write_text(f'<a:feed xmlns:a="http://www.w3.org/2005/Atom">{entries}</a:feed>')
    outcome = await read_measured(path)
    assert outcome.titles == ["Post 1", "Post 2"] and outcome.reader.stats.dialect == "atom"
    jobs = [item.job for item in outcome.items]  # type: ignore[union-attr]
    assert [job.application_url for job in jobs] == ["https://x/1", "https://x/2"]


async def test_the_mappings_record_tag_wins(tmp_path: Path) -> None:
    path = tmp_path / "feed.xml"
    path.write_text(f"<root>{records('job', 2)}<shelf><title>S</title></shelf></root>")
    outcome = await read_measured(path, {"record": "shelf"})
    assert outcome.titles == ["S"]


BOOKS = (
    "<catalog><book><author>Ann</author><price>3</price></book>"
    "<book><author>Bo</author><price>4</price></book></catalog>"
)


async def test_a_feed_without_a_record_element_fails_naming_what_it_saw(tmp_path: Path) -> None:
    path = tmp_path / "books.xml"
    path.write_text(BOOKS)
    outcome = await read_measured(path)
    assert outcome.error is not None and outcome.error.kind == "no_records"
    assert "<catalog>, <book>, <author>, <price>" in outcome.error.message
    assert '{"record": "job"' in outcome.error.message
    assert (outcome.reader.stats.fetch_status, outcome.reader.stats.parsed) == ("failed", 0)
    mapped = await read_measured(path, {"record": "book", "fields": {"title": "author"}})
    assert mapped.titles == ["Ann", "Bo"]


def test_inspect_exits_1_when_no_record_element_is_found(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "books.xml"
    path.write_text(BOOKS)
    assert main(["inspect", str(path), "--json"]) == 1
    assert "no record element found" in capsys.readouterr().err


def test_inspect_exits_1_on_a_truncated_feed_and_shows_the_lost_records_fields(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "cut.xml"
    broken = records("job", 3).replace("Do thing 2.</description>", "Do thing 2.</descr>")
    path.write_text(f"<jobs>{broken}")  # and the root is never closed
    assert main(["inspect", str(path), "--json"]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert len([line for line in lines if '"job_hash"' in line]) == 2
    (skipped,) = [line for line in lines if '"skipped"' in line]
    assert '"salvaged": {"title": "Role 2"' in skipped

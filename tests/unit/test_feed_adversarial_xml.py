"""The adversarial XML corpus: one fault each, and what reading the feed must give.

Each test asserts the exact records kept, the malformed ones with their reasons, the fetch
status, and the cost: seconds, not minutes, and never more than 300 MB resident. A fault
inside a record costs that record; a fault between records costs none; a feed that cannot
be proven read to its end is `truncated`, so nothing gets archived.
"""

from __future__ import annotations

import gzip
from collections.abc import Iterable, Mapping
from pathlib import Path

from services.ingestor.feeds import FeedSettings, ParsedJob
from tests.unit.xml_corpus import (
    READ_RSS_LIMIT_MB,
    Outcome,
    feed,
    job,
    numbered,
    read_measured,
    reasons,
    repeated,
    write_gzip,
)

COUNT = 100
MID = 60


def expect(
    outcome: Outcome,
    *,
    kept: Iterable[int],
    malformed: Mapping[int, str] | None = None,
    status: str = "ok",
    seconds: float = 10.0,
) -> None:
    malformed = malformed or {}
    assert outcome.titles == [f"Cook {n}" for n in kept]
    got = reasons(outcome)
    assert sorted(got) == sorted(malformed), got
    for position, fragment in malformed.items():
        assert fragment in got[position], got[position]
    stats = outcome.reader.stats
    assert (stats.malformed, stats.fetch_status) == (len(malformed), status), stats.error
    assert outcome.seconds < seconds
    assert outcome.added_rss_mb < READ_RSS_LIMIT_MB


def all_but(*lost: int) -> list[int]:
    return [n for n in range(1, COUNT + 1) if n not in lost]


def write(tmp_path: Path, text: str, name: str = "feed.xml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


async def test_a_bare_less_than_mid_feed_is_text_and_costs_nothing(tmp_path: Path) -> None:
    described = "Needs experience < 5 years; pay<10 dollars an hour."
    text = feed(numbered(COUNT, {MID: job(MID, description=described)}))
    outcome = await read_measured(write(tmp_path, text))
    expect(outcome, kept=all_but())
    (middle,) = [i.job for i in outcome.items if isinstance(i, ParsedJob) and i.position == MID]
    assert middle.description_text == "Needs experience < 5 years; pay<10 dollars an hour."


async def test_a_bare_ampersand_mid_feed_is_text_and_costs_nothing(tmp_path: Path) -> None:
    text = feed(numbered(COUNT, {MID: job(MID, description="Salt & pepper; R&D at AT&T")}))
    outcome = await read_measured(write(tmp_path, text))
    expect(outcome, kept=all_but())
    assert "Salt & pepper; R&D at AT&T" in outcome.items[MID - 1].job.description_text  # type: ignore[union-attr]


async def test_a_stray_end_tag_between_records_is_skipped_with_a_warning(tmp_path: Path) -> None:
    records = numbered(COUNT)
    records[MID - 1] = "</foo>\n" + records[MID - 1]
    outcome = await read_measured(write(tmp_path, feed(records)))
    expect(outcome, kept=all_but())
    assert any("stray end tag </foo> skipped" in w for w in outcome.reader.stats.warnings)


async def test_a_stray_end_tag_inside_a_record_costs_that_record(tmp_path: Path) -> None:
    broken = job(MID).replace("</title>", "</title></foo>")
    outcome = await read_measured(write(tmp_path, feed(numbered(COUNT, {MID: broken}))))
    expect(outcome, kept=all_but(MID), malformed={MID: "Opening and ending tag mismatch"})
    assert outcome.malformed[0].reason.startswith(f"line {MID + 2}, column ")


async def test_an_early_root_end_tag_loses_nothing(tmp_path: Path) -> None:
    records = numbered(COUNT)
    records[49] += "</source>\n"  # after record 50: libxml2 would end the document here
    outcome = await read_measured(write(tmp_path, feed(records)))
    expect(outcome, kept=all_but())
    assert any("records after the root element closed" in w for w in outcome.reader.stats.warnings)


async def test_bad_attribute_quotes_cost_their_records_only(tmp_path: Path) -> None:
    faulty = {
        40: job(40).replace("<job>", '<job id="40>'),
        MID: job(MID).replace("<job>", "<job id=60>"),
        80: job(80).replace("<city>", "<city code='x\">"),
    }
    outcome = await read_measured(write(tmp_path, feed(numbered(COUNT, faulty))))
    expect(
        outcome,
        kept=all_but(40, MID, 80),
        malformed={
            40: "Unescaped '<' not allowed in attributes values",
            MID: "AttValue: \" or ' expected",
            80: "line 82, column",
        },
    )


async def test_an_unterminated_cdata_section_costs_its_record_only(tmp_path: Path) -> None:
    broken = job(MID).replace(
        f"<description>Cook meals, shift {MID}.", "<description><![CDATA[<p>Cook"
    )
    outcome = await read_measured(write(tmp_path, feed(numbered(COUNT, {MID: broken}))))
    # the next record's first "]]>" would close it: every title is CDATA
    expect(outcome, kept=all_but(MID), malformed={MID: "CData section not finished"})


async def test_an_unterminated_comment_costs_its_record_only(tmp_path: Path) -> None:
    broken = job(MID).replace("<city>", "<!-- moved? <city>")
    outcome = await read_measured(write(tmp_path, feed(numbered(COUNT, {MID: broken}))))
    expect(outcome, kept=all_but(MID), malformed={MID: "Comment not terminated"})


async def test_a_comment_or_cdata_holding_a_record_end_tag_is_text(tmp_path: Path) -> None:
    """Valid XML stays valid: an end tag written inside CDATA or a comment is not one."""
    faulty = {
        30: job(30, description="<![CDATA[close with </job> then]]>"),
        MID: job(MID).replace("<city>", "<!-- old: </job> --><city>"),
    }
    outcome = await read_measured(write(tmp_path, feed(numbered(COUNT, faulty))))
    expect(outcome, kept=all_but())
    assert outcome.items[29].job.description_html == "close with </job> then"  # type: ignore[union-attr]


async def test_a_commented_out_record_is_not_read(tmp_path: Path) -> None:
    records = numbered(COUNT)
    records[MID - 1] = f"<!-- {records[MID - 1]} -->\n"
    outcome = await read_measured(write(tmp_path, feed(records)))
    assert outcome.titles == [f"Cook {n}" for n in all_but(MID)]
    assert outcome.reader.stats.fetch_status == "ok" and not outcome.malformed


async def test_broken_end_tags_cost_their_records_only(tmp_path: Path) -> None:
    faulty = {
        40: job(40).replace("<city>Austin</city>", "<url>https://jobs.example/40>"),
        MID: job(MID).replace("<city>Austin</city>", "<url>https://jobs.example/60</url"),
    }
    outcome = await read_measured(write(tmp_path, feed(numbered(COUNT, faulty))))
    expect(
        outcome,
        kept=all_but(40, MID),
        malformed={40: "Opening and ending tag mismatch: url", MID: "line 62, column"},
    )


async def test_a_text_preamble_before_the_xml_tree_is_read_as_xml(tmp_path: Path) -> None:
    preamble = (
        "This XML file does not appear to have any style information associated with it. "
        "The document tree is shown below.\n"
    )
    text = feed(numbered(COUNT), preamble=preamble).replace(
        '<?xml version="1.0" encoding="utf-8"?>\n', ""
    )
    outcome = await read_measured(write(tmp_path, text))
    expect(outcome, kept=all_but())
    assert outcome.reader.stats.dialect == "indeed"


def deep(levels: int) -> str:
    return "<div>" * levels + "deep" + "</div>" * levels


async def test_nesting_1500_deep_in_one_record_costs_that_record(tmp_path: Path) -> None:
    broken = job(MID, description=deep(1_500))
    outcome = await read_measured(write(tmp_path, feed(numbered(COUNT, {MID: broken}))))
    expect(outcome, kept=all_but(MID), malformed={MID: "elements nested deeper than 256 levels"})


async def test_nesting_100000_deep_in_one_record_costs_that_record(tmp_path: Path) -> None:
    broken = job(MID, description=deep(100_000))
    outcome = await read_measured(write(tmp_path, feed(numbered(COUNT, {MID: broken}))))
    expect(outcome, kept=all_but(MID), malformed={MID: "elements nested deeper than 256 levels"})


async def test_nesting_past_the_walk_limit_costs_that_record(tmp_path: Path) -> None:
    broken = job(MID, description=deep(50))
    outcome = await read_measured(
        write(tmp_path, feed(numbered(COUNT, {MID: broken}))), max_depth=20
    )
    expect(outcome, kept=all_but(MID), malformed={MID: "elements nested deeper than 20 levels"})


RAISED_CAP = 3 * 1024**3


async def test_a_gigabyte_text_node_from_a_small_gzip_costs_its_record_and_bounded_memory(
    tmp_path: Path,
) -> None:
    head = ('<?xml version="1.0"?>\n<source>\n' + job(1)).encode()
    text_node = repeated(b"a", 1024**3)
    tail = ("</description></job>\n" + job(3) + "</source>\n").encode()
    open_record = b"<job><title>Cook 2</title><description>"
    path = write_gzip(tmp_path / "big-text.xml.gz", [head, open_record, text_node, tail])
    assert path.stat().st_size < 5 * 1024**2
    # the feed raises its decompressed-size cap (which would stop it at 512 MiB, `too_large`):
    # the record cap alone must keep the cost bounded
    outcome = await read_measured(path, max_uncompressed_bytes=RAISED_CAP)
    cap = FeedSettings().max_record_bytes
    expect(
        outcome,
        kept=[1, 3],
        malformed={2: f"record larger than {cap} characters skipped"},
        seconds=60,
    )


async def test_two_gibibytes_of_whitespace_from_a_small_gzip_cost_nothing(tmp_path: Path) -> None:
    head = ('<?xml version="1.0"?>\n<source>\n' + job(1)).encode()
    tail = (job(2) + "</source>\n").encode()
    spaces = repeated(b" \n\t\n", 2 * 1024**3)
    path = write_gzip(tmp_path / "spaces.xml.gz", [head, spaces, tail])
    assert path.stat().st_size < 10 * 1024**2
    outcome = await read_measured(path, max_uncompressed_bytes=RAISED_CAP)
    expect(outcome, kept=[1, 2], seconds=120)


async def test_nested_markup_around_a_big_leaf_is_serialised_once(tmp_path: Path) -> None:
    """120 nested <div>s around a 5 MB leaf: once serialised, not 120 times (600 MB)."""
    leaf = "<div>" * 120 + "x" * (5 * 1024**2) + "</div>" * 120
    records = [job(1), job(2, description=leaf), job(3)]
    path = write_gzip(tmp_path / "amplified.xml.gz", [feed(records).encode()])
    assert path.stat().st_size < 100 * 1024
    outcome = await read_measured(path)
    expect(outcome, kept=[1, 2, 3])
    described = outcome.items[1].job.description_html  # type: ignore[union-attr]
    assert len(described) == FeedSettings().max_field_chars and described.startswith("<div><div>")


async def test_an_unclosed_root_is_a_truncated_feed_with_every_record(tmp_path: Path) -> None:
    text = feed(numbered(COUNT)).removesuffix("</source>\n")
    outcome = await read_measured(write(tmp_path, text))
    expect(outcome, kept=all_but(), status="truncated")
    assert outcome.error is not None and outcome.error.kind == "truncated"
    assert outcome.reader.stats.error == "truncated: the root element <source> was never closed"


async def test_a_feed_ending_inside_a_record_is_truncated_and_that_record_lost(
    tmp_path: Path,
) -> None:
    text = feed(numbered(COUNT)).removesuffix(job(COUNT) + "</source>\n") + job(COUNT)[:40]
    outcome = await read_measured(write(tmp_path, text))
    expect(
        outcome,
        kept=all_but(COUNT),
        malformed={COUNT: "record not closed before the end of the feed"},
        status="truncated",
    )
    assert outcome.reader.stats.error == (
        f"truncated: the feed ended inside record {COUNT} (line {COUNT + 2})"
    )


async def test_a_record_never_closed_before_the_next_costs_that_record(tmp_path: Path) -> None:
    broken = job(MID).replace("</job>", "")
    outcome = await read_measured(write(tmp_path, feed(numbered(COUNT, {MID: broken}))))
    expect(outcome, kept=all_but(MID), malformed={MID: "record not closed before the next record"})


async def test_gzip_fault_free_feed_reads_whole(tmp_path: Path) -> None:
    path = tmp_path / "plain.xml.gz"
    path.write_bytes(gzip.compress(feed(numbered(COUNT)).encode()))
    expect(await read_measured(path), kept=all_but())


async def test_characters_xml_forbids_are_removed_and_cost_nothing(tmp_path: Path) -> None:
    text = feed(numbered(COUNT, {MID: job(MID, description="Bell\x07 and form\x0cfeed.")}))
    outcome = await read_measured(write(tmp_path, text))
    expect(outcome, kept=all_but())
    assert outcome.reader.stats.control_chars_removed == 2
    (middle,) = [i.job for i in outcome.items if isinstance(i, ParsedJob) and i.position == MID]
    assert middle.description_text == "Bell and formfeed."

"""Property: in any dialect, K corrupted records cost K records, and only `ok` when read whole.

Generated feeds of N records in each XML dialect get K records corrupted, at random
positions, by the fault classes of the adversarial corpus. Every other record must come
out exactly as it does from the clean feed, the K must be reported malformed, and the
fetch status is `ok` only when the feed was read to its end.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Callable
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas.records import JobPosting
from services.ingestor.feeds import MalformedItem, ParsedJob
from tests.unit.xml_corpus import read_measured

Record = Callable[[int], str]


def _indeed(n: int) -> str:
    return (
        f"<job><title><![CDATA[Cook {n}]]></title><referencenumber>R{n}</referencenumber>"
        f"<company>Diner &amp; Co</company><city>Austin</city><state>TX</state>"
        f"<description><![CDATA[<p>Cook meals, shift {n}.</p>]]></description></job>\n"
    )


def _jobs(n: int) -> str:
    return (
        f'<job id="J{n}"><title>Cook {n}</title><company>Diner</company>'
        f"<location><city>Portland</city><region>Oregon</region></location>"
        f"<description>Prep &amp; cook, shift {n}.</description></job>\n"
    )


def _rss(n: int) -> str:
    return (
        f"<item><title>Cook {n}</title><link>https://jobs.example/{n}</link>"
        f"<guid>https://jobs.example/{n}</guid>"
        f"<description>&lt;p&gt;Cook meals {n}.&lt;/p&gt;</description></item>\n"
    )


def _atom(n: int) -> str:
    return (
        f'<entry><id>urn:job:{n}</id><title>Cook {n}</title><link href="https://x.example/{n}"/>'
        f'<content type="html">Cook meals {n}.</content></entry>\n'
    )


DIALECTS: dict[str, tuple[Record, str, str]] = {
    "indeed": (_indeed, "<source><publisher>P</publisher>\n", "</source>\n"),
    "jobs": (_jobs, "<jobs>\n", "</jobs>\n"),
    "rss": (_rss, "<rss><channel><title>Board</title>\n", "</channel></rss>\n"),
    "atom": (
        _atom,
        '<feed xmlns="http://www.w3.org/2005/Atom"><title>Board</title>\n',
        "</feed>\n",
    ),
}


def _after_first_field(record: str, insert: str) -> str:
    at = record.index("</", record.index(">") + 1)
    close = record.index(">", at) + 1
    return record[:close] + insert + record[close:]


FAULTS: dict[str, Callable[[str], str]] = {
    "stray end tag": lambda r: _after_first_field(r, "</foo>"),
    "bad attribute quote": lambda r: r.replace(">", ' x="1>', 1),
    "unterminated cdata": lambda r: _after_first_field(r, "<note><![CDATA[never ends</note>"),
    "unterminated comment": lambda r: _after_first_field(r, "<!-- never ends"),
    "broken end tag": lambda r: _after_first_field(r, "<url>https://x.example/a>"),
    "too deep": lambda r: _after_first_field(r, "<d>" * 300 + "</d>" * 300),
    "never closed": lambda r: r[: r.rindex("</")],
}


def _read(text: str) -> tuple[dict[int, JobPosting], dict[int, str], str]:
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "feed.xml"
        path.write_text(text)
        outcome = asyncio.run(read_measured(path))
    jobs = {i.position: i.job for i in outcome.items if isinstance(i, ParsedJob)}
    lost = {i.position: i.reason for i in outcome.items if isinstance(i, MalformedItem)}
    return jobs, lost, outcome.reader.stats.fetch_status


Case = tuple[str, int, dict[int, str], int | None]


@st.composite
def corrupted_feeds(draw: st.DrawFn) -> Case:
    """(dialect, N, {position: fault class}, where to cut the feed in permille or None)."""
    dialect = draw(st.sampled_from(sorted(DIALECTS)))
    count = draw(st.integers(min_value=5, max_value=30))
    positions = draw(st.sets(st.integers(1, count), max_size=5))
    faults = {p: draw(st.sampled_from(sorted(FAULTS))) for p in positions}
    cut = draw(st.one_of(st.none(), st.integers(min_value=50, max_value=970)))
    return dialect, count, faults, cut


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(corrupted_feeds())
def test_k_corrupted_records_cost_k_records_and_ok_means_read_whole(case: Case) -> None:
    dialect, count, faults, cut_permille = case
    record, head, tail = DIALECTS[dialect]
    frame = f"{head}{{}}{tail}"
    clean = [record(n) for n in range(1, count + 1)]
    dirty = [FAULTS[faults[n]](r) if n in faults else r for n, r in enumerate(clean, start=1)]
    clean_jobs, clean_lost, clean_status = _read(frame.format("".join(clean)))
    assert not clean_lost and clean_status == "ok" and len(clean_jobs) == count

    text = frame.format("".join(dirty))
    if cut_permille is not None:
        text = text[: len(text) * cut_permille // 1000]
    jobs, lost, status = _read(text)
    read_whole = cut_permille is None
    if read_whole:
        assert set(lost) == set(faults), (faults, lost)
        assert status == "ok"
    else:
        assert status != "ok"  # a cut feed is never taken as whole
        assert set(faults) & set(range(1, max(jobs, default=0) + 1)) <= set(lost)
    for position, job in jobs.items():
        assert position not in faults
        assert job == clean_jobs[position], position
    unchanged = len(jobs)
    expected_kept = count - len(faults) if read_whole else unchanged
    assert unchanged == expected_kept

"""`jobstream dlq`: which topics a --topic names, and what list and show print."""

from __future__ import annotations

import pytest

from cli import dlq
from cli.commands.dlq import describe, format_letters
from schemas import topics
from schemas.codec import CODEC
from schemas.records import DeadLetter, JobPosting, RawJob


def test_a_source_topic_or_its_dlq_names_the_same_dead_letter_topic() -> None:
    expected = [spec for spec in topics.DEAD_LETTER_TOPICS if spec.name == "jobs.enriched.dlq"]
    assert dlq.dead_letter_topics("jobs.enriched") == expected
    assert dlq.dead_letter_topics("jobs.enriched.dlq") == expected
    assert dlq.dead_letter_topics(None) == list(topics.DEAD_LETTER_TOPICS)
    with pytest.raises(dlq.DlqError, match=r"no dead-letter topic for 'jobs\.nowhere'"):
        dlq.dead_letter_topics("jobs.nowhere")


def _letter(raw: bytes, run_id: str | None, record_type: str | None) -> dlq.Letter:
    dead = DeadLetter(
        topic="jobs.raw", partition=2, offset=41, error="ValueError: bad\nmore", raw=raw, key=b"k"
    )
    return dlq.Letter("jobs.raw.dlq", 7, dead, run_id, record_type, redriven=True)


def test_list_prints_where_each_letter_came_from_and_why() -> None:
    raw = CODEC.encode(
        RawJob(
            run_id="run-1",
            feed_id=1,
            seq=3,
            job_hash="h",
            dedupe_key="k",
            job=JobPosting(title="Cook"),
        ),
        source="test",
    )
    text = format_letters([_letter(raw, "run-1", "RawJob"), _letter(b"\xff", None, None)])
    first, decoded, undecodable, total = text.splitlines()
    assert first.split()[:3] == ["DEAD", "LETTER", "FROM"]
    assert decoded.split()[:5] == ["jobs.raw.dlq@7", "jobs.raw[2]@41", "RawJob", "run-1", "yes"]
    assert decoded.endswith("ValueError: bad") and "(undecodable)" in undecodable
    assert total == "2 dead letter(s)"


def test_show_holds_the_record_or_says_it_is_undecodable() -> None:
    raw = CODEC.encode(
        RawJob(
            run_id="run-1",
            feed_id=1,
            seq=3,
            job_hash="h",
            dedupe_key="k",
            job=JobPosting(title="Cook"),
        ),
        source="test",
    )
    shown = describe(_letter(raw, "run-1", "RawJob"))
    assert shown["from"] == {"topic": "jobs.raw", "partition": 2, "offset": 41}
    record = shown["record"]
    assert isinstance(record, dict) and record["job"]["title"] == "Cook"
    broken = describe(_letter(b"\xff", None, None))["record"]
    assert isinstance(broken, dict) and "undecodable" in broken

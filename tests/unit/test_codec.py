"""The envelope codec: round trips, upcasting, and clear errors for what it cannot read."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, ClassVar

import orjson
import pytest

from schemas.codec import CODEC, Codec, DecodeError
from schemas.records import (
    ALL_RECORDS,
    DeadLetter,
    EnrichedJob,
    Enrichment,
    EnrichmentStatus,
    FeedRequested,
    JobPosting,
    Location,
    RawJob,
    Record,
    RequestReason,
    Salary,
    SalaryPeriod,
)
from schemas.topics import CATALOGUE, DATA_TOPICS


def _posting() -> JobPosting:
    return JobPosting(
        external_job_id="RHS-44821",
        title="Registered Nurse - Cardiac ICU",
        company_name="Riverside Health System",
        description_html="<p>Caf\u00e9 &amp; care</p>",
        posted_at=datetime(2025, 9, 5, 9, 15, tzinfo=UTC),
        locations=(Location(city="Boston", state="MA", country="US", postal_code="02114"),),
        salary=Salary(min=40.0, max=55.5, period=SalaryPeriod.HOURLY, currency="USD"),
        cpc=0.85,
    )


def _sample_records() -> list[Record]:
    """One record of each kind, with the optional fields that travel set."""
    return [
        FeedRequested(
            run_id="r1", feed_id=7, reason=RequestReason.API, requested_at=datetime.now(UTC)
        ),
        RawJob(run_id="r1", feed_id=7, seq=3, job_hash="h", dedupe_key="k", job=_posting()),
        EnrichedJob(
            run_id="r1",
            feed_id=7,
            seq=3,
            job_hash="h",
            job=_posting(),
            status=EnrichmentStatus.SUCCESS,
            enrichment=Enrichment(ai_title="t", ai_description="d", confidence=91.5),
            review_reasons=("low confidence",),
            input_tokens=120,
        ),
        DeadLetter(
            topic="jobs.raw", partition=2, offset=99, error="x", raw=b"\xff\x00 not utf8", key=b"k"
        ),
    ]


def test_every_record_round_trips_through_the_envelope() -> None:
    for record in _sample_records():
        assert CODEC.decode(CODEC.encode(record, source="test")) == record


def test_current_versions_read_in_one_pass_agree_with_the_general_path() -> None:
    """The one-pass reading of a current message gives what parsing, then validating gives."""
    for record in _sample_records():
        raw = CODEC.encode(record, source="test")
        one_pass, general = CODEC.decode_envelope(raw), CODEC._decode_any_version(raw)
        assert one_pass == general
        assert one_pass.record == record and type(one_pass.record) is type(record)


def test_the_envelope_names_type_version_source_and_time() -> None:
    raw = CODEC.encode(_feed_requested(), source="api")
    envelope = orjson.loads(raw)
    assert envelope.keys() == {"id", "type", "version", "source", "occurred_at", "data"}
    assert (envelope["type"], envelope["version"], envelope["source"]) == (
        "FeedRequested",
        1,
        "api",
    )
    decoded = CODEC.decode_envelope(raw)
    assert decoded.occurred_at.tzinfo is not None
    message_id = uuid.UUID(decoded.id)
    assert (message_id.version, message_id.variant) == (4, uuid.RFC_4122)
    assert decoded.id == message_id.hex
    assert decoded.id != CODEC.decode_envelope(CODEC.encode(_feed_requested(), source="api")).id


def _feed_requested() -> FeedRequested:
    return FeedRequested(
        run_id="r", feed_id=1, reason=RequestReason.CLI, requested_at=datetime.now(UTC)
    )


class Greeting(Record):
    """A test record at version 3: v1 had `name`, v2 split it, v3 added `greeting`."""

    TYPE: ClassVar[str] = "Greeting"
    VERSION: ClassVar[int] = 3
    first: str
    last: str
    greeting: str


def _v1_to_v2(data: dict[str, Any]) -> dict[str, Any]:
    first, _, last = data.pop("name").partition(" ")
    return {**data, "first": first, "last": last}


def _v2_to_v3(data: dict[str, Any]) -> dict[str, Any]:
    return {**data, "greeting": "hello"}


def _wire(type_name: str, version: int, data: dict[str, Any]) -> bytes:
    return orjson.dumps(
        {
            "id": "1",
            "type": type_name,
            "version": version,
            "source": "old-producer",
            "occurred_at": "2026-01-01T00:00:00+00:00",
            "data": data,
        }
    )


@pytest.mark.parametrize("type_name", ["RawJob", "DedupedJob", "EnrichedJob"])
def test_v1_job_records_still_decode_and_their_text_now_comes_from_the_html(
    type_name: str,
) -> None:
    job = {**_posting().model_dump(mode="json"), "description_text": "stale text"}
    data: dict[str, Any] = {"run_id": "r1", "feed_id": 7, "seq": 3, "job_hash": "h", "job": job}
    if type_name == "RawJob":
        data["dedupe_key"] = "k"
    if type_name == "EnrichedJob":
        data["status"] = "failed"
    record = CODEC.decode(_wire(type_name, 1, data))
    assert record.VERSION == 2 and record.job == _posting()  # type: ignore[attr-defined]
    assert record.job.description_text == "Caf\u00e9 & care"  # type: ignore[attr-defined]
    assert "description_text" not in orjson.loads(CODEC.encode(record, source="t"))["data"]["job"]


def test_old_versions_are_upcast_through_the_whole_chain() -> None:
    codec = Codec([Greeting], {("Greeting", 1): _v1_to_v2, ("Greeting", 2): _v2_to_v3})
    record = codec.decode(_wire("Greeting", 1, {"name": "Ada Lovelace"}))
    assert record == Greeting(first="Ada", last="Lovelace", greeting="hello")
    assert codec.decode(_wire("Greeting", 2, {"first": "A", "last": "B"})) == Greeting(
        first="A", last="B", greeting="hello"
    )


@pytest.mark.parametrize(
    ("raw", "kind", "fragment"),
    [
        (b"not json at all", "malformed", "not JSON"),
        (b"[1, 2]", "malformed", "not a JSON object"),
        (orjson.dumps({"type": "Greeting"}), "malformed", "envelope lacks"),
        (_wire("NoSuchRecord", 1, {}), "unknown_type", "NoSuchRecord"),
        (_wire("Greeting", 4, {}), "unknown_version", "newer than this consumer knows"),
        (_wire("Greeting", 3, {"first": "A"}), "invalid", "last"),
    ],
)
def test_unreadable_messages_raise_a_clear_decode_error(
    raw: bytes, kind: str, fragment: str
) -> None:
    codec = Codec([Greeting], {("Greeting", 1): _v1_to_v2, ("Greeting", 2): _v2_to_v3})
    with pytest.raises(DecodeError) as caught:
        codec.decode(raw)
    assert caught.value.kind == kind
    assert fragment in str(caught.value)


def test_a_missing_upcaster_is_an_unknown_version_not_a_crash() -> None:
    codec = Codec([Greeting], {("Greeting", 2): _v2_to_v3})
    with pytest.raises(DecodeError, match="no upcaster for Greeting v1") as caught:
        codec.decode(_wire("Greeting", 1, {"name": "A B"}))
    assert caught.value.kind == "unknown_version"


def test_the_catalogue_covers_every_record_and_gives_each_data_topic_a_dead_letter_topic() -> None:
    carried = {r for spec in CATALOGUE for r in spec.records}
    assert carried == set(ALL_RECORDS)
    names = {spec.name for spec in CATALOGUE}
    for spec in DATA_TOPICS:
        assert spec.dead_letter in names
        assert spec.partitions >= 3, "several partitions, so services scale by replicas"

"""The merge rule: exact duplicates, location merges, near-duplicates, per-run state."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from schemas.dedupe import (
    MAX_KEPT_PER_GROUP,
    AccuracyMode,
    Duplicate,
    GroupState,
    Keep,
    Merge,
    decide,
    remove_location_mentions,
)
from schemas.identity import dedupe_key, job_hash
from schemas.records import DedupedJob, JobMerged, Location, Outcome, RawJob
from services.ingestor.deduper import dedupe_one
from services.ingestor.feeds import FeedReader, ParsedJob
from tests.feed_sources import local_settings

EXAMPLES = Path(__file__).parents[2] / "examples" / "feeds"
AUSTIN = Location(city="Austin", state="TX", country="US")
DENVER = Location(city="Denver", state="CO", country="US")
TEXT = "Build SQL and Python pipelines that turn point of sale data into weekly demand forecasts."


def test_location_mentions_are_removed_without_eating_sentences() -> None:
    text = "This role is based in Austin, TX. You own dashboards in the heart of our team."
    assert (
        remove_location_mentions(text)
        == "This role is  . You own dashboards in the heart of our team."
    )


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        ("LOCATED IN Boston, MA 02114, USA now", "now"),
        ("Relocation to New York City, NY", ""),
        ("Location: Austin. Work from Denver", ""),
        ("In Austin", ""),
        ("within Boston, again Boston, _in Boston", "within Boston, again Boston, _in Boston"),
        ("begin at noon; x,at Boston", "begin at noon; x,"),
    ],
)
def test_location_triggers_match_any_case_only_at_a_word_start(text: str, kept: str) -> None:
    assert " ".join(remove_location_mentions(text).split()) == kept


async def test_sample_austin_denver_pair_merges_in_pass_one() -> None:
    mapping = json.loads((EXAMPLES / "sample-mapping.json").read_text())
    reader = FeedReader(
        str(EXAMPLES / "sample-feed.xml"), mapping=mapping, settings=local_settings()
    )
    jobs = [item.job async for item in reader if isinstance(item, ParsedJob)]
    austin, denver = (j for j in jobs if j.title == "Senior Data Analyst")
    assert job_hash(austin) != job_hash(denver)
    raws = [
        RawJob(
            run_id="r1",
            feed_id=1,
            seq=seq,
            job_hash=job_hash(job),
            job=job,
            dedupe_key=dedupe_key(job.title, job.company_name, job.employment_type),
        )
        for seq, job in ((2, austin), (3, denver))
    ]
    table: dict[bytes, bytes] = {}  # what the Faust table holds, key by key
    first, second = (dedupe_one(table, raw) for raw in raws)
    assert isinstance(first, DedupedJob) and first.job_hash == raws[0].job_hash
    assert isinstance(second, JobMerged)
    assert (second.kept_hash, second.outcome, second.locations) == (
        raws[0].job_hash,
        Outcome.MERGED,
        (DENVER,),
    )
    json.loads(table[raws[0].dedupe_key.encode()])  # the state must fit a Faust table as JSON


def test_same_hash_is_duplicate_or_location_merge() -> None:
    state, _ = decide(None, run_id="r", seq=1, job_hash="h1", description=TEXT, locations=[AUSTIN])
    state, same = decide(
        state, run_id="r", seq=2, job_hash="h1", description=TEXT, locations=[AUSTIN]
    )
    state, moved = decide(
        state, run_id="r", seq=3, job_hash="h1", description=TEXT, locations=[DENVER]
    )
    assert same == Duplicate("h1")
    assert moved == Merge("h1", (DENVER,))


def test_different_descriptions_are_both_kept() -> None:
    other = "Drive a forklift in the warehouse and load trucks on the night shift every week."
    state, _ = decide(None, run_id="r", seq=1, job_hash="h1", description=TEXT, locations=[AUSTIN])
    state, decision = decide(
        state, run_id="r", seq=2, job_hash="h2", description=other, locations=[DENVER]
    )
    assert decision == Keep() and len(state["kept"]) == 2


def test_empty_descriptions_never_merge_by_similarity() -> None:
    state, _ = decide(None, run_id="r", seq=1, job_hash="h1", description="", locations=[])
    _, decision = decide(state, run_id="r", seq=2, job_hash="h2", description="", locations=[])
    assert decision == Keep()


def test_state_from_another_run_is_discarded() -> None:
    state, _ = decide(None, run_id="r1", seq=1, job_hash="h1", description=TEXT, locations=[AUSTIN])
    state, decision = decide(
        state, run_id="r2", seq=1, job_hash="h1", description=TEXT, locations=[AUSTIN]
    )
    assert decision == Keep() and state["run_id"] == "r2" and len(state["kept"]) == 1


def test_redelivered_records_get_the_same_decision() -> None:
    state, _ = decide(None, run_id="r", seq=1, job_hash="h1", description=TEXT, locations=[AUSTIN])
    state, merged = decide(
        state, run_id="r", seq=2, job_hash="h1", description=TEXT, locations=[DENVER]
    )
    _, again_kept = decide(
        state, run_id="r", seq=1, job_hash="h1", description=TEXT, locations=[AUSTIN]
    )
    _, again_merged = decide(
        state, run_id="r", seq=2, job_hash="h1", description=TEXT, locations=[DENVER]
    )
    assert (again_kept, again_merged) == (Keep(), merged)


def test_input_state_is_not_mutated_and_size_is_bounded() -> None:
    state: GroupState | None = None
    for seq in range(MAX_KEPT_PER_GROUP + 5):
        text = f"unique posting number {seq} " + " ".join(f"w{seq}x{i}" for i in range(20))
        before = json.dumps(state)
        state, decision = decide(
            state, run_id="r", seq=seq, job_hash=f"h{seq}", description=text, locations=[]
        )
        assert decision == Keep()
    assert state is not None and len(state["kept"]) == MAX_KEPT_PER_GROUP and state["overflow"] == 5
    assert json.dumps(state) != before


def test_accurate_mode_merges_what_balanced_does_not() -> None:
    edited = TEXT + " Also maintain the data catalogue and mentor two junior analysts."
    for mode, expected in (
        (AccuracyMode.BALANCED, Keep()),
        (AccuracyMode.ACCURATE, Merge("h1", ())),
    ):
        state, _ = decide(
            None, run_id="r", seq=1, job_hash="h1", description=TEXT, locations=[], mode=mode
        )
        _, decision = decide(
            state, run_id="r", seq=2, job_hash="h2", description=edited, locations=[], mode=mode
        )
        assert decision == expected

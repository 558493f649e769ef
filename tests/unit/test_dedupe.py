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
    group_key,
    judge,
    remove_location_mentions,
)
from schemas.identity import dedupe_key, job_hash
from schemas.records import DedupedJob, JobMerged, JobPosting, Location, Outcome, RawJob
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
    # the state must fit a Faust table as JSON
    json.loads(table[group_key(1, raws[0].dedupe_key.encode())])


def _posting_raws(run_id: str, feed_id: int) -> list[RawJob]:
    """A feed's run: the same nurse job in three cities, plus one of its own."""
    text = "<p>Provide patient care on a busy surgical ward with a caring team.</p>"
    cities = [(text, Location(city=city, country="US")) for city in ("Austin", "Denver", "Boise")]
    own = (f"<p>Night shift porter for feed {feed_id} only.</p>", None)
    raws = []
    for seq, (html, place) in enumerate([*cities, own]):
        job = JobPosting(
            title="Nurse",
            company_name="Acme",
            description_html=html,
            locations=(place,) if place else (),
        )
        key = dedupe_key(job.title, job.company_name, job.employment_type)
        raws.append(
            RawJob(
                run_id=run_id,
                feed_id=feed_id,
                seq=seq,
                job_hash=job_hash(job),
                job=job,
                dedupe_key=key,
            )
        )
    return raws


def test_two_feeds_sharing_dedupe_keys_at_once_decide_as_one_after_the_other() -> None:
    """Interleaved runs of two feeds with the same keys must not reset each other's groups."""
    feed_a, feed_b = _posting_raws("run-a", 1), _posting_raws("run-b", 2)
    assert {r.dedupe_key for r in feed_a} == {r.dedupe_key for r in feed_b}

    apart: dict[bytes, bytes] = {}
    one_after_other = [dedupe_one(apart, raw) for raw in feed_a + feed_b]
    together: dict[bytes, bytes] = {}
    interleaved = [
        dedupe_one(together, raw) for pair in zip(feed_a, feed_b, strict=True) for raw in pair
    ]

    def by_run(outputs: list[DedupedJob | JobMerged]) -> dict[tuple[str, int], object]:
        return {(o.run_id, o.seq): o for o in outputs}

    assert by_run(interleaved) == by_run(one_after_other)
    merged = [o for o in interleaved if isinstance(o, JobMerged)]
    assert len(merged) == 4, "each feed merged Denver and Boise into Austin"


def test_same_hash_is_duplicate_or_location_merge() -> None:
    state, _ = judge(None, run_id="r", seq=1, job_hash="h1", description=TEXT, locations=[AUSTIN])
    state, same = judge(
        state, run_id="r", seq=2, job_hash="h1", description=TEXT, locations=[AUSTIN]
    )
    state, moved = judge(
        state, run_id="r", seq=3, job_hash="h1", description=TEXT, locations=[DENVER]
    )
    assert same == Duplicate("h1")
    assert moved == Merge("h1", (DENVER,))


def test_different_descriptions_are_both_kept() -> None:
    other = "Drive a forklift in the warehouse and load trucks on the night shift every week."
    state, _ = judge(None, run_id="r", seq=1, job_hash="h1", description=TEXT, locations=[AUSTIN])
    state, verdict = judge(
        state, run_id="r", seq=2, job_hash="h2", description=other, locations=[DENVER]
    )
    assert verdict == Keep() and len(state["kept"]) == 2


def test_empty_descriptions_never_merge_by_similarity() -> None:
    state, _ = judge(None, run_id="r", seq=1, job_hash="h1", description="", locations=[])
    _, verdict = judge(state, run_id="r", seq=2, job_hash="h2", description="", locations=[])
    assert verdict == Keep()


def test_state_from_another_run_is_discarded() -> None:
    state, _ = judge(None, run_id="r1", seq=1, job_hash="h1", description=TEXT, locations=[AUSTIN])
    state, verdict = judge(
        state, run_id="r2", seq=1, job_hash="h1", description=TEXT, locations=[AUSTIN]
    )
    assert verdict == Keep() and state["run_id"] == "r2" and len(state["kept"]) == 1


def test_redelivered_records_get_the_same_decision() -> None:
    state, _ = judge(None, run_id="r", seq=1, job_hash="h1", description=TEXT, locations=[AUSTIN])
    state, merged = judge(
        state, run_id="r", seq=2, job_hash="h1", description=TEXT, locations=[DENVER]
    )
    _, again_kept = judge(
        state, run_id="r", seq=1, job_hash="h1", description=TEXT, locations=[AUSTIN]
    )
    _, again_merged = judge(
        state, run_id="r", seq=2, job_hash="h1", description=TEXT, locations=[DENVER]
    )
    assert (again_kept, again_merged) == (Keep(), merged)


def test_input_state_is_not_mutated_and_size_is_bounded() -> None:
    state: GroupState | None = None
    for seq in range(MAX_KEPT_PER_GROUP + 5):
        text = f"unique posting number {seq} " + " ".join(f"w{seq}x{i}" for i in range(20))
        before = json.dumps(state)
        state, verdict = judge(
            state, run_id="r", seq=seq, job_hash=f"h{seq}", description=text, locations=[]
        )
        assert verdict == Keep()
    assert state is not None and len(state["kept"]) == MAX_KEPT_PER_GROUP and state["overflow"] == 5
    assert json.dumps(state) != before


def test_accurate_mode_merges_what_balanced_does_not() -> None:
    edited = TEXT + " Also maintain the data catalogue and mentor two junior analysts."
    for mode, expected in (
        (AccuracyMode.BALANCED, Keep()),
        (AccuracyMode.ACCURATE, Merge("h1", ())),
    ):
        state, _ = judge(
            None, run_id="r", seq=1, job_hash="h1", description=TEXT, locations=[], mode=mode
        )
        _, verdict = judge(
            state, run_id="r", seq=2, job_hash="h2", description=edited, locations=[], mode=mode
        )
        assert verdict == expected

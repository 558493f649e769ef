"""Dedupe benchmark (suite "dedupe"): pass-1 accuracy and speed on a generated feed.

The feed (`bench.feedgen`) holds known exact duplicates, multi-location duplicates (half of
them naming their city in the description) and siblings (same title, company and type,
another job). Every record goes through `dedupe_one`, the agent's per-record logic, with a
dict as the table. A detection counts as correct only with the right outcome *and* the
right kept job (the original the generator copied):

* exact duplicates: outcome `duplicate`; precision over everything called `duplicate`,
  recall over every true exact duplicate;
* multi-location duplicates: outcome `merged` with the new location; precision over
  everything called `merged`, recall over every true multi-location duplicate.

Two rates, in jobs per CPU-second: through `dedupe_one` (state decode, decision, state
encode), and through the agent's whole per-record path: the RawJob message decoded, the
decision, and the output message encoded (what a replica does besides Kafka I/O).

    python -m bench --only dedupe [--quick]
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.feedgen import write_feed
from bench.report import Measurement
from schemas.codec import CODEC
from schemas.dedupe import StateTable
from schemas.records import DedupedJob, JobMerged, Outcome, RawJob
from services.ingestor import handlers
from services.ingestor.deduper import DedupeOutput, dedupe_one, output_key
from services.ingestor.feeds import FeedReader, FeedSettings, ParsedJob

SUITE = "dedupe"
JOBS = 50_000
QUICK_JOBS = 10_000


@dataclass(frozen=True, slots=True)
class Score:
    precision: float
    recall: float
    predicted: int
    actual: int


async def run(quick: bool) -> list[Measurement]:
    jobs = QUICK_JOBS if quick else JOBS
    with tempfile.TemporaryDirectory(prefix="jobstream-dedupe-bench-") as work:
        feed = Path(work) / "feed.xml"
        truth = write_feed(feed, jobs, seed=3)
        raws = await read_raw_jobs(feed)
    outputs, seconds = timed_dedupe(raws)
    agent_seconds = timed_agent_path([CODEC.encode(raw, source="bench") for raw in raws])
    exact = score(outputs, raws, truth.exact, Outcome.DUPLICATE)
    multi = score(outputs, raws, truth.multi, Outcome.MERGED)
    kept = sum(isinstance(o, DedupedJob) for o in outputs)
    note = f"{jobs:,} jobs, {kept:,} kept"
    return [
        Measurement(SUITE, "exact duplicates precision", exact.precision, "", ">= 0.99",
                    f"{exact.predicted:,} called duplicate"),
        Measurement(SUITE, "exact duplicates recall", exact.recall, "", ">= 0.99",
                    f"{exact.actual:,} in the feed"),
        Measurement(SUITE, "multi-location precision", multi.precision, "", ">= 0.95",
                    f"{multi.predicted:,} called merged"),
        Measurement(SUITE, "multi-location recall", multi.recall, "", ">= 0.95",
                    f"{multi.actual:,} in the feed, half naming their city"),
        Measurement(SUITE, "dedupe_one throughput", len(raws) / seconds, "jobs/s", ">= 10000",
                    f"{note}; dict table, one core"),
        Measurement(SUITE, "dedupe agent path throughput", len(raws) / agent_seconds, "jobs/s",
                    ">= 10000", "message decoded, dedupe_one, output encoded; one core"),
    ]  # fmt: skip


async def read_raw_jobs(feed: Path) -> list[RawJob]:
    """The RawJobs the ingestor would publish for this feed, `seq` = record index."""
    reader = FeedReader(str(feed), mapping=None, settings=FeedSettings())
    raws: list[RawJob] = []
    async for item in reader:
        if isinstance(item, ParsedJob):
            raws.append(handlers.raw_job("bench-run", 1, len(raws), item.job))
    return raws


def timed_dedupe(raws: Sequence[RawJob]) -> tuple[list[DedupeOutput], float]:
    table: StateTable = {}
    started = time.process_time()
    outputs = [dedupe_one(table, raw) for raw in raws]
    return outputs, time.process_time() - started


def timed_agent_path(messages: Sequence[bytes]) -> float:
    """CPU seconds for the agent's per-record work over these `jobs.raw` messages."""
    table: StateTable = {}
    started = time.process_time()
    for message in messages:
        raw = CODEC.decode(message)
        assert isinstance(raw, RawJob)
        output = dedupe_one(table, raw)
        output_key(output).encode()
        CODEC.encode(output, source="ingestor")
    return time.process_time() - started


def score(
    outputs: Sequence[DedupeOutput],
    raws: Sequence[RawJob],
    truth: Mapping[int, int],
    outcome: Outcome,
) -> Score:
    """Precision and recall of `outcome` against the true (record -> original) pairs."""
    called = [o for o in outputs if isinstance(o, JobMerged) and o.outcome is outcome]
    right = sum(1 for o in called if o.seq in truth and o.kept_hash == raws[truth[o.seq]].job_hash)
    return Score(
        precision=right / len(called) if called else 1.0,
        recall=right / len(truth) if truth else 1.0,
        predicted=len(called),
        actual=len(truth),
    )

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

Three rates. In jobs per CPU-second: through `dedupe_one` (state decode, decision, state
encode), and through the agent's per-record code: the RawJob message decoded, the
decision, the output message encoded. Then, on a real broker (a throwaway stack of
its own, so nothing is left queued on the dev stack), through the real agent: one ingestor
process (Faust, its table and changelog, acks=all) while the bench publishes the RawJobs
to `jobs.raw` (with the services' producer settings, as the ingestor would) and waits for
every output on `jobs.deduped`; wall time, first send to last output. A warm-up run goes
first: a broker fresh from start-up spends twice the CPU per message while its JIT compiles,
and a deployed broker is long past that. The CPU the worker and the broker spent in that
time, per job, tells what a replica with a core of its own would reach and what a target
rate costs in cores, whatever else the shared machine was doing.

    python -m bench --only dedupe [--quick]
"""

from __future__ import annotations

import tempfile
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from bench.cpu import process_cpu_s
from bench.feedgen import write_feed
from bench.report import FeedSizes, Measurement
from bench.stacks import throwaway_pipeline
from cli import pipeline
from cli.stack import kafka
from schemas import topics
from schemas.codec import CODEC
from schemas.dedupe import StateTable
from schemas.records import DedupedJob, JobMerged, Outcome, RawJob
from services.ingestor import handlers
from services.ingestor.deduper import DedupeOutput, dedupe_one, output_key
from services.ingestor.feeds import FeedReader, FeedSettings, ParsedJob
from services.shared.partitioner import partition_for
from services.shared.streaming import COMPRESSION, PRODUCER_BATCH_BYTES, PRODUCER_LINGER_S

SUITE = "dedupe"
SIZES = FeedSizes(full=50_000, quick=10_000, warm_up=3_000)
AGENT_TIMEOUT_S = 300.0


@dataclass(frozen=True, slots=True)
class AgentRun:
    """One timed run through the real agent: wall time, and CPU time per process."""

    jobs: int
    seconds: float
    worker_cpu_s: float
    broker_cpu_s: float

    def ms_per_job(self, cpu_s: float) -> float:
        return cpu_s / self.jobs * 1000


@dataclass(frozen=True, slots=True)
class Score:
    precision: float
    recall: float
    predicted: int
    actual: int


async def run(quick: bool) -> list[Measurement]:
    jobs = SIZES.timed(quick)
    with tempfile.TemporaryDirectory(prefix="jobstream-dedupe-bench-") as work:
        feed = Path(work) / "feed.xml"
        truth = write_feed(feed, jobs, seed=3)
        raws = await read_raw_jobs(feed)
    outputs, seconds = timed_dedupe(raws)
    agent_seconds = timed_agent_path([CODEC.encode(raw, source="bench") for raw in raws])
    agent = await through_the_agent(raws[: SIZES.quick])
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
        Measurement(SUITE, "dedupe agent code throughput", len(raws) / agent_seconds, "jobs/s",
                    None, "message decoded, dedupe_one, output encoded; one core"),
        Measurement(SUITE, "through the agent on the broker", agent.jobs / agent.seconds,
                    "jobs/s", ">= 10000", f"{agent.jobs:,} jobs; one ingestor process, wall time"),
        Measurement(SUITE, "agent worker CPU per job", agent.ms_per_job(agent.worker_cpu_s),
                    "ms", None, "the ingestor process: Faust, aiokafka and the agent's code"),
        Measurement(SUITE, "jobs/s per agent core", agent.jobs / agent.worker_cpu_s, "jobs/s",
                    None, "what one replica reaches with a core of its own"),
        Measurement(SUITE, "broker CPU per job", agent.ms_per_job(agent.broker_cpu_s), "ms",
                    None, "Kafka: jobs.raw in and out, output and changelog in, output out"),
    ]  # fmt: skip


async def read_raw_jobs(feed: Path) -> list[RawJob]:
    """The RawJobs the ingestor would publish for this feed, `seq` = record index."""
    reader = FeedReader(str(feed), mapping=None, settings=FeedSettings(local_dirs=(feed.parent,)))
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


async def through_the_agent(raws: Sequence[RawJob]) -> AgentRun:
    """From the first RawJob sent to the last output seen, through a real ingestor."""
    async with throwaway_pipeline(["ingestor-0"]) as (info, config):
        worker, broker = pipeline.running(config)["ingestor-0"], kafka.running_pid(config.stack)
        assert worker is not None and broker is not None
        return await _time_agent(info.bootstrap, raws, (worker, broker))


async def _time_agent(bootstrap: str, raws: Sequence[RawJob], pids: tuple[int, int]) -> AgentRun:
    warm_up, timed = f"bench-{uuid.uuid4().hex}", f"bench-{uuid.uuid4().hex}"
    outputs = AIOKafkaConsumer(
        topics.JOBS_DEDUPED.name, bootstrap_servers=bootstrap, auto_offset_reset="latest"
    )
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        compression_type=COMPRESSION,
        partitioner=partition_for,
        max_batch_size=PRODUCER_BATCH_BYTES,
        linger_ms=int(PRODUCER_LINGER_S * 1000),
    )
    await outputs.start()
    await producer.start()
    try:
        await outputs.seek_to_end()
        # once this run is through, the worker has joined its group and recovered its table
        await _send_all(producer, _messages(raws[: SIZES.warm_up], warm_up))
        await _await_outputs(outputs, warm_up.encode(), min(SIZES.warm_up, len(raws)))
        messages = _messages(raws, timed)  # a fresh run: no state of earlier runs applies
        cpu_before = [process_cpu_s(pid) for pid in pids]
        started = time.perf_counter()
        await _send_all(producer, messages)
        await _await_outputs(outputs, timed.encode(), len(messages))
        seconds = time.perf_counter() - started
        worker_cpu_s, broker_cpu_s = (
            process_cpu_s(pid) - before for pid, before in zip(pids, cpu_before, strict=True)
        )
        return AgentRun(len(messages), seconds, worker_cpu_s, broker_cpu_s)
    finally:
        await producer.stop()
        await outputs.stop()


def _messages(raws: Sequence[RawJob], run_id: str) -> list[tuple[bytes, bytes]]:
    return [
        (
            raw.dedupe_key.encode(),
            CODEC.encode(raw.model_copy(update={"run_id": run_id}), source="bench"),
        )
        for raw in raws
    ]


async def _send_all(producer: AIOKafkaProducer, messages: Sequence[tuple[bytes, bytes]]) -> None:
    for key, value in messages:
        await producer.send(topics.JOBS_RAW.name, value, key=key)
    await producer.flush()


async def _await_outputs(outputs: AIOKafkaConsumer, run_id: bytes, expected: int) -> None:
    seen = 0
    deadline = time.monotonic() + AGENT_TIMEOUT_S
    while seen < expected:
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"the agent gave {seen} of {expected} outputs in {AGENT_TIMEOUT_S} s"
            )
        batches = await outputs.getmany(timeout_ms=500, max_records=5_000)
        seen += sum(run_id in message.value for batch in batches.values() for message in batch)


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

"""The topic catalogue: the only place a topic name is written down."""

from __future__ import annotations

from dataclasses import dataclass

from schemas.records import (
    ArchiveDecided,
    DeadLetter,
    DedupedJob,
    EnrichedJob,
    FeedRequested,
    IngestFinished,
    JobMerged,
    JobsUnchanged,
    RawJob,
    Record,
    RoutedJob,
    RunCompleted,
    RunFailRequested,
    RunStarted,
)

DAY_MS = 24 * 60 * 60 * 1000

# Retention and replay: `jobstream replay` re-reads a past run from `jobs.deduped` (stage
# enrich) or `jobs.enriched` (stage route), so a run can be replayed for as long as those keep
# it: 7 days. `runs.events` (30 days) must outlive any run in progress and the replays of it;
# dead letters are kept 30 days for `jobstream dlq` to redrive. The changelogs only need to
# cover one run (2 days). Lowering a retention below these shortens what can be replayed.


@dataclass(frozen=True, slots=True)
class TopicSpec:
    name: str
    records: tuple[type[Record], ...]
    key: str  # what the message key holds, for people
    partitions: int
    retention_ms: int
    dead_letter: str | None = None
    compacted: bool = False  # a table's changelog keeps the last value per key

    def configs(self) -> dict[str, str]:
        """Topic-level Kafka configs this topic is created with.

        A changelog is compacted (the last value per key) and also expires by age: dedupe
        state only matters within a run, so a key not written for `retention_ms` is dead
        weight that every worker start would otherwise read back.
        """
        retention = {"retention.ms": str(self.retention_ms)}
        return {"cleanup.policy": "compact,delete", **retention} if self.compacted else retention


def _dlq(name: str) -> str:
    return f"{name}.dlq"


FEEDS_REQUESTED = TopicSpec(
    "feeds.requested", (FeedRequested,), "feed_id", 3, 30 * DAY_MS, _dlq("feeds.requested")
)
# The dedupe table (a Faust changelog) is co-partitioned with jobs.raw: same partition count.
JOBS_RAW = TopicSpec("jobs.raw", (RawJob,), "dedupe key", 6, 7 * DAY_MS, _dlq("jobs.raw"))
JOBS_DEDUPED = TopicSpec(
    "jobs.deduped", (DedupedJob, JobMerged), "job_hash", 6, 7 * DAY_MS, _dlq("jobs.deduped")
)
JOBS_ENRICHED = TopicSpec(
    "jobs.enriched",
    (EnrichedJob, JobMerged, JobsUnchanged),
    "pass-2 key",
    6,
    7 * DAY_MS,
    _dlq("jobs.enriched"),
)
JOBS_ROUTED = TopicSpec("jobs.routed", (RoutedJob,), "job_hash", 6, 7 * DAY_MS, _dlq("jobs.routed"))
RUNS_EVENTS = TopicSpec(
    "runs.events",
    (RunStarted, IngestFinished, RunCompleted, ArchiveDecided, RunFailRequested),
    "run_id",
    3,
    30 * DAY_MS,
    _dlq("runs.events"),
)

# Faust table changelogs (`<app id>-<table>-changelog`), created up front like every other
# topic: a consumer that meets a changelog created at start-up may not see its partitions yet.
# State older than STATE_TTL_MS is forgotten (a run never lasts that long).
STATE_TTL_MS = 2 * DAY_MS
DEDUPE_PASS1_CHANGELOG = TopicSpec(
    "jobstream-ingestor-dedupe-pass1-changelog", (), "dedupe key", JOBS_RAW.partitions,
    STATE_TTL_MS, compacted=True,
)  # fmt: skip
DEDUPE_PASS2_CHANGELOG = TopicSpec(
    "jobstream-router-dedupe-pass2-changelog", (), "pass-2 key", JOBS_ENRICHED.partitions,
    STATE_TTL_MS, compacted=True,
)  # fmt: skip
TABLE_CHANGELOGS: tuple[TopicSpec, ...] = (DEDUPE_PASS1_CHANGELOG, DEDUPE_PASS2_CHANGELOG)

# The topics a job flows through and their changelogs: the ones whose partition count bounds
# how many replicas of a service share the work (KAFKA_JOB_PARTITIONS sizes them together).
JOB_TOPICS: tuple[TopicSpec, ...] = (
    JOBS_RAW, JOBS_DEDUPED, JOBS_ENRICHED, JOBS_ROUTED, *TABLE_CHANGELOGS,
)  # fmt: skip

DATA_TOPICS: tuple[TopicSpec, ...] = (
    FEEDS_REQUESTED,
    JOBS_RAW,
    JOBS_DEDUPED,
    JOBS_ENRICHED,
    JOBS_ROUTED,
    RUNS_EVENTS,
)
DEAD_LETTER_TOPICS: tuple[TopicSpec, ...] = tuple(
    TopicSpec(t.dead_letter, (DeadLetter,), t.key, 1, 30 * DAY_MS)
    for t in DATA_TOPICS
    if t.dead_letter
)
CATALOGUE: tuple[TopicSpec, ...] = DATA_TOPICS + DEAD_LETTER_TOPICS + TABLE_CHANGELOGS


def by_name(name: str) -> TopicSpec:
    for spec in CATALOGUE:
        if spec.name == name:
            return spec
    raise KeyError(f"no topic {name!r} in the catalogue")

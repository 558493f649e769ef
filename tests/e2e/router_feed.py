"""The router's end-to-end feed (`tests/data/feeds/router-30.xml`): copies, edits, snapshots.

Job identity is content, so each test runs its own copy with its own company names; the
expected table contents below are written with the names as the file has them, and the
snapshots strip each copy's tag before comparing.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import re
import uuid
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from cli import control
from cli.stack import StackInfo
from cli.stack.config import PROJECT_ROOT
from schemas import topics
from schemas.codec import CODEC
from schemas.records import RunCompleted
from schemas.report import ExecutionReport
from schemas.status import JobStatus

ROUTER_FEED = PROJECT_ROOT / "tests" / "data" / "feeds" / "router-30.xml"
MAPPING = json.loads((PROJECT_ROOT / "examples" / "feeds" / "sample-mapping.json").read_text())
RUN_TIMEOUT_S = 120.0
JOB_TABLES = ("open_jobs", "manual_review_jobs", "rejected_jobs", "archive_jobs")
ROUTER_GROUP = "jobstream-router.jobs.enriched"  # streaming.group_of("router", JOBS_ENRICHED)

_APPROVED = "confidence {:.2f} >= 0.86"
_MANUAL = "confidence {:.2f} < 0.86"
_REJECTED = "confidence {:.2f} < 0.50"

# What run 1 of router-30.xml leaves in each table: (title, status, route_reason, location_string).
# 30 record blocks: 29 records (1 malformed), 2 closed, 2 exact duplicates, 3 locations
# merged in pass 1 (Austin+Denver, Portland+Boise+Spokane), none in pass 2: the Cascade nurse
# jobs keep different AI titles ("... Medical Surgical", "... Labor and Delivery"), so each
# stays a job of its own. test_merges_and_run_lock.py produces a pass-2 merge.
Row = tuple[str, str, str, str]
EXPECTED_RUN_1: dict[str, list[Row]] = {
    "open_jobs": [
        ("Data Analyst", JobStatus.ACTIVE, _APPROVED.format(0.97), "Chicago IL US"),
        ("Financial Analyst", JobStatus.ACTIVE, _APPROVED.format(0.97), "Hartford CT US"),
        ("Marketing Manager", JobStatus.ACTIVE, _APPROVED.format(0.97), "Atlanta GA US"),
        ("Marketing Manager", JobStatus.ACTIVE, _APPROVED.format(0.97), "Phoenix AZ US"),
        ("Product Marketing Manager", JobStatus.ACTIVE,
         _APPROVED.format(0.97), "San Francisco CA US"),
        ("Registered Nurse - Cardiac ICU", JobStatus.ACTIVE,
         _APPROVED.format(0.94), "Boston MA US"),
        ("Registered Nurse - Emergency Department", JobStatus.ACTIVE, _APPROVED.format(0.94),
         "Columbus OH US"),
        ("Registered Nurse - Medical Surgical", JobStatus.ACTIVE,
         _APPROVED.format(0.94), "Seattle WA US"),
        ("Senior Data Analyst", JobStatus.ACTIVE,
         _APPROVED.format(0.97), "Austin TX US, Denver CO US"),
    ],
    "manual_review_jobs": [
        ("Customer Support Agent", JobStatus.MANUAL_REVIEW, _MANUAL.format(0.51), "Dallas TX US"),
        ("Customer Support Representative", JobStatus.MANUAL_REVIEW,
         _MANUAL.format(0.59), "Tampa FL US"),
        ("Customer Support Specialist", JobStatus.MANUAL_REVIEW, _MANUAL.format(0.59),
         "Boise ID US, Portland OR US, Spokane WA US"),
        ("Customer Support Specialist (Remote, Part Time)", JobStatus.MANUAL_REVIEW,
         _MANUAL.format(0.59), "CA US"),
        ("Help Desk Support Technician", JobStatus.MANUAL_REVIEW,
         _MANUAL.format(0.59), "Tampa FL US"),
        ("Registered Nurse - Labor and Delivery", JobStatus.MANUAL_REVIEW, _MANUAL.format(0.60),
         "Tacoma WA US"),
    ],
    "rejected_jobs": [
        ("CDL-A Truck Driver", JobStatus.REJECTED, _REJECTED.format(0.13), "Omaha NE US"),
        ("Delivery Driver", JobStatus.REJECTED, _REJECTED.format(0.13), "Memphis TN US"),
        ("Dishwasher", JobStatus.REJECTED, _REJECTED.format(0.11), "Atlanta GA US"),
        ("Forklift Operator", JobStatus.REJECTED, _REJECTED.format(0.12), "Sparks NV US"),
        ("Janitor", JobStatus.REJECTED, _REJECTED.format(0.12), "Boise ID US"),
        ("Marketing Coordinator", JobStatus.REJECTED, "closed", "Phoenix AZ US"),
        ("Package Handler", JobStatus.REJECTED, _REJECTED.format(0.12), "Louisville KY US"),
        ("Registered Nurse - Oncology", JobStatus.REJECTED, "closed", "Boston MA US"),
        ("Warehouse Associate", JobStatus.REJECTED, _REJECTED.format(0.12), "Reno NV US"),
    ],
    "archive_jobs": [],
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class FeedCopy:
    """One test's copy of the feed: its text, where it lives and the tag in its company names."""

    tag: str
    text: str
    directory: Path

    def write(self, name: str, text: str | None = None) -> Path:
        path = self.directory / f"{name}-{self.tag}.xml"
        path.write_text(self.text if text is None else text)
        return path

    def write_truncated(self, name: str, text: str, keep_share: float) -> Path:
        """Gzipped and cut short: the fetch reports a truncated body after some records."""
        packed = gzip.compress(text.encode())
        path = self.directory / f"{name}-{self.tag}.xml.gz"
        path.write_bytes(packed[: int(len(packed) * keep_share)])
        return path


def own_copy(directory: Path) -> FeedCopy:
    tag = uuid.uuid4().hex[:8]
    # Only non-empty names, so an empty company stays empty.
    text = re.sub(r"(<company>(?:<!\[CDATA\[)?)(?=\w)", rf"\g<1>{tag} ", ROUTER_FEED.read_text())
    return FeedCopy(tag, text, directory)


def _block(ref: str) -> re.Pattern[str]:
    return re.compile(
        rf"  <job>\n(?:(?!</job>).)*?<referencenumber><!\[CDATA\[{re.escape(ref)}\]\]>"
        r"(?:(?!</job>).)*</job>\n",
        re.DOTALL,
    )


def without_jobs(text: str, refs: Iterable[str]) -> str:
    for ref in refs:
        text, found = _block(ref).subn("", text)
        assert found == 1, ref
    return text


def closing_job(text: str, ref: str, status: str = "Filled") -> str:
    def close(match: re.Match[str]) -> str:
        return match.group(0).replace("[CDATA[Active]]", f"[CDATA[{status}]]")

    text, found = _block(ref).subn(close, text)
    assert found == 1, ref
    return text


EMPTY_FEED = '<?xml version="1.0" encoding="utf-8"?>\n<source>\n</source>\n'


async def run_feed(stack: StackInfo, copy: FeedCopy, path: Path) -> tuple[int, ExecutionReport]:
    """Points the copy's feed (created on first use) at `path`, runs it: (feed id, report)."""
    feed_id = await control.ensure_feed(
        stack.dsn, name=f"router-e2e-{copy.tag}", source_url=str(path), mapping=MAPPING
    )
    run_id = await control.request_run(stack.bootstrap, feed_id)
    report = await control.wait_for_report(stack.dsn, run_id, timeout_s=RUN_TIMEOUT_S)
    return feed_id, report


async def key_fields(dsn: str, feed_id: int) -> dict[str, list[Row]]:
    """Each table's (title, status, route_reason, location_string), sorted, tag removed."""
    conn = await control.connect(dsn)
    try:
        found: dict[str, list[Row]] = {}
        for table in JOB_TABLES:
            rows = await conn.fetch(
                f"SELECT title, status, route, route_reason, location_string FROM {table} "
                "WHERE feed_id = $1",
                feed_id,
            )
            for r in rows:
                assert r["route"] == table.removesuffix("_jobs").replace("archive", "archived")
            found[table] = sorted(
                (r["title"], r["status"], r["route_reason"], r["location_string"] or "")
                for r in rows
            )
        return found
    finally:
        await conn.close()


async def snapshot(dsn: str, feed_id: int, run_ids: Iterable[str]) -> dict[str, Any]:
    """Everything the router wrote for this feed and these runs, minus `updated_at` stamps."""
    conn = await control.connect(dsn)
    runs = sorted(run_ids)
    try:
        state: dict[str, Any] = {}
        for table in JOB_TABLES:
            rows = await conn.fetch(f"SELECT * FROM {table} WHERE feed_id = $1", feed_id)
            state[table] = sorted((_stable(r) for r in rows), key=lambda r: r["job_hash"])
        hashes = [r["job_hash"] for t in JOB_TABLES for r in state[t]]
        queries = {
            "job_locations": (
                "SELECT * FROM job_locations WHERE job_hash = ANY($1::text[]) "
                "ORDER BY job_hash, location_key",
                hashes,
            ),
            "run_outcomes": (
                "SELECT * FROM run_outcomes WHERE run_id = ANY($1::text[]) ORDER BY run_id, seq",
                runs,
            ),
            "runs": ("SELECT * FROM runs WHERE run_id = ANY($1::text[]) ORDER BY run_id", runs),
            "execution_reports": (
                "SELECT * FROM execution_reports WHERE run_id = ANY($1::text[]) ORDER BY run_id",
                runs,
            ),
        }
        for name, (query, arg) in queries.items():
            state[name] = [_stable(r) for r in await conn.fetch(query, arg)]
        feed = await conn.fetchrow("SELECT * FROM feeds WHERE id = $1", feed_id)
        assert feed is not None
        state["feeds"] = _stable(feed)
        return state
    finally:
        await conn.close()


def _stable(row: Any) -> dict[str, Any]:
    return {k: v for k, v in dict(row).items() if k != "updated_at"}


def strip_tag(fields: dict[str, list[Row]], tag: str) -> dict[str, list[Row]]:
    """The copy's tag out of the company names the rows carry (titles never have one)."""

    def clean(row: Row) -> Row:
        title, status, reason, where = row
        return (title.replace(f"{tag} ", ""), status, reason, where)

    return {table: sorted(clean(r) for r in rows) for table, rows in fields.items()}


async def completions(bootstrap: str, run_id: str) -> int:
    """How many RunCompleted events runs.events holds for this run."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = [
            TopicPartition(topics.RUNS_EVENTS.name, p) for p in range(topics.RUNS_EVENTS.partitions)
        ]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        seen: Counter[str] = Counter()
        while await _behind(consumer, ends):
            batch = await consumer.getmany(timeout_ms=1000)
            for messages in batch.values():
                for message in messages:
                    record = CODEC.decode(message.value)
                    if isinstance(record, RunCompleted):
                        seen[record.run_id] += 1
        return seen[run_id]
    finally:
        await consumer.stop()


async def enriched_messages(bootstrap: str, run_id: str) -> list[tuple[bytes | None, bytes]]:
    """(key, value) of every jobs.enriched message of this run, as the broker holds them."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    found: list[tuple[bytes | None, bytes]] = []
    try:
        partitions = [
            TopicPartition(topics.JOBS_ENRICHED.name, p)
            for p in range(topics.JOBS_ENRICHED.partitions)
        ]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        while await _behind(consumer, ends):
            batch = await consumer.getmany(timeout_ms=1000)
            for messages in batch.values():
                for message in messages:
                    if getattr(CODEC.decode(message.value), "run_id", None) == run_id:
                        found.append((message.key, message.value))
        return found
    finally:
        await consumer.stop()


async def _behind(consumer: AIOKafkaConsumer, ends: Mapping[TopicPartition, int]) -> bool:
    for partition, end in ends.items():
        if await consumer.position(partition) < end:
            return True
    return False


async def wait_until_router_caught_up(bootstrap: str, timeout_s: float = 60.0) -> None:
    """The router group has committed every jobs.enriched offset the broker holds."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await admin.start()
    await consumer.start()
    try:
        partitions = [
            TopicPartition(topics.JOBS_ENRICHED.name, p)
            for p in range(topics.JOBS_ENRICHED.partitions)
        ]
        ends = await consumer.end_offsets(partitions)
        deadline = asyncio.get_running_loop().time() + timeout_s
        while True:
            committed = await admin.list_consumer_group_offsets(ROUTER_GROUP, partitions=partitions)
            behind = [
                p for p in partitions if (committed.get(p) is None or committed[p].offset < ends[p])
            ]
            if not behind:
                return
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"router still behind on {behind}")
            await asyncio.sleep(0.5)
    finally:
        await consumer.stop()
        await admin.close()

"""One run of a generated feed through the whole pipeline, on a throwaway stack, with faults.

Every run (baseline or scenario) gets a fresh broker, database, Xano emulator and services in
a temp state directory, so no scenario can leave records, offsets or state behind for the
next one. The run is triggered once every consumer group is stable; the scenario's faults run
alongside; the run must then finish and reach Xano by itself within a bound (the stall sweep
is switched off, so nothing closes it for it). Then the pipeline is given time to go idle and
everything a user relies on is read back (`compare.Snapshot`).

Faults are timed on progress, not on the clock: "when jobs.enriched holds 30% of what the
baseline run put there" fires mid-stage on a 2,000-job feed and on a 20,000-job one alike.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import math
import os
import signal
import tempfile
import time
import urllib.request
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.coordinator.protocol import ConsumerProtocolMemberAssignment

from cli import control, pipeline
from cli.pipeline import PipelineConfig
from cli.stack import StackConfig, ensure_up, kafka, postgres_server, shut_down
from cli.stack.config import CLUSTER_KAFKA_HEAP
from cli.stack.processes import is_alive, read_cmdline, wait_until_gone
from schemas import topics
from schemas.records import FINISHED_STATUSES
from services.shared.streaming import group_of
from tests.chaos.compare import JOB_TABLES, REPORT_NOISE, ROW_NOISE, XANO_NOISE, Snapshot, normalise
from tests.feed_sources import pipeline_feed_env

GROUP = "jobstream-"  # every consumer group of ours: jobstream-SERVICE.TOPIC
# Topics whose record counts time the faults (what each stage has produced so far).
PROGRESS_TOPICS = (topics.JOBS_RAW, topics.JOBS_DEDUPED, topics.JOBS_ENRICHED, topics.JOBS_ROUTED)
XANO = "xano records"  # the progress measure of the syncer: records in the emulator

# Quick rebalances as in the tests; the syncer paced so a reconcile takes a few seconds and
# can be hit mid-way; a short Xano timeout so an answer that never comes is a timeout.
CHAOS_ENV = {
    "KAFKA_SESSION_TIMEOUT_S": "6",
    "KAFKA_HEARTBEAT_INTERVAL_S": "0.5",
    "KAFKA_REBALANCE_TIMEOUT_S": "6",
    "ENRICH_BATCH_WITHIN_S": "0.2",
    "ROUTER_BATCH_WITHIN_S": "0.2",
    "XANO_BULK_BATCH_SIZE": "25",
    "XANO_REQUESTS_PER_WINDOW": "5",
    "XANO_WINDOW_SECONDS": "1",
    "XANO_TIMEOUT_SECONDS": "4",
    # No stall sweep: a run must finish by itself, never be closed for it.
    "RUN_STALL_TIMEOUT_S": "86400",
    "ENRICHMENT_BACKEND": "offline",
}
STABLE_GROUPS_TIMEOUT_S = 120.0
# A replica SIGKILLed for good stays in its group until its session times out, then the group
# rebalances: the after-run spread check gives it that long, and the rebalance, to settle.
SETTLE_AFTER_KILL_S = 2 * (
    float(CHAOS_ENV["KAFKA_SESSION_TIMEOUT_S"]) + float(CHAOS_ENV["KAFKA_REBALANCE_TIMEOUT_S"])
)
IDLE_TIMEOUT_S = 60.0
POLL_S = 0.2
OUR_MODULES = frozenset({f"services.{s}" for s in pipeline.SERVICES} | {"emulators.xano"})
SUPERVISE_EVERY_S = 2.0
PARTITIONS = {spec.name: spec.partitions for spec in topics.CATALOGUE}


@dataclass(frozen=True, slots=True)
class Ports:
    """The helper's own test ports (tests/conftest.py's variables), reused run after run."""

    kafka: int
    pg: int
    services: int
    xano: int

    @classmethod
    def from_env(cls) -> Ports:
        env = os.environ
        return cls(
            kafka=int(env.get("JOBSTREAM_TEST_KAFKA_PORT", "27092")),
            pg=int(env.get("JOBSTREAM_TEST_PG_PORT", "27432")),
            services=int(env.get("JOBSTREAM_TEST_SERVICES_BASE_PORT", "27100")),
            xano=int(env.get("JOBSTREAM_TEST_XANO_PORT", "27080")),
        )


@dataclass(frozen=True, slots=True)
class Consumed:
    """A stage's own progress: the records of `topic` its service's group has committed."""

    service: str
    topic: str

    @property
    def group(self) -> str:
        return group_of(self.service, topics.by_name(self.topic))

    def __str__(self) -> str:
        return f"{self.service} committed {self.topic}"


Progress = str | Consumed  # a topic's record count, XANO, or a stage's committed offsets


class TriggerMissedError(Exception):
    """The run finished (or the bound passed) before the progress a fault waits for."""


def _set_event() -> asyncio.Event:
    event = asyncio.Event()
    event.set()
    return event


@dataclass(slots=True)
class Stage:
    """A running throwaway pipeline and the levers a scenario pulls on it."""

    stack: StackConfig
    config: PipelineConfig
    baseline_counts: Mapping[str, int]
    run_id: str = ""
    notes: list[str] = field(default_factory=list)
    closing: asyncio.Event = field(default_factory=asyncio.Event)
    supervising: asyncio.Event = field(default_factory=_set_event)  # cleared at the teardown
    started_at: float = field(default_factory=time.monotonic)
    held: set[str] = field(default_factory=set)  # down on purpose: not the supervisor's to start
    retired: set[str] = field(default_factory=set)  # killed for good: never started again
    retired_brokers: set[int] = field(default_factory=set)  # nodes killed for good
    fault_failed: str | None = None  # why the fault was not (fully) injected
    pids: set[int] = field(default_factory=set)  # every process started, for the teardown

    def note(self, text: str) -> None:
        self.notes.append(f"{time.monotonic() - self.started_at:5.1f}s {text}")

    # -- progress ---------------------------------------------------------------------------

    async def count(self, what: Progress) -> int:
        if isinstance(what, Consumed):
            return await committed_total(self.stack.bootstrap, what.group, what.topic)
        if what == XANO:
            health = await asyncio.to_thread(self._xano_admin, "GET", "/__admin/health", None)
            return int(health["records"])
        totals = await topic_totals(self.stack.bootstrap, [what])
        return totals[what]

    def expected(self, what: Progress) -> int:
        """What the baseline run counted for `what` (a stage consumes all its topic held)."""
        topic = what.topic if isinstance(what, Consumed) else what
        return self.baseline_counts.get(topic, 0)

    async def when(self, what: Progress, share: float) -> str:
        """Waits until `what` holds `share` of the baseline's count; says what it saw."""
        target = max(1, math.ceil(share * self.expected(what)))
        while not self.closing.is_set():
            with contextlib.suppress(Exception):  # a broker or emulator down: ask again
                seen = await self.count(what)
                if seen >= target:
                    return f"{what} {seen}/{self.expected(what)}"
            await asyncio.sleep(POLL_S)
        raise TriggerMissedError(f"{what} never reached {target} before the run ended")

    async def mid_stage(self, what: Progress, event: str) -> str:
        """Says how far `what` was once `event` had happened; a stage already finished by then
        means the fault missed it (the scenario tested nothing), so that is raised."""
        seen = await self.count(what)
        if seen >= self.expected(what):
            raise TriggerMissedError(f"{event} after the stage had finished ({what} {seen})")
        return f"{what} {seen}/{self.expected(what)}"

    async def when_run_finished(self) -> str:
        while not self.closing.is_set():
            with contextlib.suppress(Exception):
                status = await self.run_status()
                if status in FINISHED_STATUSES:
                    return f"run {status}"
            await asyncio.sleep(POLL_S)
        raise TriggerMissedError("the run never finished")

    async def run_status(self) -> str | None:
        report = await self.report()
        return None if report is None else str(report["run_status"])

    async def report(self) -> dict[str, Any] | None:
        conn = await asyncio.wait_for(control.connect(self.stack.dsn), timeout=10)
        try:
            query = "SELECT run_status, xano_status FROM execution_reports WHERE run_id = $1"
            row = await conn.fetchrow(query, self.run_id)
        finally:
            await conn.close()
        return None if row is None else dict(row)

    # -- services ---------------------------------------------------------------------------

    def remember_pids(self) -> None:
        self.pids.update(pid for pid in pipeline.running(self.config).values() if pid)

    def pid(self, name: str) -> int:
        pid = pipeline.running(self.config).get(name)
        if pid is None:
            raise RuntimeError(f"{name} is not running")
        return pid

    async def kill(self, name: str, sig: signal.Signals, *, seen: str = "") -> None:
        """Signals one process and waits until it is gone (SIGTERM: its clean shutdown)."""
        pid = self.pid(name)
        self.held.add(name)
        os.kill(pid, sig)
        self.note(f"{sig.name} {name} ({seen})")
        if not await asyncio.to_thread(wait_until_gone, pid, 60.0):
            self.note(f"{name} still alive 60 s after {sig.name}; SIGKILL")
            os.kill(pid, signal.SIGKILL)
            await asyncio.to_thread(wait_until_gone, pid, 10.0)

    async def kill_for_good(self, name: str, *, seen: str = "") -> None:
        """SIGKILLs a replica that no supervisor brings back (a lost machine): the run must
        finish on the replicas left."""
        await self.kill(name, signal.SIGKILL, seen=f"{seen}; not restarted")
        self.retired.add(name)
        self.held.discard(name)

    async def start(self, *names: str) -> None:
        try:
            await asyncio.to_thread(pipeline.start, self.config, list(names), timeout_s=120.0)
        finally:
            self.remember_pids()
        self.held.difference_update(names)
        self.note(f"started {', '.join(names)}")

    async def add_replica(self, service: str) -> str:
        replicas = dict(self.config.replicas)
        replicas[service] = replicas.get(service, 1) + 1
        self.config = dataclasses.replace(self.config, replicas=replicas)
        name = f"{service}-{replicas[service] - 1}"
        await self.start(name)
        return name

    async def remove_replica(self, service: str, *, seen: str = "") -> None:
        """Stops the highest replica (SIGTERM, as a scale-down does)."""
        count = self.config.replicas.get(service, 1)
        name = f"{service}-{count - 1}"
        await self.kill(name, signal.SIGTERM, seen=seen)
        await asyncio.to_thread(pipeline.stop, self.config, [name])
        self.config = dataclasses.replace(
            self.config, replicas={**self.config.replicas, service: count - 1}
        )
        self.held.discard(name)

    # -- infrastructure ---------------------------------------------------------------------

    async def stop_postgres(self, *, seen: str = "") -> None:
        await asyncio.to_thread(postgres_server.stop_immediately, self.stack)
        self.note(f"pg_ctl stop -m immediate ({seen})")

    async def start_postgres(self) -> None:
        bin_dir = postgres_server.find_bin_dir(self.stack.pg_bin_dir)
        await asyncio.to_thread(postgres_server.start, self.stack, bin_dir)
        self.note("PostgreSQL started")

    async def stop_broker(
        self, sig: signal.Signals, *, seen: str = "", node: int = 1, for_good: bool = False
    ) -> None:
        pid = kafka.running_pid(self.stack, node)
        if pid is None:
            raise RuntimeError(f"broker {node} is not running")
        if for_good:
            self.retired_brokers.add(node)
        if sig == signal.SIGTERM:
            await asyncio.to_thread(kafka.stop, self.stack, node)
        else:
            os.kill(pid, sig)
            await asyncio.to_thread(wait_until_gone, pid, 30.0)
        again = "; not restarted" if for_good else ""
        self.note(f"broker {node} of {self.stack.brokers} {sig.name} ({seen}{again})")

    async def start_broker(self) -> None:
        await ensure_up(self.stack)  # starts what is down and waits until it answers
        self.note("broker started")

    async def busiest_broker(self) -> int:
        """The node leading the most partitions of the pipeline's topics: its death moves
        the most leaders (ties: the lowest node)."""
        admin = await _admin(self.stack.bootstrap)
        try:
            described = await admin.describe_topics([t.name for t in topics.CATALOGUE])
        finally:
            await admin.close()
        leaders = Counter(
            int(part["leader"]) for topic in described for part in topic["partitions"]
        )
        return min(self.stack.kafka_nodes, key=lambda node: (-leaders[node], node))

    async def restore(self) -> None:
        """Whatever a fault script left down (it failed half-way) comes back up."""
        if postgres_server.running_pid(self.stack) is None:
            await self.start_postgres()
        down = [n for n in self.stack.kafka_nodes if kafka.running_pid(self.stack, n) is None]
        if set(down) - self.retired_brokers:
            await self.start_broker()
        self.held.clear()  # the supervisor starts any service still down
        await asyncio.to_thread(self._xano_admin, "POST", "/__admin/faults", {})

    def xano_faults(self, spec: Mapping[str, Any]) -> None:
        self._xano_admin("POST", "/__admin/faults", spec)
        self.note(f"Xano faults {dict(spec) or 'cleared'}")

    def xano_records(self) -> list[dict[str, Any]]:
        records = self._xano_admin("GET", "/__admin/records", None)
        assert isinstance(records, list)
        return records

    def _xano_admin(self, method: str, path: str, body: Mapping[str, Any] | None) -> Any:
        url = f"http://127.0.0.1:{self.config.xano_port}{path}"
        data = None if body is None else orjson.dumps(body)
        request = urllib.request.Request(url, data=data, method=method)
        request.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310 - loopback
            return orjson.loads(answer.read())


Fault = Callable[[Stage], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Outcome:
    snapshot: Snapshot
    counts: Mapping[str, int]  # progress measures at the end (the baseline's trigger scale)
    elapsed_s: float  # feed request to report synced with Xano (or to the bound)
    completed: bool  # finished and synced by itself within the bound
    run_status: str | None
    notes: list[str]
    fault_failed: str | None = None
    unspread: tuple[str, ...] = ()  # scaled-out services whose replicas did not share the work


async def run_feed(
    feed: Path,
    ports: Ports,
    *,
    fault: Fault | None = None,
    replicas: Mapping[str, int] | None = None,
    baseline_counts: Mapping[str, int] | None = None,
    bound_s: float,
    brokers: int = 1,
) -> Outcome:
    """Runs the feed once on a fresh stack, with the fault alongside; reads back the result."""
    async with _throwaway(ports, replicas, brokers) as stage:
        stage.baseline_counts = baseline_counts or {}
        await wait_for_stable_groups(stage)
        unspread: list[str] = []
        if max(stage.config.replicas.values()) > 1:
            checked, unspread = await unspread_groups(stage)
            spread = "; ".join(unspread) or f"yes ({', '.join(checked)})"
            stage.note(f"partitions spread over every replica: {spread}")
        feed_id = await control.ensure_feed(stage.stack.dsn, name="chaos", source_url=str(feed))
        stage.started_at = time.monotonic()
        stage.run_id = await control.request_run(stage.stack.bootstrap, feed_id)
        faults = asyncio.create_task(_guarded_fault(fault, stage))
        supervisor = asyncio.create_task(supervise(stage))
        try:
            completed = await _wait_synced(stage, bound_s)
            elapsed = time.monotonic() - stage.started_at
            stage.closing.set()
            await faults  # a fault in progress restores what it broke before the reading
            await stage.restore()
            if completed:
                await wait_idle(stage)
                if stage.retired and max(stage.config.replicas.values()) > 1:
                    checked, left = await settled_unspread_groups(stage)
                    unspread += [f"after the run: {problem}" for problem in left]
                    spread = "; ".join(left) or f"yes ({', '.join(checked)})"
                    stage.note(f"after the run, partitions spread over the replicas left: {spread}")
        finally:
            # Nothing may start processes after teardown: a start runs in a thread, which a
            # cancellation does not stop, so the supervisor is let finish the one in hand.
            stage.supervising.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(supervisor), timeout=180.0)
            for task in (faults, supervisor):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        snapshot = await read_snapshot(stage, feed_id)
        counts = await topic_totals(stage.stack.bootstrap, [t.name for t in PROGRESS_TOPICS])
        counts[XANO] = len(snapshot.xano)
        status = snapshot.report.get("run_status")
        return Outcome(
            snapshot,
            counts,
            elapsed,
            completed,
            status,
            stage.notes,
            stage.fault_failed,
            tuple(unspread),
        )


async def supervise(stage: Stage) -> None:
    """Starts a process that exited by itself, as the deployment's restart policy does."""
    while stage.supervising.is_set():
        await asyncio.sleep(SUPERVISE_EVERY_S)
        running = await asyncio.to_thread(pipeline.running, stage.config)
        for name, pid in running.items():
            if not stage.supervising.is_set():
                return
            down_on_purpose = name in stage.held or name in stage.retired
            if pid is None and name != "api-0" and not down_on_purpose:
                stage.note(f"{name} exited by itself; started again")
                try:
                    await stage.start(name)
                except pipeline.PipelineError as failed:
                    stage.note(f"{name} could not start: {str(failed)[-300:]}")


async def _guarded_fault(fault: Fault | None, stage: Stage) -> None:
    if fault is None:
        return
    try:
        await fault(stage)
    except Exception as failed:  # any of it means the scenario tested nothing
        stage.fault_failed = f"{type(failed).__name__}: {failed}"
        stage.note(f"fault not injected: {stage.fault_failed}")


async def _wait_synced(stage: Stage, bound_s: float) -> bool:
    """Until the report says finished and synced; the database may be down meanwhile."""
    deadline = time.monotonic() + bound_s
    report: dict[str, Any] | None = None
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):  # down, restarting, or in recovery: ask again
            report = await stage.report()
            if report is not None and _synced(report):
                return True
        await asyncio.sleep(0.5)
    state = (
        "no report" if report is None else f"{report['run_status']}, Xano {report['xano_status']}"
    )
    stage.note(f"not finished and synced within the bound of {bound_s:.0f} s ({state})")
    return False


def _synced(report: Mapping[str, Any]) -> bool:
    return report["run_status"] in FINISHED_STATUSES and report["xano_status"] is not None


@contextlib.asynccontextmanager
async def _throwaway(
    ports: Ports, replicas: Mapping[str, int] | None, brokers: int = 1
) -> AsyncIterator[Stage]:
    with tempfile.TemporaryDirectory(prefix="jobstream-chaos-") as state_dir:
        os.chmod(state_dir, 0o755)  # noqa: PTH101, S103 - PostgreSQL runs as its own user
        stack = dataclasses.replace(
            StackConfig.from_env(),
            state_dir=Path(state_dir),
            kafka_port=ports.kafka,
            kafka_controller_port=ports.kafka + 1,
            pg_port=ports.pg,
            brokers=brokers,  # 3: `stack up --brokers 3` (ports from ports.kafka to +5)
            kafka_heap=CLUSTER_KAFKA_HEAP if brokers > 1 else StackConfig.from_env().kafka_heap,
        )
        config = PipelineConfig(
            stack=stack,
            base_port=ports.services,
            xano_port=ports.xano,
            replicas={**dict.fromkeys(pipeline.SERVICES, 1), **(replicas or {})},
            extra_env={**CHAOS_ENV, **pipeline_feed_env()},  # the feed is in a temp dir
        )
        stage = Stage(stack, config, {})
        try:
            await ensure_up(stack)
            names = [p.name for p in pipeline.processes(config) if p.name != "api-0"]
            try:
                await asyncio.to_thread(pipeline.start, config, names, timeout_s=120.0)
            finally:
                stage.remember_pids()
            yield stage
        finally:
            await asyncio.to_thread(pipeline.stop, stage.config)
            await asyncio.to_thread(_kill_leftovers, stage.pids, Path(state_dir))
            if postgres_server.running_pid(stack) is None and _pg_data_exists(stack):
                with contextlib.suppress(Exception):  # a scenario stopped it: start to stop
                    await asyncio.to_thread(
                        postgres_server.start, stack, postgres_server.find_bin_dir(stack.pg_bin_dir)
                    )
            await shut_down(stack)


def _kill_leftovers(pids: set[int], state_dir: Path) -> None:
    """SIGKILL any process of this run still alive: one stuck in its shutdown, or one whose
    pid file was lost. A leftover would join the next run's stack on the same ports."""
    for pid in pids | _processes_of(state_dir):
        argv = read_cmdline(pid)
        if is_alive(pid) and argv[1:2] == ["-m"] and argv[2:3] and argv[2] in OUR_MODULES:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            wait_until_gone(pid, 10.0)


def _processes_of(state_dir: Path) -> set[int]:
    """Pids whose environment or arguments name this run's state directory."""
    marker = str(state_dir).encode()
    found = set()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            if marker in (proc / "environ").read_bytes() + (proc / "cmdline").read_bytes():
                found.add(int(proc.name))
    return found


def _pg_data_exists(stack: StackConfig) -> bool:
    return (stack.pg_data_dir / "PG_VERSION").exists()


# -- Kafka: progress, group state, idleness --------------------------------------------------


async def topic_totals(bootstrap: str, names: list[str]) -> dict[str, int]:
    """Records ever written to each topic (sum of its partitions' end offsets).

    Partitions come from the catalogue the stack created the topics from.
    """
    partitions = [TopicPartition(name, p) for name in names for p in range(PARTITIONS[name])]
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, request_timeout_ms=10_000)
    await consumer.start()
    try:
        ends = await consumer.end_offsets(partitions)
    finally:
        await consumer.stop()
    totals = dict.fromkeys(names, 0)
    for tp, end in ends.items():
        totals[tp.topic] += end
    return totals


async def _admin(bootstrap: str) -> AIOKafkaAdminClient:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10_000)
    await admin.start()
    return admin


async def wait_for_stable_groups(stage: Stage) -> None:
    """Every replica holds its partitions and every group is stable: the run starts from rest."""
    try:
        await asyncio.to_thread(pipeline.wait_ready, stage.config, STABLE_GROUPS_TIMEOUT_S)
    except pipeline.PipelineError as unready:
        stage.note(str(unready)[:500])


async def unspread_groups(stage: Stage) -> tuple[list[str], list[str]]:
    """The groups of services with several replicas, and those of them not Stable, or where
    a live replica holds none of the topic's partitions or a partition is held twice or by
    nobody (read from the group coordinator's assignment; a member's client id ends in its
    replica number). A replica killed for good must have left its group: the rebalance that
    follows its death has completed."""
    admin = await _admin(stage.stack.bootstrap)
    checked: list[str] = []
    problems: list[str] = []
    try:
        groups = sorted(g for g, *_ in await admin.list_consumer_groups() if g.startswith(GROUP))
        for group in groups:
            service, _, topic = group.removeprefix(GROUP).partition(".")
            replicas = stage.config.replicas.get(service, 1)
            if replicas < 2 or topic not in PARTITIONS:
                continue
            live = [str(r) for r in range(replicas) if f"{service}-{r}" not in stage.retired]
            checked.append(f"{group} on {len(live)}")
            [response] = await admin.describe_consumer_groups([group])
            _, _, state, _, _, members = response.groups[0][:6]
            held: dict[int, list[str]] = {p: [] for p in range(PARTITIONS[topic])}
            by_replica: dict[str, int] = dict.fromkeys(live, 0)
            for member in members:
                client_id, assignment = member[1], member[4]
                replica = str(client_id).rpartition("-")[2]
                decoded = ConsumerProtocolMemberAssignment.decode(assignment)
                for tp in decoded.partitions():
                    held.setdefault(tp.partition, []).append(replica)
                    by_replica[replica] = by_replica.get(replica, 0) + 1
            idle = sorted(r for r, n in by_replica.items() if n == 0)
            wrong = {p: who for p, who in held.items() if len(who) != 1}
            dead = sorted(set(by_replica) - set(live))
            if state != "Stable" or idle or wrong or dead:
                problems.append(
                    f"{group} {state}: replicas {idle} hold nothing, killed {dead} still hold "
                    f"partitions; partitions held {wrong}"
                )
    finally:
        await admin.close()
    for service, replicas in stage.config.replicas.items():
        if replicas > 1 and not any(c.startswith(f"{GROUP}{service}.") for c in checked):
            problems.append(f"no consumer group of {service} found")
    return checked, problems


async def settled_unspread_groups(stage: Stage) -> tuple[list[str], list[str]]:
    """`unspread_groups` once the groups have had SETTLE_AFTER_KILL_S to evict the replicas
    killed for good: what is still wrong then stays wrong."""
    deadline = time.monotonic() + SETTLE_AFTER_KILL_S
    while True:
        checked, problems = await unspread_groups(stage)
        if not problems or time.monotonic() >= deadline:
            return checked, problems
        await asyncio.sleep(1.0)


async def committed_total(bootstrap: str, group: str, topic: str) -> int:
    """The sum of `group`'s committed offsets on `topic`: how many records it has done."""
    admin = await _admin(bootstrap)
    try:
        offsets = await admin.list_consumer_group_offsets(group)
    finally:
        await admin.close()
    return sum(meta.offset for tp, meta in offsets.items() if tp.topic == topic and meta.offset > 0)


async def group_lag(bootstrap: str) -> dict[str, int]:
    """Per group of ours (one per service and topic), records not yet committed."""
    admin = await _admin(bootstrap)
    try:
        groups = sorted(g for g, *_ in await admin.list_consumer_groups() if g.startswith(GROUP))
        committed = {g: await admin.list_consumer_group_offsets(g) for g in groups}
    finally:
        await admin.close()
    partitions = [tp for offsets in committed.values() for tp in offsets]
    if not partitions:
        # nothing committed yet: no consumer is started for nothing (aiokafka can raise
        # CancelledError from the close of one stopped right after its start)
        return {}
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await consumer.start()
    try:
        ends = await consumer.end_offsets(partitions)
    finally:
        await consumer.stop()
    return {
        group: sum(
            max(0, ends[tp] - meta.offset) for tp, meta in offsets.items() if meta.offset >= 0
        )
        for group, offsets in committed.items()
    }


async def wait_idle(stage: Stage) -> None:
    """Until no group has uncommitted records: nothing still in flight to change the result."""
    deadline = time.monotonic() + IDLE_TIMEOUT_S
    lag: dict[str, int] = {}
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            lag = await group_lag(stage.stack.bootstrap)
            if not any(lag.values()):
                return
        await asyncio.sleep(1.0)
    stage.note(f"still in flight after {IDLE_TIMEOUT_S:.0f} s: {lag}")


# -- reading back --------------------------------------------------------------------------


async def read_snapshot(stage: Stage, feed_id: int) -> Snapshot:
    conn = await control.connect(stage.stack.dsn)
    try:
        report_row = await conn.fetchrow(
            "SELECT row_to_json(r)::text FROM execution_reports r WHERE run_id = $1", stage.run_id
        )
        report: dict[str, Any] = orjson.loads(report_row[0]) if report_row else {}
        execution_id = report.get("id")
        tables = {}
        for table in JOB_TABLES:
            rows = await conn.fetch(
                f"SELECT row_to_json(t)::text FROM {table} t WHERE feed_id = $1 ORDER BY job_hash",
                feed_id,
            )
            tables[table] = [
                normalise(orjson.loads(r[0]), stage.run_id, execution_id, ROW_NOISE) for r in rows
            ]
        location_rows = await conn.fetch(
            "SELECT row_to_json(l)::text FROM job_locations l ORDER BY job_hash, location_key"
        )
    finally:
        await conn.close()
    locations = [
        normalise(orjson.loads(r[0]), stage.run_id, execution_id, ROW_NOISE) for r in location_rows
    ]
    xano = [
        normalise(record, stage.run_id, execution_id, XANO_NOISE)
        for record in await asyncio.to_thread(stage.xano_records)
    ]
    dlq_names = [t.name for t in topics.DEAD_LETTER_TOPICS]
    dead_letters = await topic_totals(stage.stack.bootstrap, dlq_names)
    report_fields = {k: v for k, v in report.items() if k not in REPORT_NOISE}
    return Snapshot(tables, locations, report_fields, xano, dead_letters)

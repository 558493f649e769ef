"""The chaos scenarios: each a fault script run alongside one run of the feed.

Each script waits for a point of progress (a share of what the baseline run wrote to a topic,
or to Xano), breaks something, and always restores it: a killed service is started again
after RESTART_DELAY_S, as a supervisor would; PostgreSQL and the broker come back after
their outage. What the scenario saw when it struck is noted, so a fault that came too late
to hit its stage shows in the table.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
from collections.abc import Mapping
from dataclasses import dataclass, field

from cli import pipeline
from schemas import topics
from tests.chaos.harness import XANO, Consumed, Fault, Progress, Stage

RESTART_DELAY_S = 2.0
BROKER_DOWN_S = 10.0
CLUSTER_BROKER_DOWN_S = 60.0  # the "restarted a minute later"
CLUSTER = 3  # brokers: `stack up --brokers 3`, topics with 3 replicas, 2 in sync
# Every service scaled out at once, read by the parser of `jobstream stack up --replicas`.
SCALED_OUT = "ingestor=2,enricher=3,router=2,syncer=2"
OUTAGE_S = float(os.environ.get("CHAOS_OUTAGE_S", "60"))  # PostgreSQL down, Xano failing

RAW, DEDUPED = topics.JOBS_RAW.name, topics.JOBS_DEDUPED.name
ENRICHED, ROUTED = topics.JOBS_ENRICHED.name, topics.JOBS_ROUTED.name

# The stages' own progress: what each service's group has committed of its input.
INGESTOR_STAGE = Consumed("ingestor", RAW)  # the dedupe
ENRICHER_STAGE = Consumed("enricher", DEDUPED)
ROUTER_STAGE = Consumed("router", ENRICHED)

# Where each service is busy: the progress measure that grows while it works.
BUSY = {"ingestor": RAW, "enricher": ENRICHED, "router": ROUTED, "syncer": XANO}


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    fault: Fault | None
    replicas: Mapping[str, int] = field(default_factory=dict)
    extra_s: float = 0.0  # how much longer than the baseline the fault may fairly take
    brokers: int = 1  # 3: the scenario's stack is the three-broker cluster

    @property
    def slug(self) -> str:
        """The test id: `pytest -m chaos -k sigkill-router` picks one scenario."""
        return re.sub(r"[^a-z0-9]+", "-", self.name.lower()).strip("-")


def signal_service(service: str, sig: signal.Signals, what: str, share: float) -> Fault:
    async def fault(stage: Stage) -> None:
        seen = await stage.when(what, share)
        name = f"{service}-0"
        await stage.kill(name, sig, seen=seen)
        await asyncio.sleep(RESTART_DELAY_S)
        await stage.start(name)

    return fault


def broker_down(sig: signal.Signals) -> Fault:
    async def fault(stage: Stage) -> None:
        seen = await stage.when(ENRICHED, 0.3)
        await stage.stop_broker(sig, seen=seen)
        await asyncio.sleep(BROKER_DOWN_S)
        await stage.start_broker()

    return fault


def cluster_broker_killed(down_s: float | None) -> Fault:
    """SIGKILL of the broker leading the most partitions mid-enrichment; started again
    after `down_s`, or never (None): two brokers hold every partition's in-sync replicas.
    The restarted one is killed early so that on a large feed it comes back mid-run (how far
    the run was by then is noted)."""

    async def fault(stage: Stage) -> None:
        seen = await stage.when(ENRICHED, 0.1 if down_s is not None else 0.3)
        node = await stage.busiest_broker()
        await stage.stop_broker(signal.SIGKILL, seen=seen, node=node, for_good=down_s is None)
        if down_s is not None:
            await asyncio.sleep(down_s)
            status = await stage.run_status()
            synced = await stage.count(XANO)
            stage.note(f"run {status or 'running'}, {synced} Xano records when the broker returns")
            await stage.start_broker()

    return fault


async def one_replica_of_each_killed(stage: Stage) -> None:
    """One replica of every service SIGKILLed while its own stage is under way, none started
    again: each stage's partitions move to the replicas left, with what was in flight."""

    async def kill(service: str, what: Progress, share: float) -> None:
        await stage.when(what, share)
        seen = await stage.mid_stage(what, f"{service}-0 was to be killed")
        await stage.kill_for_good(f"{service}-0", seen=seen)

    await asyncio.gather(
        kill("ingestor", INGESTOR_STAGE, 0.3),
        kill("enricher", ENRICHER_STAGE, 0.3),
        kill("router", ROUTER_STAGE, 0.3),
        kill("syncer", XANO, 0.3),
    )


async def postgres_outage(stage: Stage) -> None:
    seen = await stage.when(ENRICHED, 0.2)
    await stage.stop_postgres(seen=seen)
    await asyncio.sleep(OUTAGE_S)
    await stage.start_postgres()


def replica_in_and_out(
    service: str,
    what: Progress,
    add_at: tuple[Progress, float],
    remove_at: float,
    remove_on: Progress | None = None,
) -> Fault:
    """A replica added once the run has reached `add_at` and removed when `remove_on` (by
    default `what`, the stage's progress) reaches `remove_at`: both must land while the stage
    is under way (it has not finished when the replica is in its group, nor when its SIGTERM
    is sent)."""

    async def fault(stage: Stage) -> None:
        seen = await stage.when(*add_at)
        name = await stage.add_replica(service)
        joined = await stage.mid_stage(what, f"{name} joined")
        stage.note(f"added {name} (at {seen}; in its group at {joined})")
        await stage.when(remove_on or what, remove_at)
        seen = await stage.mid_stage(what, f"{name} was to be removed")
        await stage.remove_replica(service, seen=seen)

    return fault


async def xano_failing(stage: Stage) -> None:
    """429s, then 500s, then answers slower than the syncer's timeout, a third each."""
    seen = await stage.when_run_finished()
    stage.note(f"reconcile starts ({seen})")
    third = OUTAGE_S / 3
    always = {"count": None}
    for spec in (
        {"status_429": {**always, "retry_after": 2}},
        {"status_5xx": {**always, "status": 500}},
        {"slow_ms": 8000},
    ):
        await asyncio.to_thread(stage.xano_faults, spec)
        await asyncio.sleep(third)
    await asyncio.to_thread(stage.xano_faults, {})


def _signal_scenarios(sig: signal.Signals, prefix: str) -> list[Scenario]:
    found = [
        Scenario(f"{prefix} ingestor while reading", signal_service("ingestor", sig, RAW, 0.1)),
        Scenario(f"{prefix} ingestor during dedupe", signal_service("ingestor", sig, DEDUPED, 0.3)),
    ]
    for service in ("enricher", "router", "syncer"):
        found.append(
            Scenario(f"{prefix} {service}", signal_service(service, sig, BUSY[service], 0.3))
        )
    return found


SCENARIOS: tuple[Scenario, ...] = (
    *_signal_scenarios(signal.SIGKILL, "SIGKILL"),
    Scenario("broker stopped 10 s", broker_down(signal.SIGTERM), extra_s=BROKER_DOWN_S),
    Scenario("broker SIGKILL, down 10 s", broker_down(signal.SIGKILL), extra_s=BROKER_DOWN_S),
    Scenario(f"PostgreSQL down {OUTAGE_S:.0f} s", postgres_outage, extra_s=OUTAGE_S),
    # The syncer's stage is the reconcile: its replica is in from the run's start.
    # At 20,000 jobs the dedupe's committed offsets stayed at 0 until its stage was over, so an
    # add timed on them never landed: the replica is timed on what the read has published.
    Scenario(
        "ingestor replica in and out",
        replica_in_and_out("ingestor", INGESTOR_STAGE, (RAW, 0.01), 0.6, remove_on=RAW),
    ),
    # The enricher's and router's stages run on the read's heels and, on 2,000 jobs, the
    # router's was once over before a replica added at its own 1% had joined: their replicas
    # are added once the read is under way, and removed half-way through their own stage.
    Scenario(
        "enricher replica in and out",
        replica_in_and_out("enricher", ENRICHER_STAGE, (RAW, 0.01), 0.5),
    ),
    Scenario(
        "router replica in and out",
        replica_in_and_out("router", ROUTER_STAGE, (RAW, 0.01), 0.5),
    ),
    Scenario("syncer replica in and out", replica_in_and_out("syncer", XANO, (RAW, 0.01), 0.3)),
    Scenario("2 routers + 2 enrichers", None, replicas={"router": 2, "enricher": 2}),
    Scenario(f"Xano 429/500/timeouts {OUTAGE_S:.0f} s", xano_failing, extra_s=OUTAGE_S),
    *_signal_scenarios(signal.SIGTERM, "SIGTERM"),
    # Beyond one machine (issue 16): the cluster, and every service scaled out.
    Scenario("3 brokers, no fault", None, brokers=CLUSTER),
    Scenario(
        f"3 brokers: broker SIGKILL, restarted after {CLUSTER_BROKER_DOWN_S:.0f} s",
        cluster_broker_killed(CLUSTER_BROKER_DOWN_S),
        brokers=CLUSTER,
        extra_s=CLUSTER_BROKER_DOWN_S,
    ),
    Scenario(
        "3 brokers: broker SIGKILL, not restarted",
        cluster_broker_killed(None),
        brokers=CLUSTER,
    ),
    Scenario("replicas 2/3/2/2", None, replicas=pipeline.parse_replicas(SCALED_OUT)),
    Scenario(
        "replicas 2/3/2/2, one of each SIGKILLed mid-run",
        one_replica_of_each_killed,
        replicas=pipeline.parse_replicas(SCALED_OUT),
    ),
)

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

from schemas import topics
from tests.chaos.harness import XANO, Fault, Stage

RESTART_DELAY_S = 2.0
BROKER_DOWN_S = 10.0
OUTAGE_S = float(os.environ.get("CHAOS_OUTAGE_S", "60"))  # PostgreSQL down, Xano failing

RAW, DEDUPED = topics.JOBS_RAW.name, topics.JOBS_DEDUPED.name
ENRICHED, ROUTED = topics.JOBS_ENRICHED.name, topics.JOBS_ROUTED.name

# Where each service is busy: the progress measure that grows while it works.
BUSY = {"ingestor": RAW, "enricher": ENRICHED, "router": ROUTED, "syncer": XANO}


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    fault: Fault | None
    replicas: Mapping[str, int] = field(default_factory=dict)
    extra_s: float = 0.0  # how much longer than the baseline the fault may fairly take

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


async def postgres_outage(stage: Stage) -> None:
    seen = await stage.when(ENRICHED, 0.2)
    await stage.stop_postgres(seen=seen)
    await asyncio.sleep(OUTAGE_S)
    await stage.start_postgres()


def replica_in_and_out(
    service: str, add_at: tuple[str, float], remove_at: tuple[str, float]
) -> Fault:
    async def fault(stage: Stage) -> None:
        seen = await stage.when(*add_at)
        name = await stage.add_replica(service)
        stage.note(f"added {name} ({seen})")
        seen = await stage.when(*remove_at)
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
    Scenario(
        "ingestor replica in and out",
        replica_in_and_out("ingestor", (RAW, 0.05), (DEDUPED, 0.6)),
    ),
    Scenario(
        "enricher replica in and out",
        replica_in_and_out("enricher", (ENRICHED, 0.1), (ENRICHED, 0.6)),
    ),
    Scenario(
        "router replica in and out", replica_in_and_out("router", (ROUTED, 0.1), (ROUTED, 0.6))
    ),
    Scenario("syncer replica in and out", replica_in_and_out("syncer", (RAW, 0.01), (XANO, 0.3))),
    Scenario("2 routers + 2 enrichers", None, replicas={"router": 2, "enricher": 2}),
    Scenario(f"Xano 429/500/timeouts {OUTAGE_S:.0f} s", xano_failing, extra_s=OUTAGE_S),
    *_signal_scenarios(signal.SIGTERM, "SIGTERM"),
)

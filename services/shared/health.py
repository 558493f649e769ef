"""What each consuming stage of this process is doing, for `/readyz` and the metrics.

A stage is ready when its consumer has its partitions (it joined the group and no rebalance
is under way) and it is not paused waiting for a dependency.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import Gauge

from services.shared.metrics import REGISTRY

PAUSED = Gauge(
    "jobstream_stage_paused",
    "1 while a stage is paused, retrying because a dependency is unavailable.",
    ["stage"],
    registry=REGISTRY,
)


@dataclass(slots=True)
class Stage:
    """One consuming stage (an agent): its group membership and whether it is paused."""

    name: str
    group: str = ""  # the consumer group its members join
    assigned: bool = False  # holds an assignment from the current generation
    paused_for: str | None = None  # the failure it is waiting out
    partitions: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        PAUSED.labels(self.name).set(0)

    def pause(self, reason: str) -> None:
        if self.paused_for is None:
            PAUSED.labels(self.name).set(1)
        self.paused_for = reason

    def resume(self) -> None:
        if self.paused_for is not None:
            PAUSED.labels(self.name).set(0)
        self.paused_for = None

    @property
    def ready(self) -> bool:
        return self.assigned and self.paused_for is None

    def describe(self) -> dict[str, object]:
        return {
            "ready": self.ready,
            "group": self.group,
            "assigned": self.assigned,
            "partitions": self.partitions,
            "paused_for": self.paused_for,
        }


class Stages:
    """Every stage of this process, by name."""

    def __init__(self) -> None:
        self._stages: dict[str, Stage] = {}

    def stage(self, name: str) -> Stage:
        found = self._stages.get(name)
        if found is None:
            found = self._stages[name] = Stage(name)
        return found

    @property
    def ready(self) -> bool:
        return all(stage.ready for stage in self._stages.values())

    def describe(self) -> dict[str, object]:
        return {name: stage.describe() for name, stage in self._stages.items()}


STAGES = Stages()
"""The stages of this process (one per process, like the metrics registry)."""

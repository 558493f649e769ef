"""What makes an acknowledged record survive a broker's loss: topic replication and producers.

A producer with `acks=all` waits for every in-sync replica, and `min.insync.replicas` says how
many must be in sync for a write to be accepted at all: with replication factor 3 and min ISR
2, one broker may die without losing an acknowledged record or refusing writes. Idempotence
stops a producer's retry (after a lost ack) from writing a record twice.

Local stacks have one broker, so the defaults are 1/1; the cluster profile is 3/2.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from schemas.topics import JOB_TOPICS, TopicSpec
from services.shared.settings import SettingsError, env_int

# Every producer of the project is built with these options (tests/unit/test_durability.py
# finds each one in the code).
DURABLE_PRODUCER: Final[Mapping[str, Any]] = {"acks": "all", "enable_idempotence": True}


@dataclass(frozen=True, slots=True)
class TopicSettings:
    """How topics are created: replication, min ISR and the job topics' partition count."""

    replication_factor: int = 1
    min_insync_replicas: int = 1
    # The partitions of the job topics and their changelogs (the most replicas of any one
    # service that can share work); None keeps the catalogue's counts.
    job_partitions: int | None = None

    def __post_init__(self) -> None:
        if self.replication_factor < 1:
            raise SettingsError("KAFKA_REPLICATION_FACTOR must be at least 1")
        if not 1 <= self.min_insync_replicas <= self.replication_factor:
            raise SettingsError(
                "KAFKA_MIN_INSYNC_REPLICAS must be between 1 and KAFKA_REPLICATION_FACTOR "
                f"({self.replication_factor}), got {self.min_insync_replicas}"
            )
        if self.job_partitions is not None and self.job_partitions < 1:
            raise SettingsError("KAFKA_JOB_PARTITIONS must be at least 1")

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> TopicSettings:
        partitions = env_int(env, "KAFKA_JOB_PARTITIONS", 0)
        return cls(
            replication_factor=env_int(env, "KAFKA_REPLICATION_FACTOR", 1),
            min_insync_replicas=env_int(env, "KAFKA_MIN_INSYNC_REPLICAS", 1),
            job_partitions=partitions or None,
        )

    def sized(self, spec: TopicSpec) -> TopicSpec:
        """The spec with this profile's partition count (a job topic and its changelog keep
        the same count: the dedupe state is co-partitioned with its input)."""
        if self.job_partitions is None or spec not in JOB_TOPICS:
            return spec
        return dataclasses.replace(spec, partitions=self.job_partitions)

    def configs(self, spec: TopicSpec) -> dict[str, str]:
        """Topic-level configs: the catalogue's retention and cleanup, and min ISR."""
        return {**spec.configs(), "min.insync.replicas": str(self.min_insync_replicas)}

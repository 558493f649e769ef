"""Dedupe state per partition, on a compacted changelog, forgotten once nobody wrote it a while.

State is keyed like the topic its agent consumes, so each partition's groups live with the
partition: a replica holds the state of the partitions it is assigned, read back from the
changelog partition of the same number when it is assigned one (`recover`) and dropped when
the partition is revoked (`drop`). A write goes to memory and, through the agent's
`Publisher`, to the changelog; the batch's flush awaits it with the outputs, before the
batch's offsets are committed.

A group's state only matters within the run that wrote it (a later run starts the group
afresh), but a key that never comes back would stay in memory for the life of the worker and
in the changelog for ever. The changelog expires by age (`compact,delete`, see
`schemas.topics`); `forget_stale` drops the same entries from memory, without a tombstone, so
both stay bounded by what the last TTL wrote. Dropping is safe: a missing group and a group
of an older run lead to the same decision.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, MutableMapping

from aiokafka import AIOKafkaConsumer, TopicPartition

from schemas.topics import TopicSpec
from services.shared.agents import Revoked
from services.shared.consumer import Recoverable
from services.shared.publisher import Publisher

log = logging.getLogger(__name__)

ChangelogWriter = Callable[[int, bytes, bytes], None]
"""Sends (partition, key, value) to a table's changelog."""

Clock = Callable[[], float]


class PartitionState(MutableMapping[bytes, bytes]):
    """One partition's groups: a `StateTable` whose writes also go to the changelog."""

    def __init__(self, owner: PartitionedState, partition: int) -> None:
        self._owner = owner
        self.partition = partition
        self.groups: dict[bytes, bytes] = {}

    def __getitem__(self, key: bytes) -> bytes:
        return self.groups[key]

    def __setitem__(self, key: bytes, value: bytes) -> None:
        self._owner.write(self, key, value)

    def __delitem__(self, key: bytes) -> None:
        raise TypeError("dedupe state is only ever overwritten or forgotten")

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.groups)

    def __len__(self) -> int:
        return len(self.groups)


class PartitionedState(Recoverable):
    """The state of the partitions this replica is assigned (see the module docstring)."""

    def __init__(
        self,
        changelog: TopicSpec,
        write_changelog: ChangelogWriter,
        *,
        bootstrap_servers: str,
        ttl_s: float | None = None,
        clock: Clock = time.monotonic,
    ) -> None:
        self.changelog = changelog
        self.ttl_s = changelog.retention_ms / 1000 if ttl_s is None else ttl_s
        self._write_changelog = write_changelog
        self._bootstrap = bootstrap_servers
        self._clock = clock
        self._partitions: dict[int, PartitionState] = {}
        self._written: OrderedDict[tuple[int, bytes], float] = OrderedDict()  # oldest first

    def at(self, partition: int) -> PartitionState:
        """The state of `partition`; `Revoked` when this replica no longer holds it."""
        found = self._partitions.get(partition)
        if found is None:
            raise Revoked(f"{self.changelog.name} partition {partition} is not held here")
        return found

    def write(self, state: PartitionState, key: bytes, value: bytes) -> None:
        if self._partitions.get(state.partition) is not state:
            raise Revoked(f"{self.changelog.name} partition {state.partition} was revoked")
        state.groups[key] = value
        self._write_changelog(state.partition, key, value)
        self._written[(state.partition, key)] = self._clock()
        self._written.move_to_end((state.partition, key))

    def hold_empty(self, partitions: set[int]) -> None:
        """Holds `partitions` with no state (for tests, and for a changelog known empty)."""
        for partition in partitions:
            self._partitions[partition] = PartitionState(self, partition)

    async def recover(self, partitions: set[int]) -> None:
        """Reads each partition's changelog from its start to its end, then holds it."""
        started = self._clock()
        recovered = {p: PartitionState(self, p) for p in partitions}
        tps = [TopicPartition(self.changelog.name, p) for p in partitions]
        # "earliest" for any reset: assigning starts a reset of its own, and a "latest" one
        # finishing after the seek to the beginning would skip the whole changelog.
        reader = AIOKafkaConsumer(
            bootstrap_servers=self._bootstrap,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
        )
        await reader.start()
        try:
            reader.assign(tps)
            ends: dict[TopicPartition, int] = await reader.end_offsets(tps)
            starts: dict[TopicPartition, int] = await reader.beginning_offsets(tps)
            log.info(
                "%s: reading partitions from %s to %s",
                self.changelog.name,
                {tp.partition: o for tp, o in starts.items()},
                {tp.partition: o for tp, o in ends.items()},
            )
            await reader.seek_to_beginning(*tps)
            pending = {tp for tp in tps if ends[tp] > 0}
            while pending:
                fetched = await reader.getmany(*pending, timeout_ms=1000)
                for tp, records in fetched.items():
                    groups = recovered[tp.partition].groups
                    for record in records:
                        if record.key is None:
                            continue
                        if record.value is None:
                            groups.pop(record.key, None)
                        else:
                            groups[record.key] = record.value
                for tp in list(pending):
                    if await reader.position(tp) >= ends[tp]:
                        pending.discard(tp)
        finally:
            await reader.stop()
        self._partitions.update(recovered)
        log.info(
            "%s: recovered partitions %s (%d groups) in %.1f s",
            self.changelog.name,
            sorted(partitions),
            sum(len(s) for s in recovered.values()),
            self._clock() - started,
        )

    def drop(self, partitions: set[int]) -> None:
        for partition in partitions:
            self._partitions.pop(partition, None)

    def forget_stale(self) -> int:
        """Drops, from this replica's memory only, what it last wrote over `ttl_s` ago.

        Entries recovered from the changelog are not tracked: its own retention bounds them.
        """
        cutoff = self._clock() - self.ttl_s
        forgotten = 0
        while self._written:
            (partition, key), written_at = next(iter(self._written.items()))
            if written_at > cutoff:
                break
            del self._written[(partition, key)]
            held = self._partitions.get(partition)
            if held is not None:
                held.groups.pop(key, None)
            forgotten += 1
        return forgotten


def partitioned_state(
    changelog: TopicSpec, publisher: Publisher, bootstrap_servers: str
) -> PartitionedState:
    """State on its catalogue changelog; its writes join `publisher`'s pending sends."""

    def write(partition: int, key: bytes, value: bytes) -> None:
        publisher.send_later(changelog, partition, key, value)

    return PartitionedState(changelog, write, bootstrap_servers=bootstrap_servers)

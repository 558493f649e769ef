"""Dedupe state in a Faust table, forgotten once nobody has written it for a while.

A group's state only matters within the run that wrote it (a later run starts the group
afresh), but a key that never comes back would stay in memory for the life of the worker
and in the changelog for ever. The changelog expires by age (`compact,delete`, see
`schemas.topics`); `ExpiringState` drops the same entries from the worker's memory, without
a tombstone, so both stay bounded by what the last TTL wrote. Dropping is safe: a missing
group and a group of an older run lead to the same decision.

Writes go to the table's store and, through the service's `Publisher`, to the changelog
partition of the event being processed. Faust's own write path queues every change behind
one background task that sends them one at a time: it took a sixth of the dedupe agent's
CPU and capped the agent at about a thousand jobs a second. The batch's flush now awaits
the changelog writes together with the outputs, before the batch is acknowledged.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, MutableMapping
from functools import partial
from typing import Any

import faust
from faust.types import TopicT

from schemas.topics import TopicSpec
from services.shared.streaming import Publisher

log = logging.getLogger(__name__)


class ExpiringState(MutableMapping[bytes, bytes]):
    """A `StateTable` over a Faust table; `forget_stale` drops entries older than `ttl_s`."""

    def __init__(
        self,
        table: Any,
        ttl_s: float,
        write_changelog: ChangelogWriter,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._table = table  # a faust.Table: its `data` is the local store
        self.ttl_s = ttl_s
        self._write_changelog = write_changelog
        self._clock = clock
        self._written: OrderedDict[bytes, float] = OrderedDict()  # oldest write first

    def __getitem__(self, key: bytes) -> bytes:
        value: bytes = self._table[key]
        return value

    def __setitem__(self, key: bytes, value: bytes) -> None:
        # The partition check comes first: a write outside an event must not reach the store.
        partition: int = self._table.partition_for_key(key)
        self._table.data[key] = value
        self._write_changelog(partition, key, value)
        self._written[key] = self._clock()
        self._written.move_to_end(key)

    def __delitem__(self, key: bytes) -> None:
        del self._table[key]
        self._written.pop(key, None)

    def __iter__(self) -> Iterator[bytes]:
        return iter(self._table)

    def __len__(self) -> int:
        return len(self._table)

    def forget_stale(self) -> int:
        """Drops, from this worker's memory only, what it last wrote over `ttl_s` ago.

        Entries recovered from the changelog at start-up are not tracked: the changelog's
        own retention bounds those.
        """
        cutoff = self._clock() - self.ttl_s
        forgotten = 0
        while self._written:
            key, written_at = next(iter(self._written.items()))
            if written_at > cutoff:
                break
            del self._written[key]
            self._table.data.pop(key, None)  # the store, not the table: no changelog write
            forgotten += 1
        return forgotten


ChangelogWriter = Callable[[int, bytes, bytes], None]
"""Sends (partition, key, value) to a table's changelog."""


def _changelog_topic(app: faust.App, spec: TopicSpec) -> TopicT:
    """A table's changelog as the catalogue declares it (compact,delete; co-partitioned)."""
    return app.topic(
        spec.name,
        partitions=spec.partitions,
        key_type=bytes,
        value_type=bytes,
        compacting=True,
        internal=True,
    )


FORGET_EVERY_S = 60.0


def expiring_table(
    app: faust.App, name: str, changelog_spec: TopicSpec, publisher: Publisher
) -> ExpiringState:
    """A bytes-to-bytes Faust table on its catalogue changelog, forgetting what expired.

    Its changelog writes join `publisher`'s pending sends, so its `flush` awaits them.
    """
    table = app.Table(
        name,
        partitions=changelog_spec.partitions,
        key_type=bytes,
        value_type=bytes,
        changelog_topic=_changelog_topic(app, changelog_spec),
    )
    state = ExpiringState(
        table,
        ttl_s=changelog_spec.retention_ms / 1000,
        write_changelog=partial(publisher.send_later, changelog_spec),
    )

    @app.timer(interval=FORGET_EVERY_S)  # type: ignore[untyped-decorator]
    async def forget_stale_state() -> None:
        forgotten = state.forget_stale()
        if forgotten:
            log.info("table %s: forgot %d groups not written for %.0f s", name, forgotten,
                     state.ttl_s)  # fmt: skip

    return state

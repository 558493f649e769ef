"""Dedupe state is forgotten from a worker's memory once nobody wrote it for the TTL."""

from __future__ import annotations

from typing import Any

from schemas.topics import DEDUPE_PASS1_CHANGELOG, DEDUPE_PASS2_CHANGELOG, STATE_TTL_MS
from services.shared.state import ExpiringState


class _Table(dict[bytes, bytes]):
    """What ExpiringState uses of a Faust table: a mapping whose `data` is the local store,
    and the changelog partition of the event being processed."""

    PARTITION = 3

    def __init__(self) -> None:
        super().__init__()
        self.changelog: list[tuple[int, bytes, bytes]] = []

    @property
    def data(self) -> dict[bytes, bytes]:
        return self

    def partition_for_key(self, key: bytes) -> int:
        return self.PARTITION

    def write_changelog(self, partition: int, key: bytes, value: bytes) -> None:
        self.changelog.append((partition, key, value))


class _Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def _state(ttl_s: float = 60.0) -> tuple[ExpiringState, _Table, _Clock]:
    table, clock = _Table(), _Clock()
    table_any: Any = table
    return ExpiringState(table_any, ttl_s, table.write_changelog, clock), table, clock


def test_entries_not_written_for_the_ttl_are_forgotten_without_a_changelog_write() -> None:
    state, table, clock = _state()
    state[b"old"] = b"1"
    clock.now += 50
    state[b"recent"] = b"2"
    clock.now += 15  # "old" is 65 s old, "recent" 15 s
    assert state.forget_stale() == 1
    assert dict(state) == {b"recent": b"2"} and state.get(b"old") is None
    assert table.changelog == [(3, b"old", b"1"), (3, b"recent", b"2")]  # no tombstone


def test_a_rewrite_keeps_an_entry_alive() -> None:
    state, _, clock = _state()
    state[b"group"] = b"run 1"
    clock.now += 50
    state[b"group"] = b"run 1, second job"
    clock.now += 50
    assert state.forget_stale() == 0 and state[b"group"] == b"run 1, second job"
    clock.now += 11
    assert state.forget_stale() == 1 and len(state) == 0


def test_nothing_is_forgotten_within_the_ttl() -> None:
    state, _, clock = _state()
    for n in range(5):
        state[bytes([n])] = b"x"
    clock.now += 59
    assert state.forget_stale() == 0 and len(state) == 5


def test_changelogs_expire_by_age_as_well_as_compacting() -> None:
    for spec in (DEDUPE_PASS1_CHANGELOG, DEDUPE_PASS2_CHANGELOG):
        assert spec.configs() == {
            "cleanup.policy": "compact,delete",
            "retention.ms": str(STATE_TTL_MS),
        }

"""Dedupe state per partition: writes reach the changelog of their partition, a revoked
partition cannot be written, and entries nobody wrote for the TTL are forgotten."""

from __future__ import annotations

import pytest

from schemas.topics import DEDUPE_PASS1_CHANGELOG, DEDUPE_PASS2_CHANGELOG, STATE_TTL_MS
from services.shared.agents import Revoked
from services.shared.state import PartitionedState


class _Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


class _Changelog:
    def __init__(self) -> None:
        self.writes: list[tuple[int, bytes, bytes]] = []

    def __call__(self, partition: int, key: bytes, value: bytes) -> None:
        self.writes.append((partition, key, value))


def _state(ttl_s: float = 60.0) -> tuple[PartitionedState, _Changelog, _Clock]:
    changelog, clock = _Changelog(), _Clock()
    state = PartitionedState(
        DEDUPE_PASS1_CHANGELOG, changelog, bootstrap_servers="unused:1", ttl_s=ttl_s, clock=clock
    )
    state.hold_empty({0, 3})
    return state, changelog, clock


def test_a_write_goes_to_its_partitions_memory_and_changelog() -> None:
    state, changelog, _ = _state()
    state.at(3)[b"group"] = b"kept"
    assert state.at(3)[b"group"] == b"kept" and b"group" not in state.at(0)
    assert changelog.writes == [(3, b"group", b"kept")]


def test_a_partition_not_held_is_revoked_for_reads_and_for_writes_in_flight() -> None:
    state, changelog, _ = _state()
    held = state.at(0)
    with pytest.raises(Revoked):
        state.at(5)
    state.drop({0})
    with pytest.raises(Revoked):
        held[b"group"] = b"kept"  # a batch that outlived its partition writes nothing
    assert changelog.writes == []


def test_entries_not_written_for_the_ttl_are_forgotten_without_a_changelog_write() -> None:
    state, changelog, clock = _state()
    state.at(3)[b"old"] = b"1"
    clock.now += 50
    state.at(0)[b"recent"] = b"2"
    clock.now += 15  # "old" is 65 s old, "recent" 15 s
    assert state.forget_stale() == 1
    assert dict(state.at(3)) == {} and dict(state.at(0)) == {b"recent": b"2"}
    assert changelog.writes == [(3, b"old", b"1"), (0, b"recent", b"2")]  # no tombstone


def test_a_rewrite_keeps_an_entry_alive() -> None:
    state, _, clock = _state()
    state.at(0)[b"group"] = b"run 1"
    clock.now += 50
    state.at(0)[b"group"] = b"run 1, second job"
    clock.now += 50
    assert state.forget_stale() == 0 and state.at(0)[b"group"] == b"run 1, second job"
    clock.now += 11
    assert state.forget_stale() == 1 and len(state.at(0)) == 0


def test_nothing_is_forgotten_within_the_ttl() -> None:
    state, _, clock = _state()
    for n in range(5):
        state.at(0)[bytes([n])] = b"x"
    clock.now += 59
    assert state.forget_stale() == 0 and len(state.at(0)) == 5


def test_changelogs_expire_by_age_as_well_as_compacting() -> None:
    for spec in (DEDUPE_PASS1_CHANGELOG, DEDUPE_PASS2_CHANGELOG):
        assert spec.configs() == {
            "cleanup.policy": "compact,delete",
            "retention.ms": str(STATE_TTL_MS),
        }

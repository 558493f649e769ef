"""Incremental runs: which records of a run the feed's last run already processed as they are.

A record is *unchanged* when its whole pass-1 dedupe group is: the group (its dedupe key in
this feed) holds, in feed order, exactly the postings it held in the feed's last run, byte
for byte once mapped (a digest of the whole posting, not only its content hash: locations,
salary and URLs are on the row too), and that group was settled then (every member kept or
merged by pass 1, none merged by pass 2, its job still listed and enriched with the current
version; `adapters/seen_repository.py` finds those groups). Pass 1 judges a group alone, and
the same postings in the same order get the same verdicts, so such a group's rows are what
a full run would write again. Its records go to the router as `JobsUnchanged` entries.

A group that changed in any way (a posting changed, added, removed or moved) is processed
in full, every member: a changed member can change what happens to the others. Its members
read before the change showed are sent in full after the feed was read (`conflicts`).

Not covered: a new or changed job whose AI title makes it a pass-2 near-duplicate of an
unchanged job of another dedupe group is kept on its own (pass 2 never sees the unchanged
job); `--refresh` processes every record.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field

from schemas.records import JobPosting

MARKER_ENTRIES = 1000  # unchanged records per JobsUnchanged message


def _int64(data: bytes) -> int:
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "big", signed=True)


def fingerprint(job: JobPosting) -> int:
    """A digest of the whole mapped posting (every field the router stores)."""
    return _int64(job.__pydantic_serializer__.to_json(job))


def group_key(dedupe_key: str) -> int:
    return _int64(dedupe_key.encode())


@dataclass(frozen=True, slots=True)
class Member:
    """A record of a settled group in the last run: its posting and the job it merged into
    (None for the group's kept job)."""

    fingerprint: int
    kept_hash: str | None


@dataclass(slots=True)
class PreviousRun:
    """The settled groups of the feed's last run: group key -> members in feed order."""

    run_id: str
    groups: Mapping[int, tuple[Member, ...]]
    candidates: set[int] = field(init=False)

    def __post_init__(self) -> None:
        self.candidates = {m.fingerprint for members in self.groups.values() for m in members}


@dataclass(frozen=True, slots=True)
class Unchanged:
    seq: int
    job_hash: str
    kept_hash: str | None


@dataclass(frozen=True, slots=True)
class Resolution:
    unchanged: list[Unchanged]
    conflicts: dict[int, int]  # seq -> fingerprint: records to send in full after all


class Sorter:
    """Sorts a run's records as the feed is read: `hold` says whether one may be unchanged
    (held until the feed's end) or goes in full now; `resolve` decides the held ones."""

    def __init__(self, previous: PreviousRun | None) -> None:
        self._previous = previous
        self._held: dict[int, list[tuple[int, int, str]]] = {}  # group -> (seq, fp, hash)
        self._dirty_groups: set[int] = set()
        self._dirty_hashes: set[str] = set()

    def hold(self, seq: int, fp: int, group: int, job_hash: str) -> bool:
        if self._previous is None:
            return False  # nothing to compare with: keep no state (a first run, a refresh)
        if fp in self._previous.candidates:
            self._held.setdefault(group, []).append((seq, fp, job_hash))
            return True
        self._dirty_hashes.add(job_hash)
        if group in self._previous.groups:
            # A settled group changed: all of it goes in full, in feed order (pass 1 keeps
            # a group's first job), so this one waits for the others too.
            self._dirty_groups.add(group)
            self._held.setdefault(group, []).append((seq, fp, job_hash))
            return True
        return False

    def resolve(self) -> Resolution:
        unchanged: list[Unchanged] = []
        conflicts: dict[int, int] = {}
        groups = self._previous.groups if self._previous else {}
        for group, held in self._held.items():
            before = groups.get(group, ())
            same = (
                group not in self._dirty_groups
                and len(held) == len(before)
                and all(fp == m.fingerprint for (_, fp, _), m in zip(held, before, strict=True))
                and not any(h in self._dirty_hashes for _, _, h in held)
            )
            if same:
                unchanged.extend(
                    Unchanged(seq, h, m.kept_hash)
                    for (seq, _, h), m in zip(held, before, strict=True)
                )
            else:
                conflicts.update((seq, fp) for seq, fp, _ in held)
        return Resolution(unchanged, conflicts)

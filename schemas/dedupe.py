"""The merge rule shared by dedupe pass 1 (ingestor) and pass 2 (router): pure, state in/out.

Within one group key (title|company|employment type) and one run, a job is kept, is an
exact duplicate of a kept job (same hash, no new location), or is merged into one (same
hash with new locations, or a near-duplicate description). Near-duplicate means: the
Jaccard similarity of the word sets passes the mode's gate, then rapidfuzz's
token_sort_ratio passes the mode's threshold (balanced: 0.4 / 85), computed on plain text
from which location mentions ("based in Austin, TX") were removed.

The state is a small JSON-able dict (it lives in a Faust table): per kept job its hash,
seq, a compact fingerprint (sorted words, capped) and the location keys it has; the
number of kept jobs is bounded. Most groups never see a second job, so the first job of a
group keeps its description instead, and its fingerprint is made only when a later job of
the group needs a comparison (the fingerprint is most of a pass's CPU). The first job of a
group in feed order is the one kept (the original kept the smallest hash, which churned
when siblings changed). A replayed record (same seq) gets the same verdict again, so
redelivery is harmless.
"""

from __future__ import annotations

import re
from collections.abc import MutableMapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal, NotRequired, Protocol, TypedDict, cast

import orjson
from rapidfuzz import fuzz

from schemas.records import JobMerged, JobPosting, Location, Outcome
from schemas.text import html_to_text

MAX_KEPT_PER_GROUP = 50
MAX_FINGERPRINT_WORDS = 1500
MAX_LOCATIONS_PER_JOB = 500
MAX_MEMBERS_PER_JOB = 1000


class AccuracyMode(StrEnum):
    FAST = "fast"
    BALANCED = "balanced"
    ACCURATE = "accurate"


@dataclass(frozen=True, slots=True)
class MergeParams:
    jaccard_gate: float
    threshold: float  # token_sort_ratio, 0-100


MODE_PARAMS = {
    AccuracyMode.FAST: MergeParams(0.5, 85.0),
    AccuracyMode.BALANCED: MergeParams(0.4, 85.0),
    AccuracyMode.ACCURATE: MergeParams(0.3, 70.0),
}

# A location trigger ("located in", "based in", "work at", "relocating to", "in", "at",
# "from", any case) at a word start. The pattern opens with a character class so the regex
# engine scans for candidate letters in C instead of trying a match at every position
# (~40% faster than a leading \b); each branch then checks the letter it continues.
_TRIGGER = (
    r"[abfilrwABFILRW](?<!\w.)(?i:(?<=l)(?:ocated in|ocation:?)|(?<=b)ased in"
    r"|(?<=w)ork (?:in|at|from)|(?<=r)elocat(?:e|ion|ing) to|(?<=i)n|(?<=a)t|(?<=f)rom)"
)
_PLACE_WORD = r"[A-Z][a-zA-Z.'-]*"
_LOCATION_MENTION = re.compile(
    rf"{_TRIGGER}\s+{_PLACE_WORD}(?:\s+{_PLACE_WORD}){{0,3}}"
    r"(?:,\s*[A-Z]{2}\b(?:\s+\d{5}(?:-\d{4})?)?)?"
    r"(?:,\s*(?:USA|US|United States|Canada|UK|United Kingdom|Remote|Anywhere)\b)?"
)
_NON_WORD = re.compile(r"[^\w]+")
# For ASCII text \w is [A-Za-z0-9_]: one bytes.translate replaces the regex pass (hot path).
_ASCII_WORD_OR_SPACE = bytes(
    b if b == 0x5F or (chr(b).isascii() and chr(b).isalnum()) else 0x20 for b in range(256)
)


class KeptJob(TypedDict):
    hash: str
    seq: int
    fp: str  # "" until a comparison needs it; then made from `src`, which is dropped
    src: NotRequired[str]  # the description (HTML or text), while `fp` is not made yet
    locs: dict[str, int]  # location key -> seq of the record that brought it
    members: list[int]


class GroupState(TypedDict):
    run_id: str
    kept: list[KeptJob]
    overflow: int


@dataclass(frozen=True, slots=True)
class Keep:
    pass


@dataclass(frozen=True, slots=True)
class Duplicate:
    kept_hash: str


@dataclass(frozen=True, slots=True)
class Merge:
    kept_hash: str
    new_locations: tuple[Location, ...]


# What pass 1 makes of a record: keep it, drop it as a duplicate, or merge its locations.
DedupeVerdict = Keep | Duplicate | Merge


def remove_location_mentions(text: str) -> str:
    """Drop "in Austin, TX"-style phrases; place names must be capitalised (no IGNORECASE)."""
    return _LOCATION_MENTION.sub(" ", text)


def fingerprint(description: str) -> str:
    """Sorted lower-case words of the location-free text: what token_sort_ratio compares.

    `description` may be HTML or plain text: it is made plain first.
    """
    words = _lower_words(remove_location_mentions(html_to_text(description)))
    return " ".join(sorted(words[:MAX_FINGERPRINT_WORDS]))


def _lower_words(text: str) -> list[str]:
    if text.isascii():
        return text.encode("ascii").translate(_ASCII_WORD_OR_SPACE).lower().decode().split()
    return _NON_WORD.sub(" ", text).lower().split()


def jaccard(words_a: set[str], words_b: set[str]) -> float:
    if not words_a or not words_b:
        return 0.0
    return len(words_a & words_b) / len(words_a | words_b)


def similarity(
    fingerprint_a: str, words_a: set[str], fingerprint_b: str, params: MergeParams
) -> float | None:
    """token_sort_ratio of two fingerprints, or None when the Jaccard gate fails.

    `words_a` is the word set of `fingerprint_a`, made once by a caller comparing it often.
    """
    if jaccard(words_a, set(fingerprint_b.split())) < params.jaccard_gate:
        return None
    # fingerprints are already sorted words, so plain ratio equals token_sort_ratio
    return float(fuzz.ratio(fingerprint_a, fingerprint_b))


def judge(
    state: GroupState | None,
    *,
    run_id: str,
    seq: int,
    job_hash: str,
    description: str,
    locations: Sequence[Location],
    mode: AccuracyMode = AccuracyMode.BALANCED,
) -> tuple[GroupState, DedupeVerdict]:
    """Judge one record of a group; returns the new state (the input is not changed)."""
    current = _fresh(run_id) if state is None or state["run_id"] != run_id else _copy(state)
    for kept in current["kept"]:
        if kept["seq"] == seq:
            return current, Keep()
        if seq in kept["members"]:
            return current, _replayed(kept, seq, locations)
    target = _exact(current, job_hash)
    if target is not None:
        new = _absorb(target, seq, locations)
        return current, Merge(target["hash"], new) if new else Duplicate(target["hash"])
    if not current["kept"]:  # nothing to compare with: the fingerprint waits until needed
        _keep(current, seq, job_hash, locations, src=description)
        return current, Keep()
    printed = fingerprint(description)
    target = _nearest(current, printed, MODE_PARAMS[mode])
    if target is not None:
        return current, Merge(target["hash"], _absorb(target, seq, locations))
    _keep(current, seq, job_hash, locations, fp=printed)
    return current, Keep()


def _fresh(run_id: str) -> GroupState:
    return {"run_id": run_id, "kept": [], "overflow": 0}


def _copy(state: GroupState) -> GroupState:
    kept = [
        KeptJob(
            hash=k["hash"],
            seq=k["seq"],
            fp=k["fp"],
            src=k.get("src", ""),
            locs=dict(k["locs"]),
            members=list(k["members"]),
        )
        for k in state["kept"]
    ]
    return {"run_id": state["run_id"], "kept": kept, "overflow": state["overflow"]}


def _replayed(kept: KeptJob, seq: int, locations: Sequence[Location]) -> DedupeVerdict:
    brought = tuple(loc for loc in _unique(locations) if kept["locs"].get(loc.key()) == seq)
    return Merge(kept["hash"], brought) if brought else Duplicate(kept["hash"])


def _exact(state: GroupState, job_hash: str) -> KeptJob | None:
    return next((k for k in state["kept"] if k["hash"] == job_hash), None)


def _nearest(state: GroupState, printed: str, params: MergeParams) -> KeptJob | None:
    best: tuple[float, KeptJob] | None = None
    words = set(printed.split())  # once, not once per kept job
    for kept in state["kept"]:
        score = similarity(printed, words, _fingerprint_of(kept), params)
        if score is not None and score >= params.threshold and (best is None or score > best[0]):
            best = (score, kept)
    return best[1] if best else None


def _fingerprint_of(kept: KeptJob) -> str:
    if not kept["fp"] and kept.get("src"):
        kept["fp"], kept["src"] = fingerprint(kept["src"]), ""
    return kept["fp"]


def _absorb(kept: KeptJob, seq: int, locations: Sequence[Location]) -> tuple[Location, ...]:
    new = tuple(loc for loc in _unique(locations) if loc.key() not in kept["locs"])
    for loc in new:
        if len(kept["locs"]) < MAX_LOCATIONS_PER_JOB:
            kept["locs"][loc.key()] = seq
    if len(kept["members"]) < MAX_MEMBERS_PER_JOB:
        kept["members"].append(seq)
    return new


def _keep(
    state: GroupState,
    seq: int,
    job_hash: str,
    locations: Sequence[Location],
    *,
    fp: str = "",
    src: str = "",
) -> None:
    if len(state["kept"]) >= MAX_KEPT_PER_GROUP:
        state["overflow"] += 1  # still kept, just no longer a merge target
        return
    locs = {loc.key(): seq for loc in _unique(locations)[:MAX_LOCATIONS_PER_JOB]}
    kept = KeptJob(hash=job_hash, seq=seq, fp=fp, src=src, locs=locs, members=[])
    state["kept"].append(kept)


def _unique(locations: Sequence[Location]) -> list[Location]:
    return list({loc.key(): loc for loc in locations}.values())


StateTable = MutableMapping[bytes, bytes]
"""Where a pass keeps its groups: group key → JSON state (a Faust table in the services)."""


def judge_in(
    table: StateTable,
    key: bytes,
    *,
    run_id: str,
    seq: int,
    job_hash: str,
    description: str,
    locations: Sequence[Location],
    mode: AccuracyMode = AccuracyMode.BALANCED,
) -> DedupeVerdict:
    """Decides one record against the group stored under `key`, and stores the group back."""
    stored = table.get(key)
    state = cast(GroupState, orjson.loads(stored)) if stored else None
    new_state, verdict = judge(
        state,
        run_id=run_id,
        seq=seq,
        job_hash=job_hash,
        description=description,
        locations=locations,
        mode=mode,
    )
    table[key] = orjson.dumps(new_state)
    return verdict


class JobRecord(Protocol):
    """A record carrying one job of a run: a RawJob (pass 1) or an EnrichedJob (pass 2)."""

    @property
    def run_id(self) -> str: ...
    @property
    def feed_id(self) -> int: ...
    @property
    def seq(self) -> int: ...
    @property
    def job_hash(self) -> str: ...
    @property
    def job(self) -> JobPosting: ...


def group_key(feed_id: int, key: bytes) -> bytes:
    """Where a group lives in a table: one per feed and key. A group holds one run's state
    and starts afresh for another run, so runs of two feeds sharing a key at once (the same
    title at the same company) would otherwise reset each other's group and miss merges.
    Runs of one feed never overlap: triggers and replays take the feed's run lock."""
    return b"%d:%b" % (feed_id, key)


def merge_of(
    table: StateTable, key: bytes, record: JobRecord, *, pass_number: Literal[1, 2]
) -> JobMerged | None:
    """Decides `record` against its group in `table`: the merge it makes, or None if kept."""
    verdict = judge_in(
        table,
        group_key(record.feed_id, key),
        run_id=record.run_id,
        seq=record.seq,
        job_hash=record.job_hash,
        description=record.job.description_html,
        locations=record.job.locations,
    )
    if isinstance(verdict, Keep):
        return None
    return merge_record(
        verdict,
        run_id=record.run_id,
        feed_id=record.feed_id,
        seq=record.seq,
        duplicate_hash=record.job_hash,
        pass_number=pass_number,
    )


def merge_record(
    verdict: Duplicate | Merge,
    *,
    run_id: str,
    feed_id: int,
    seq: int,
    duplicate_hash: str,
    pass_number: Literal[1, 2],
) -> JobMerged:
    """The record that tells the router a job was folded into another (and what it brought)."""
    duplicate = isinstance(verdict, Duplicate)
    return JobMerged(
        run_id=run_id,
        feed_id=feed_id,
        seq=seq,
        kept_hash=verdict.kept_hash,
        duplicate_hash=duplicate_hash,
        outcome=Outcome.DUPLICATE if duplicate else Outcome.MERGED,
        pass_number=pass_number,
        locations=() if isinstance(verdict, Duplicate) else verdict.new_locations,
    )

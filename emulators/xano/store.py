"""The emulator's job_posting table: in memory, indexed, persisted atomically to a JSON file."""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

JsonRecord = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Page:
    """One page of a feed's records, in Xano's paging terms (pages start at 1)."""

    items: list[JsonRecord]
    page: int
    per_page: int
    total: int

    @property
    def page_total(self) -> int:
        return max(1, -(-self.total // self.per_page))

    def envelope(self) -> JsonRecord:
        """The body Xano answers a paged query with."""
        return {
            "items": self.items,
            "itemsReceived": len(self.items),
            "curPage": self.page,
            "nextPage": self.page + 1 if self.page < self.page_total else None,
            "prevPage": self.page - 1 if self.page > 1 else None,
            "offset": (self.page - 1) * self.per_page,
            "itemsTotal": self.total,
            "pageTotal": self.page_total,
        }


@dataclass(frozen=True, slots=True)
class AddCounts:
    added: int
    updated: int


@dataclass(frozen=True, slots=True)
class UpdateCounts:
    updated: int
    not_found: list[str]


class XanoStore:
    """Records keyed by an insertion id; eid and job_hash are indexed for the bulk endpoints."""

    def __init__(self, path: Path | None = None) -> None:
        self._path = path
        self._records: dict[int, JsonRecord] = {}
        self._next_id = 1
        self._by_eid: dict[str, int] = {}
        self._by_hash: dict[str, list[int]] = {}
        self._feed_order: dict[int | None, list[int]] = {}
        if path is not None and path.exists():
            self._load(path)

    def __len__(self) -> int:
        return len(self._records)

    # -- queries ---------------------------------------------------------------------------

    def page(self, feed_id: int | None, page: int, per_page: int) -> Page:
        ids = self._ids_of_feed(feed_id)
        start = (page - 1) * per_page
        items = [self._records[i] for i in ids[start : start + per_page]]
        return Page(items=items, page=page, per_page=per_page, total=len(ids))

    def records(self, feed_id: int | None = None) -> list[JsonRecord]:
        """Every record (of one feed when given), in insertion order."""
        if feed_id is None:
            return list(self._records.values())
        return [self._records[i] for i in self._ids_of_feed(feed_id)]

    # -- writes ----------------------------------------------------------------------------

    def add(self, postings: Sequence[Mapping[str, Any]]) -> AddCounts:
        """Inserts postings; one whose eid exists is replaced in place: retries never duplicate."""
        added = updated = 0
        for posting in postings:
            existing = self._by_eid.get(str(posting.get("eid") or ""))
            if existing is None:
                self._insert(dict(posting))
                added += 1
            else:
                self._replace(existing, posting)
                updated += 1
        self._changed()
        return AddCounts(added=added, updated=updated)

    def update(self, postings: Sequence[Mapping[str, Any]]) -> UpdateCounts:
        """Updates every record with the posting's job_hash within the posting's feed."""
        updated = 0
        not_found: list[str] = []
        for posting in postings:
            job_hash = str(posting.get("job_hash"))
            targets = self._ids_of_hash(job_hash, _feed_of(posting))
            for record_id in targets:
                self._replace(record_id, posting)
            updated += len(targets)
            if not targets:
                not_found.append(job_hash)
        self._changed()
        return UpdateCounts(updated=updated, not_found=not_found)

    def remove(self, job_hashes: Iterable[str], feed_id: int | None) -> int:
        """Removes every record holding one of the hashes (only within the feed when given)."""
        removed = 0
        for job_hash in job_hashes:
            for record_id in self._ids_of_hash(job_hash, feed_id):
                self._delete(record_id)
                removed += 1
        self._changed()
        return removed

    def clear(self) -> None:
        self._records.clear()
        self._by_eid.clear()
        self._by_hash.clear()
        self._next_id = 1
        self._changed()

    # -- internals -------------------------------------------------------------------------

    def _insert(self, posting: JsonRecord) -> None:
        record_id = self._next_id
        self._next_id += 1
        posting.setdefault("created_at", int(time.time() * 1000))
        posting["id"] = record_id
        self._records[record_id] = posting
        self._index(record_id, posting)

    def _replace(self, record_id: int, posting: Mapping[str, Any]) -> None:
        self._unindex(record_id)
        record = self._records[record_id]
        record.update(posting)
        record["id"] = record_id  # the id is Xano's, never the caller's
        self._index(record_id, record)

    def _delete(self, record_id: int) -> None:
        self._unindex(record_id)
        del self._records[record_id]

    def _index(self, record_id: int, record: Mapping[str, Any]) -> None:
        eid = record.get("eid")
        if eid:
            self._by_eid[str(eid)] = record_id
        self._by_hash.setdefault(str(record.get("job_hash")), []).append(record_id)

    def _unindex(self, record_id: int) -> None:
        record = self._records[record_id]
        eid = record.get("eid")
        if eid and self._by_eid.get(str(eid)) == record_id:
            del self._by_eid[str(eid)]
        job_hash = str(record.get("job_hash"))
        siblings = self._by_hash.get(job_hash, [])
        if record_id in siblings:
            siblings.remove(record_id)
        if not siblings:
            self._by_hash.pop(job_hash, None)

    def _ids_of_hash(self, job_hash: str, feed_id: int | None) -> list[int]:
        ids = list(self._by_hash.get(job_hash, ()))
        if feed_id is None:
            return ids
        return [i for i in ids if _feed_of(self._records[i]) == feed_id]

    def _ids_of_feed(self, feed_id: int | None) -> list[int]:
        # Cached between writes so walking N pages costs one scan, not N.
        ids = self._feed_order.get(feed_id)
        if ids is None:
            ids = [i for i, r in self._records.items() if _feed_of(r) == feed_id]
            self._feed_order[feed_id] = ids
        return ids

    def _changed(self) -> None:
        self._feed_order.clear()
        if self._path is not None:
            _write_atomically(self._path, self._snapshot())

    def _snapshot(self) -> bytes:
        return orjson.dumps({"next_id": self._next_id, "records": list(self._records.values())})

    def _load(self, path: Path) -> None:
        data = orjson.loads(path.read_bytes())
        for record in data.get("records", []):
            record_id = int(record["id"])
            self._records[record_id] = record
            self._index(record_id, record)
        self._next_id = max(int(data.get("next_id", 1)), max(self._records, default=0) + 1)


def _feed_of(record: Mapping[str, Any]) -> int | None:
    value = record.get("feed_id")
    try:
        return None if value is None else int(value)
    except (TypeError, ValueError):
        return None


def _write_atomically(path: Path, payload: bytes) -> None:
    """Temp file in the same directory, then rename: a crash leaves the old file or the new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as tmp:
            tmp.write(payload)
            tmp.flush()
            os.fsync(tmp.fileno())
        Path(tmp_name).replace(path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise

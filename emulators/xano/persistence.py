"""Durable storage for the emulator: an atomic JSON snapshot plus an append-only journal.

Rewriting the whole snapshot on every bulk request would cost O(records) per request, so
each write appends one journal line instead, and the snapshot is rewritten (temp file +
rename) once the journal outgrows it. Journal lines carry a sequence number and the
snapshot records the last one it includes, so a crash between the two steps replays nothing twice.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import orjson

JsonObject = dict[str, Any]

MIN_JOURNAL_BYTES_BEFORE_COMPACTION = 4 * 1024 * 1024


class DurableFile:
    """The snapshot at `path` and its journal at `path` + '.journal'."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self.journal_path = path.with_name(path.name + ".journal")
        self._journal: IO[bytes] | None = None
        self._journal_bytes = 0
        self._snapshot_bytes = 0

    def load(self) -> tuple[JsonObject | None, list[JsonObject]]:
        """The last snapshot (None if there is none) and the journal entries written after it."""
        snapshot = orjson.loads(self.path.read_bytes()) if self.path.exists() else None
        self._snapshot_bytes = self.path.stat().st_size if snapshot is not None else 0
        seen = int(snapshot.get("seq", 0)) if snapshot else 0
        return snapshot, [entry for entry in self._journal_entries() if entry["seq"] > seen]

    def append(self, entry: JsonObject) -> None:
        """Logs one write; flushed so a killed process loses nothing the OS has accepted."""
        if self._journal is None:
            self._journal = self.journal_path.open("ab")
        line = orjson.dumps(entry) + b"\n"
        self._journal.write(line)
        self._journal.flush()
        self._journal_bytes += len(line)

    def should_compact(self) -> bool:
        threshold = max(MIN_JOURNAL_BYTES_BEFORE_COMPACTION, self._snapshot_bytes)
        return self._journal_bytes > threshold

    def compact(self, snapshot: bytes) -> None:
        """Writes the snapshot atomically, then empties the journal it now includes."""
        write_atomically(self.path, snapshot)
        self._snapshot_bytes = len(snapshot)
        self.close()
        self.journal_path.write_bytes(b"")
        self._journal_bytes = 0

    def close(self) -> None:
        if self._journal is not None:
            self._journal.close()
            self._journal = None

    def _journal_entries(self) -> Iterator[JsonObject]:
        if not self.journal_path.exists():
            return
        with self.journal_path.open("rb") as journal:
            for line in journal:
                try:
                    yield orjson.loads(line)
                except orjson.JSONDecodeError:
                    return  # a line cut short by a crash: its request was never answered


def write_atomically(path: Path, payload: bytes) -> None:
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

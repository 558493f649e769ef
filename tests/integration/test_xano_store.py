"""The emulator's store keeps every answered write across crashes and restarts (real files)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from emulators.xano import persistence
from emulators.xano.persistence import write_atomically
from emulators.xano.store import XanoStore


def posting(job_hash: str, **fields: Any) -> dict[str, Any]:
    # No eid: a replayed add would show up as a duplicate, which is what these tests look for.
    return {"job_hash": job_hash, "feed_id": 1, **fields}


OpenStore = Callable[[Path], XanoStore]


@pytest.fixture
def open_store() -> Iterator[OpenStore]:
    """Opens stores and closes their files at teardown; the tests themselves play crashes."""
    stores: list[XanoStore] = []

    def opener(path: Path) -> XanoStore:
        stores.append(XanoStore(path))
        return stores[-1]

    yield opener
    for store in stores:
        store.close()


def summary(store: XanoStore) -> list[tuple[Any, ...]]:
    return [(r["id"], r["job_hash"], r.get("title"), r["created_at"]) for r in store.records()]


def test_writes_survive_a_crash_without_a_clean_shutdown(
    tmp_path: Path, open_store: OpenStore
) -> None:
    path = tmp_path / "xano.json"
    store = open_store(path)
    store.add([posting("a"), posting("b")])
    store.update([posting("a", title="new")])
    store.remove(["b"], feed_id=1)
    store.add([posting("c")])

    reopened = open_store(path)  # the first store was never closed

    assert summary(reopened) == summary(store)
    assert [r["job_hash"] for r in reopened.records()] == ["a", "c"]


def test_clean_shutdown_folds_the_journal_into_the_snapshot(
    tmp_path: Path, open_store: OpenStore
) -> None:
    path = tmp_path / "xano.json"
    store = open_store(path)
    store.add([posting("a")])
    store.close()

    assert path.with_name("xano.json.journal").read_bytes() == b""
    assert [r["job_hash"] for r in open_store(path).records()] == ["a"]


def test_compaction_mid_run_keeps_everything(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, open_store: OpenStore
) -> None:
    monkeypatch.setattr(persistence, "MIN_JOURNAL_BYTES_BEFORE_COMPACTION", 200)
    path = tmp_path / "xano.json"
    store = open_store(path)
    for i in range(30):
        store.add([posting(f"h{i:02}", title="x" * 20)])

    assert path.exists()
    assert summary(open_store(path)) == summary(store)


def test_a_crash_between_snapshot_and_journal_reset_replays_nothing_twice(
    tmp_path: Path, open_store: OpenStore
) -> None:
    path = tmp_path / "xano.json"
    store = open_store(path)
    store.add([posting("a"), posting("b")])
    write_atomically(path, store._snapshot())  # the snapshot landed, the journal was not emptied

    assert [r["job_hash"] for r in open_store(path).records()] == ["a", "b"]


def test_a_journal_line_cut_short_by_a_crash_is_ignored(
    tmp_path: Path, open_store: OpenStore
) -> None:
    path = tmp_path / "xano.json"
    store = open_store(path)
    store.add([posting("a")])
    with path.with_name("xano.json.journal").open("ab") as journal:
        journal.write(b'{"seq": 2, "op": "add", "postings": [{"job_')

    assert [r["job_hash"] for r in open_store(path).records()] == ["a"]


def test_ids_continue_after_a_restart(tmp_path: Path, open_store: OpenStore) -> None:
    path = tmp_path / "xano.json"
    first = open_store(path)
    first.add([posting("a"), posting("b")])
    first.remove(["b"], feed_id=None)
    first.close()
    second = open_store(path)
    second.add([posting("c")])

    assert [(r["id"], r["job_hash"]) for r in second.records()] == [(1, "a"), (3, "c")]

"""Which listed records a reconcile may act on, and how many it may take down at once."""

from __future__ import annotations

from typing import Any

import pytest

from services.shared.settings import SettingsError
from services.syncer.config import SyncerSettings, delete_cap_from
from services.syncer.reconcile import DeleteCap, mirrored_jobs, split_by_feed


def record(job_hash: str, feed_id: Any) -> dict[str, Any]:
    return {"job_hash": job_hash, "feed_id": feed_id}


def test_only_records_proving_the_feed_are_ours() -> None:
    listed = [
        record("a", 7),
        record("b", "7"),  # Xano may send numbers as text
        record("c", 8),
        record("d", None),
        {"job_hash": "e"},
        record("f", True),  # a bool is not a feed id
        record("g", "seven"),
    ]

    ours, foreign = split_by_feed(listed, 7)

    assert [r["job_hash"] for r in ours] == ["a", "b"]
    assert [r["job_hash"] for r in foreign] == ["c", "d", "e", "f", "g"]


def test_the_mirror_counts_jobs_not_copies() -> None:
    assert mirrored_jobs([record("a", 1), record("a", 1), record("b", 1), {"feed_id": 1}]) == 2


@pytest.mark.parametrize(
    ("deletes", "mirrored", "exceeded"),
    [
        (1, 1, False),  # a one-job feed dropping its job: under the 5-job floor
        (5, 5, False),
        (6, 6, True),
        (50, 100, False),
        (51, 100, True),
        (0, 0, False),
    ],
)
def test_the_cap_is_a_share_of_the_mirror_with_a_floor(
    deletes: int, mirrored: int, exceeded: bool
) -> None:
    assert DeleteCap(share=0.5, min_jobs=5).exceeded_by(deletes, mirrored) is exceeded


def test_the_cap_is_a_setting() -> None:
    env = {"XANO_MAX_DELETE_SHARE": "0.2", "XANO_DELETE_CAP_MIN_JOBS": "3"}

    assert SyncerSettings.from_env(env).delete_cap == DeleteCap(share=0.2, min_jobs=3)
    assert SyncerSettings.from_env({}).delete_cap == DeleteCap(share=0.5, min_jobs=5)


@pytest.mark.parametrize(
    "env",
    [
        {"XANO_MAX_DELETE_SHARE": "0"},
        {"XANO_MAX_DELETE_SHARE": "1.5"},
        {"XANO_MAX_DELETE_SHARE": "half"},
        {"XANO_DELETE_CAP_MIN_JOBS": "-1"},
    ],
)
def test_a_nonsense_cap_is_refused(env: dict[str, str]) -> None:
    with pytest.raises(SettingsError):
        delete_cap_from(env)

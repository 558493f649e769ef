"""The reconcile plan that turns a feed's Xano records into a mirror of open_jobs."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from services.syncer.payload import fingerprint
from services.syncer.reconcile import LocalJob, Plan, plan


def payload(job_hash: str, title: str = "Nurse", **extra: Any) -> dict[str, Any]:
    return {
        "eid": f"eid-{job_hash}",
        "job_hash": job_hash,
        "feed_id": 7,
        "title": title,
        "salary_min": 0.0,
        **extra,
    }


def local_of(*payloads: dict[str, Any]) -> dict[str, LocalJob]:
    return {p["job_hash"]: LocalJob.of(p) for p in payloads}


def remote_of(*payloads: dict[str, Any]) -> list[dict[str, Any]]:
    """Records as Xano lists them: its own id and timestamp added."""
    return [{**p, "id": i, "created_at": 1} for i, p in enumerate(payloads, start=1)]


def hashes(records: tuple[Any, ...]) -> list[str]:
    return [r["job_hash"] for r in records]


def test_new_jobs_are_added_and_gone_jobs_deleted() -> None:
    result = plan(local_of(payload("a"), payload("b")), remote_of(payload("b"), payload("z")))

    assert hashes(result.adds) == ["a"]
    assert result.deletes == ("z",)
    assert result.updates == ()
    assert result.unchanged == ("b",)


def test_unchanged_jobs_cause_no_write_even_with_xano_number_formatting() -> None:
    remote = remote_of({**payload("a"), "salary_min": 0})

    result = plan(local_of(payload("a")), remote)

    assert result.is_empty
    assert result.unchanged == ("a",)


def test_a_changed_job_is_updated_not_re_added() -> None:
    result = plan(local_of(payload("a", title="RN")), remote_of(payload("a", title="Nurse")))

    assert hashes(result.updates) == ["a"]
    assert result.updates[0]["title"] == "RN"
    assert result.adds == ()
    assert result.deletes == ()


def test_a_field_edited_or_dropped_in_xano_is_restored_by_an_update() -> None:
    remote = remote_of(payload("a"))
    del remote[0]["title"]

    assert hashes(plan(local_of(payload("a")), remote).updates) == ["a"]


def test_a_job_held_under_a_foreign_eid_is_updated_to_ours() -> None:
    remote = remote_of({**payload("a"), "eid": "old-random-eid"})

    result = plan(local_of(payload("a")), remote)

    assert hashes(result.updates) == ["a"]
    assert result.updates[0]["eid"] == "eid-a"


def test_duplicates_of_a_live_job_are_removed_and_one_copy_re_added() -> None:
    remote = remote_of(payload("a"), {**payload("a"), "eid": "dup"}, payload("b"))

    result = plan(local_of(payload("a"), payload("b")), remote)

    assert result.duplicates_to_remove == ("a",)
    assert hashes(result.adds) == ["a"]
    assert result.deletes == ()
    assert result.updates == ()
    assert result.hashes_to_remove == ("a",)


def test_duplicates_of_a_gone_job_are_just_deleted() -> None:
    remote = remote_of(payload("z"), {**payload("z"), "eid": "dup"})

    result = plan({}, remote)

    assert result.deletes == ("z",)
    assert result.duplicates_to_remove == ()
    assert result.adds == ()


def test_empty_remote_adds_every_local_job() -> None:
    result = plan(local_of(payload("b"), payload("a")), [])

    assert hashes(result.adds) == ["a", "b"]


def test_remote_records_without_a_hash_are_reported_not_acted_on() -> None:
    remote = [*remote_of(payload("a")), {"id": 9, "title": "orphan"}, {"job_hash": ""}]

    result = plan(local_of(payload("a")), remote)

    assert result.is_empty
    assert result.unaddressable == 2


def test_local_fingerprint_given_by_the_caller_is_what_is_compared() -> None:
    stale = LocalJob(payload=payload("a"), fingerprint="stale-fingerprint")

    assert hashes(plan({"a": stale}, remote_of(payload("a"))).updates) == ["a"]


def test_plan_order_is_deterministic() -> None:
    local = local_of(*(payload(h) for h in "dbca"))
    remote = remote_of(*(payload(h) for h in "zyx"))

    assert hashes(plan(local, remote).adds) == ["a", "b", "c", "d"]
    assert plan(local, remote).deletes == ("x", "y", "z")


def test_empty_plan_for_empty_sides() -> None:
    assert plan({}, []) == Plan()


def _apply(result: Plan, remote: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What Xano holds after the syncer applies the plan in its documented order."""
    removed = set(result.hashes_to_remove)
    kept = [r for r in remote if r.get("job_hash") not in removed]
    by_hash = {r["job_hash"]: r for r in kept}
    for update in result.updates:
        by_hash[update["job_hash"]] = dict(update)
    for add in result.adds:
        by_hash[add["job_hash"]] = dict(add)
    return list(by_hash.values())


_hash = st.sampled_from("abcdef")
_title = st.sampled_from(["Nurse", "RN"])


@given(
    local=st.dictionaries(_hash, _title, max_size=6),
    remote=st.lists(st.tuples(_hash, _title), max_size=10),
)
def test_applying_the_plan_makes_xano_an_exact_mirror(
    local: dict[str, str], remote: list[tuple[str, str]]
) -> None:
    local_jobs = local_of(*(payload(h, t) for h, t in local.items()))
    remote_records = remote_of(*(payload(h, t) for h, t in remote))

    after = _apply(plan(local_jobs, remote_records), remote_records)

    assert sorted(r["job_hash"] for r in after) == sorted(local)
    for record in after:
        assert fingerprint(record, fields=local_jobs[record["job_hash"]].payload.keys()) == (
            local_jobs[record["job_hash"]].fingerprint
        )
    assert plan(local_jobs, after).is_empty

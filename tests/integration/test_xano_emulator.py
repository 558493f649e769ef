"""The Xano emulator honours the contract the syncer relies on (in-process server, loopback)."""

from __future__ import annotations

import asyncio
import socket
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from emulators.xano.server import RunningEmulator, serve
from emulators.xano.settings import EmulatorSettings, RateLimit

LIST = "/job_posting/supabase/feeds"
ADD = "/job_posting/supabase_bulk"
UPDATE = "/job_posting/supabase_bulk_update"
REMOVE = "/job_posting/supabase/bulk_remove"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def posting(job_hash: str, feed_id: int = 1, **fields: Any) -> dict[str, Any]:
    return {"job_hash": job_hash, "eid": f"eid-{job_hash}-{feed_id}", "feed_id": feed_id, **fields}


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def emulator() -> AsyncIterator[RunningEmulator]:
    async with serve(EmulatorSettings()) as running:
        yield running


async def call(
    http: aiohttp.ClientSession, method: str, url: str, **kwargs: Any
) -> tuple[int, Any, aiohttp.ClientResponse]:
    async with http.request(method, url, **kwargs) as response:
        return response.status, await response.json(), response


async def add(http: aiohttp.ClientSession, emu: RunningEmulator, *postings: Any) -> Any:
    status, body, _ = await call(http, "POST", emu.base_url + ADD, json={"job_postings": postings})
    assert status == 200
    return body


async def listing(
    http: aiohttp.ClientSession,
    emu: RunningEmulator,
    feed_id: int,
    page: int = 1,
    per_page: int = 100,
) -> Any:
    params = {"feed_id": feed_id, "page": page, "per_page": per_page}
    status, body, _ = await call(http, "GET", emu.base_url + LIST, params=params)
    assert status == 200
    return body


async def test_listing_pages_in_insertion_order_with_xano_envelope(
    http: aiohttp.ClientSession, emulator: RunningEmulator
) -> None:
    await add(http, emulator, *(posting(f"h{i}") for i in range(5)), posting("other", feed_id=2))

    first = await listing(http, emulator, feed_id=1, page=1, per_page=2)
    last = await listing(http, emulator, feed_id=1, page=3, per_page=2)

    assert [r["job_hash"] for r in first["items"]] == ["h0", "h1"]
    assert (first["curPage"], first["nextPage"], first["prevPage"]) == (1, 2, None)
    assert (first["itemsReceived"], first["itemsTotal"]) == (2, 5)
    assert [r["job_hash"] for r in last["items"]] == ["h4"]
    assert (last["nextPage"], last["prevPage"]) == (None, 2)


async def test_add_with_known_eid_updates_in_place_instead_of_duplicating(
    http: aiohttp.ClientSession, emulator: RunningEmulator
) -> None:
    await add(http, emulator, posting("h1", title="old"))
    answer = await add(http, emulator, posting("h1", title="new"), posting("h2"))

    items = (await listing(http, emulator, feed_id=1))["items"]
    assert answer == {"added": 1, "updated": 1}
    assert [(r["job_hash"], r.get("title")) for r in items] == [("h1", "new"), ("h2", None)]


async def test_bulk_update_matches_job_hash_within_the_records_feed_only(
    http: aiohttp.ClientSession, emulator: RunningEmulator
) -> None:
    await add(http, emulator, posting("h1", title="a"), posting("h1", feed_id=2, title="a"))
    body = {"job_postings": [posting("h1", title="b"), posting("missing")]}
    status, answer, _ = await call(http, "POST", emulator.base_url + UPDATE, json=body)

    assert status == 200
    assert answer == {"updated": 1, "not_found": ["missing"]}
    assert (await listing(http, emulator, 1))["items"][0]["title"] == "b"
    assert (await listing(http, emulator, 2))["items"][0]["title"] == "a"


async def test_bulk_remove_is_feed_scoped_when_feed_id_is_given(
    http: aiohttp.ClientSession, emulator: RunningEmulator
) -> None:
    await add(http, emulator, posting("h1"), posting("h2"), posting("h1", feed_id=2))
    url = emulator.base_url + REMOVE
    status, answer, _ = await call(http, "DELETE", url, json={"job_hashes": ["h1"], "feed_id": 1})

    assert (status, answer) == (200, {"removed": 1})
    assert [r["job_hash"] for r in (await listing(http, emulator, 1))["items"]] == ["h2"]
    assert (await listing(http, emulator, 2))["itemsTotal"] == 1


async def test_bulk_remove_without_feed_id_removes_the_hash_everywhere(
    http: aiohttp.ClientSession, emulator: RunningEmulator
) -> None:
    await add(http, emulator, posting("h1"), posting("h1", feed_id=2))
    await call(http, "DELETE", emulator.base_url + REMOVE, json={"job_hashes": ["h1"]})

    assert emulator.state.store.records() == []


async def test_malformed_bulk_body_is_a_400_input_error(
    http: aiohttp.ClientSession, emulator: RunningEmulator
) -> None:
    body = {"job_postings": [{"title": "no hash"}]}
    status, answer, _ = await call(http, "POST", emulator.base_url + ADD, json=body)

    assert status == 400
    assert answer["code"] == "ERROR_CODE_INPUT_ERROR"
    assert len(emulator.state.store) == 0


async def test_token_is_required_when_configured(http: aiohttp.ClientSession) -> None:
    async with serve(EmulatorSettings(token="s3cret")) as emu:
        url = emu.base_url + LIST + "?feed_id=1"
        missing, missing_body, _ = await call(http, "GET", url)
        wrong, _, _ = await call(http, "GET", url, headers={"Authorization": "Bearer nope"})
        right, _, _ = await call(http, "GET", url, headers={"Authorization": "Bearer s3cret"})

    assert (missing, wrong, right) == (401, 401, 200)
    assert missing_body["code"] == "ERROR_CODE_UNAUTHORIZED"


def test_token_never_shows_in_settings_repr() -> None:
    assert "s3cret" not in repr(EmulatorSettings(token="s3cret"))


async def test_records_survive_a_restart_and_ids_keep_growing(
    http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    settings = EmulatorSettings(data_file=tmp_path / "xano.json")
    async with serve(settings) as emu:
        await add(http, emu, posting("h1"), posting("h2"))
    async with serve(settings) as emu:
        await add(http, emu, posting("h3"))
        items = (await listing(http, emu, 1))["items"]

    assert [(r["job_hash"], r["id"]) for r in items] == [("h1", 1), ("h2", 2), ("h3", 3)]
    files = await asyncio.to_thread(lambda: sorted(p.name for p in tmp_path.iterdir()))
    assert files == ["xano.json", "xano.json.journal"]  # no temp file left behind


async def test_free_plan_rate_limit_answers_429_with_retry_after(
    http: aiohttp.ClientSession,
) -> None:
    clock = FakeClock()
    settings = EmulatorSettings(rate_limit=RateLimit(10, 20.0), clock=clock)
    async with serve(settings) as emu:
        url = emu.base_url + LIST + "?feed_id=1"
        statuses = [(await call(http, "GET", url))[0] for _ in range(10)]
        clock.now += 5
        admin, _, _ = await call(http, "GET", emu.root_url + "/__admin/counters")
        limited, body, response = await call(http, "GET", url)
        clock.now += 15.01
        after_window, _, _ = await call(http, "GET", url)

    assert statuses == [200] * 10
    assert admin == 200
    assert limited == 429
    assert body["code"] == "ERROR_CODE_TOO_MANY_REQUESTS"
    assert response.headers["Retry-After"] == "15"
    assert after_window == 200


async def test_injected_5xx_fail_the_next_requests_then_clear(
    http: aiohttp.ClientSession, emulator: RunningEmulator
) -> None:
    faults = {"status_5xx": {"count": 2, "status": 502}}
    await call(http, "POST", emulator.root_url + "/__admin/faults", json=faults)
    url = emulator.base_url + LIST + "?feed_id=1"
    statuses = [(await call(http, "GET", url))[0] for _ in range(3)]
    _, counters, _ = await call(http, "GET", emulator.root_url + "/__admin/counters")

    assert statuses == [502, 502, 200]
    assert counters["injected_5xx"] == 2
    assert counters["requests"]["list"] == 3


async def test_injected_429_carries_retry_after_and_writes_nothing(
    http: aiohttp.ClientSession, emulator: RunningEmulator
) -> None:
    faults = {"status_429": {"count": 1, "retry_after": 3, "endpoints": ["add"]}}
    await call(http, "POST", emulator.root_url + "/__admin/faults", json=faults)
    url = emulator.base_url + ADD
    status, _, response = await call(http, "POST", url, json={"job_postings": [posting("h1")]})
    _, health, _ = await call(http, "GET", emulator.root_url + "/__admin/health")
    second = await add(http, emulator, posting("h1"))

    assert (status, response.headers["Retry-After"]) == (429, "3")
    assert health["records"] == 0  # refused before the write
    assert second is not None


async def test_listing_fault_fails_only_the_chosen_page(
    http: aiohttp.ClientSession, emulator: RunningEmulator
) -> None:
    faults = {"fail_listing_on_page": 3}
    await call(http, "POST", emulator.root_url + "/__admin/faults", json=faults)
    url = emulator.base_url + LIST

    page_2 = await call(http, "GET", url, params={"feed_id": 1, "page": 2})
    page_3_twice = [await call(http, "GET", url, params={"feed_id": 1, "page": 3}) for _ in "ab"]

    assert page_2[0] == 200
    assert [status for status, _, _ in page_3_twice] == [500, 500]


async def test_slow_fault_delays_answers(
    http: aiohttp.ClientSession, emulator: RunningEmulator
) -> None:
    await call(http, "POST", emulator.root_url + "/__admin/faults", json={"slow_ms": 200})
    started = time.perf_counter()
    await listing(http, emulator, 1)

    assert time.perf_counter() - started >= 0.2


async def test_dropped_connection_after_apply_still_stores_the_write(
    http: aiohttp.ClientSession, emulator: RunningEmulator
) -> None:
    faults = {"drop_connection": {"count": 1, "after_apply": True, "endpoints": ["add"]}}
    await call(http, "POST", emulator.root_url + "/__admin/faults", json=faults)

    with pytest.raises(aiohttp.ServerDisconnectedError):
        await call(http, "POST", emulator.base_url + ADD, json={"job_postings": [posting("h1")]})
    assert [r["job_hash"] for r in emulator.state.store.records(1)] == ["h1"]
    assert emulator.state.counters.dropped_connections == 1


async def test_a_list_endpoint_ignoring_feed_id_answers_every_feeds_records(
    http: aiohttp.ClientSession, emulator: RunningEmulator
) -> None:
    await add(http, emulator, posting("a", 1), posting("b", 2), posting("c", 3))
    faults = {"list_ignores_feed_id": True}
    await call(http, "POST", emulator.root_url + "/__admin/faults", json=faults)

    body = await listing(http, emulator, 1)

    assert [(r["job_hash"], r["feed_id"]) for r in body["items"]] == [("a", 1), ("b", 2), ("c", 3)]
    assert body["itemsTotal"] == 3


async def test_an_error_shaped_200_applies_nothing(
    http: aiohttp.ClientSession, emulator: RunningEmulator
) -> None:
    faults = {"error_body_2xx": {"count": 1, "endpoints": ["add"]}}
    await call(http, "POST", emulator.root_url + "/__admin/faults", json=faults)
    url = emulator.base_url + ADD

    first = await call(http, "POST", url, json={"job_postings": [posting("h1")]})
    second = await call(http, "POST", url, json={"job_postings": [posting("h1")]})
    _, counters, _ = await call(http, "GET", emulator.root_url + "/__admin/counters")

    assert first[0] == 200 and first[1]["code"] == "ERROR_FATAL"
    assert second[:2] == (200, {"added": 1, "updated": 0})
    assert [r["job_hash"] for r in emulator.state.store.records(1)] == ["h1"]
    assert counters["injected_error_bodies"] == 1


@pytest.mark.parametrize(
    "faults",
    [{"list_ignores_feed_id": "yes"}, {"error_body_2xx": {"endpoints": ["nope"]}}],
)
async def test_malformed_new_faults_are_rejected(
    http: aiohttp.ClientSession, emulator: RunningEmulator, faults: dict[str, Any]
) -> None:
    status, _, _ = await call(http, "POST", emulator.root_url + "/__admin/faults", json=faults)

    assert status == 400


async def test_unknown_fault_is_rejected(
    http: aiohttp.ClientSession, emulator: RunningEmulator
) -> None:
    status, body, _ = await call(
        http, "POST", emulator.root_url + "/__admin/faults", json={"explode": True}
    )

    assert status == 400
    assert "explode" in body["message"]


async def test_reset_clears_faults_counters_and_records(
    http: aiohttp.ClientSession, emulator: RunningEmulator
) -> None:
    await add(http, emulator, posting("h1"))
    await call(http, "POST", emulator.root_url + "/__admin/faults", json={"status_5xx": 5})
    await call(http, "POST", emulator.root_url + "/__admin/reset")
    body = await listing(http, emulator, 1)
    _, counters, _ = await call(http, "GET", emulator.root_url + "/__admin/counters")

    assert body["itemsTotal"] == 0
    assert counters["requests"]["list"] == 1
    assert counters["injected_5xx"] == 0


async def test_admin_records_lists_one_feed(
    http: aiohttp.ClientSession, emulator: RunningEmulator
) -> None:
    await add(http, emulator, posting("h1"), posting("h2", feed_id=2))
    _, records, _ = await call(http, "GET", emulator.root_url + "/__admin/records?feed_id=2")

    assert [r["job_hash"] for r in records] == ["h2"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def test_module_entry_point_serves_the_contract(
    http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    port = _free_port()
    args = ["--port", str(port), "--data", str(tmp_path / "x.json"), "--rate-limit", "free"]
    process = await asyncio.create_subprocess_exec(sys.executable, "-m", "emulators.xano", *args)
    try:
        status = await _wait_for_health(http, f"http://127.0.0.1:{port}/__admin/health")
        url = f"http://127.0.0.1:{port}/api:jobstream{LIST}?feed_id=1"
        listed, body, _ = await call(http, "GET", url)
    finally:
        process.terminate()
        await asyncio.wait_for(process.wait(), timeout=10)

    assert (status, listed, body["itemsTotal"]) == (200, 200, 0)


async def _wait_for_health(http: aiohttp.ClientSession, url: str) -> int:
    for _ in range(100):
        try:
            return (await call(http, "GET", url))[0]
        except aiohttp.ClientConnectionError:
            await asyncio.sleep(0.05)
    raise AssertionError("emulator process never became healthy")

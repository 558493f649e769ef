"""The syncer's Xano client against the emulator (in-process, loopback): paging, retries, 429."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Any

import orjson
import pytest
from aiohttp import web

from emulators.xano.faults import parse_faults
from emulators.xano.server import RunningEmulator, serve
from emulators.xano.settings import EmulatorSettings, RateLimit
from services.shared.settings import Secret
from services.syncer.adapters.xano import XanoClient, XanoListingError, XanoSettings
from services.syncer.payload import to_xano_payload
from services.syncer.ports import WriteResult
from services.syncer.reconcile import LocalJob, plan


def job(job_hash: str, feed_id: int = 1, title: str = "Nurse") -> dict[str, Any]:
    return {
        "job_hash": job_hash,
        "eid": f"eid-{feed_id}-{job_hash}",
        "feed_id": feed_id,
        "title": title,
    }


def fast_settings(base_url: str, **overrides: Any) -> XanoSettings:
    settings = XanoSettings(
        base_url=base_url,
        backoff_base_seconds=0.01,
        backoff_max_seconds=0.05,
        requests_per_window=1000,
        window_seconds=1.0,
        request_timeout_seconds=5.0,
    )
    return replace(settings, **overrides)


@pytest.fixture
async def emulator() -> AsyncIterator[RunningEmulator]:
    async with serve(EmulatorSettings()) as running:
        yield running


def inject(emulator: RunningEmulator, faults: dict[str, Any]) -> None:
    emulator.state.faults = parse_faults(faults)


def written(emulator: RunningEmulator) -> int:
    requests = emulator.state.counters.requests
    return requests["add"] + requests["update"] + requests["remove"]


@asynccontextmanager
async def serve_app(app: web.Application) -> AsyncIterator[str]:
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        host, port = runner.addresses[0][:2]
        yield f"http://{host}:{port}"
    finally:
        await runner.cleanup()


def listing_app(answer: Any) -> web.Application:
    async def handler(request: web.Request) -> web.Response:
        return web.json_response(answer(int(request.query["page"])))

    app = web.Application()
    app.router.add_get("/job_posting/supabase/feeds", handler)
    return app


async def test_list_feed_walks_every_page_in_order(emulator: RunningEmulator) -> None:
    emulator.state.store.add([job(f"h{i:02}") for i in range(25)] + [job("x", feed_id=2)])

    async with XanoClient(fast_settings(emulator.base_url, per_page=10)) as client:
        records = await client.list_feed(1)

    assert [r["job_hash"] for r in records] == [f"h{i:02}" for i in range(25)]
    assert emulator.state.counters.requests["list"] == 3


async def test_list_feed_accepts_a_plain_array_answer() -> None:
    app = listing_app(lambda page: [job("a"), job("b")])

    async with serve_app(app) as url, XanoClient(fast_settings(url)) as client:
        records = await client.list_feed(1)

    assert [r["job_hash"] for r in records] == ["a", "b"]


async def test_pages_that_do_not_add_up_to_items_total_are_a_listing_error() -> None:
    def short_pages(page: int) -> dict[str, Any]:
        next_page = page + 1 if page < 2 else None
        return {"items": [job(f"p{page}")], "itemsTotal": 3, "curPage": page, "nextPage": next_page}

    async with serve_app(listing_app(short_pages)) as url, XanoClient(fast_settings(url)) as client:
        with pytest.raises(XanoListingError, match="itemsTotal 3"):
            await client.list_feed(1)


async def test_failing_page_3_raises_and_nothing_is_written(emulator: RunningEmulator) -> None:
    emulator.state.store.add([job(f"h{i:02}") for i in range(25)])
    inject(emulator, {"fail_listing_on_page": 3})
    local = {f"n{i}": LocalJob.of(job(f"n{i}")) for i in range(5)}
    settings = fast_settings(emulator.base_url, per_page=10, max_attempts=3)

    async with XanoClient(settings) as client:
        with pytest.raises(XanoListingError, match="page 3"):
            remote = await client.list_feed(1)
            # What a syncer does next; the listing error must stop it before any write.
            result = plan(local, remote)
            await client.delete(1, result.hashes_to_remove)
            await client.add(result.adds)

    assert written(emulator) == 0
    assert len(emulator.state.store.records(1)) == 25
    assert emulator.state.counters.requests["list"] == 2 + 3  # page 3 tried max_attempts times


async def test_5xx_is_retried_until_the_write_lands(emulator: RunningEmulator) -> None:
    inject(emulator, {"status_5xx": {"count": 2, "endpoints": ["add"]}})

    async with XanoClient(fast_settings(emulator.base_url)) as client:
        result = await client.add([job("a"), job("b")])

    assert (result.confirmed, result.failed) == (2, 0)
    assert client.stats.retries == 2
    assert len(emulator.state.store.records(1)) == 2


async def test_the_backoff_between_retries_waits_with_the_injected_sleep(
    emulator: RunningEmulator,
) -> None:
    inject(emulator, {"status_5xx": {"count": 3, "endpoints": ["add"]}})
    waited: list[float] = []

    async def sleep(seconds: float) -> None:
        waited.append(seconds)

    settings = fast_settings(emulator.base_url, backoff_base_seconds=10.0, max_attempts=5)
    settings = replace(settings, backoff_max_seconds=25.0)
    async with XanoClient(settings, sleep=sleep, jitter=lambda: 1.0) as client:
        result = await client.add([job("a")])

    assert (result.confirmed, result.failed) == (1, 0)
    assert waited == [10.0, 20.0, 25.0]  # exponential, capped; no real second went by


async def test_persistent_5xx_fails_the_batch_after_bounded_attempts(
    emulator: RunningEmulator,
) -> None:
    inject(emulator, {"status_5xx": {"count": None, "endpoints": ["add"]}})
    settings = fast_settings(emulator.base_url, max_attempts=3, batch_size=2)

    async with XanoClient(settings) as client:
        result = await client.add([job("a"), job("b"), job("c")])

    assert (result.confirmed, result.failed) == (0, 3)
    assert len(result.errors) == 2
    assert "503" in result.errors[0]
    assert emulator.state.counters.requests["add"] == 2 * 3


async def test_a_lost_answer_is_retried_without_duplicating_the_add(
    emulator: RunningEmulator,
) -> None:
    inject(emulator, {"drop_connection": {"count": 1, "after_apply": True, "endpoints": ["add"]}})

    async with XanoClient(fast_settings(emulator.base_url)) as client:
        result = await client.add([job("a"), job("b")])

    assert result.confirmed == 2
    assert [r["job_hash"] for r in emulator.state.store.records(1)] == ["a", "b"]
    assert emulator.state.counters.requests["add"] == 2


async def test_a_timeout_is_retried_then_reported(emulator: RunningEmulator) -> None:
    inject(emulator, {"slow_ms": 300})
    settings = fast_settings(emulator.base_url, request_timeout_seconds=0.1, max_attempts=2)

    async with XanoClient(settings) as client:
        result = await client.delete(1, ["a"])

    assert (result.confirmed, result.failed) == (0, 1)
    assert "timed out" in result.errors[0]
    assert emulator.state.counters.requests["remove"] == 2


async def test_a_wrong_token_fails_at_once_without_retries() -> None:
    async with serve(EmulatorSettings(token="right")) as emu:
        settings = fast_settings(emu.base_url, token=Secret("wrong"))
        async with XanoClient(settings) as client:
            result = await client.add([job("a")])
        requests = emu.state.counters.requests["add"]

    assert (result.confirmed, result.failed, requests) == (0, 1, 1)
    assert "ERROR_CODE_UNAUTHORIZED" in result.errors[0]


async def test_the_right_token_is_sent_as_a_bearer() -> None:
    async with (
        serve(EmulatorSettings(token="right")) as emu,
        XanoClient(fast_settings(emu.base_url, token=Secret("right"))) as client,
    ):
        result = await client.add([job("a")])

    assert result.confirmed == 1


async def test_an_error_shaped_2xx_is_retried_and_never_confirmed(
    emulator: RunningEmulator,
) -> None:
    inject(emulator, {"error_body_2xx": {"count": None, "endpoints": ["add"]}})

    async with XanoClient(fast_settings(emulator.base_url, max_attempts=3)) as client:
        result = await client.add([job("a"), job("b")])

    assert (result.confirmed, result.failed) == (0, 2)
    assert "error body" in result.errors[0]
    assert emulator.state.counters.injected_error_bodies == 3
    assert emulator.state.store.records(1) == []


async def test_an_error_shaped_2xx_that_clears_lets_the_write_land(
    emulator: RunningEmulator,
) -> None:
    inject(emulator, {"error_body_2xx": {"count": 1}})

    async with XanoClient(fast_settings(emulator.base_url)) as client:
        result = await client.add([job("a")])

    assert (result.confirmed, result.failed) == (1, 0)
    assert len(emulator.state.store.records(1)) == 1


@pytest.mark.parametrize(
    "answer",
    [{"error": "quota exhausted"}, {"success": False}, {"code": "ERROR_FATAL", "message": "x"}],
)
async def test_error_bodies_of_every_shape_fail_the_write(answer: dict[str, Any]) -> None:
    async def handler(request: web.Request) -> web.Response:
        return web.json_response(answer)

    app = web.Application()
    app.router.add_post("/job_posting/supabase_bulk", handler)
    async with serve_app(app) as url, XanoClient(fast_settings(url, max_attempts=1)) as client:
        result = await client.add([job("a")])

    assert (result.confirmed, result.failed) == (0, 1)


async def test_an_add_answer_that_stored_fewer_than_sent_counts_the_rest_as_failed() -> None:
    async def handler(request: web.Request) -> web.Response:
        return web.json_response({"added": 1, "updated": 0})

    app = web.Application()
    app.router.add_post("/job_posting/supabase_bulk", handler)
    async with serve_app(app) as url, XanoClient(fast_settings(url)) as client:
        result = await client.add([job("a"), job("b"), job("c")])

    assert (result.confirmed, result.failed) == (1, 2)
    assert "stored 1 of the 3" in result.errors[0]


async def test_a_page_over_the_byte_cap_is_a_listing_error_even_when_streamed() -> None:
    big = [job(f"h{i}", title="x" * 1000) for i in range(50)]

    async def handler(request: web.Request) -> web.StreamResponse:
        # Chunked, with no Content-Length: the cap must hold while reading.
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        body = orjson.dumps(big)
        for start in range(0, len(body), 4096):
            await response.write(body[start : start + 4096])
        await response.write_eof()
        return response

    app = web.Application()
    app.router.add_get("/job_posting/supabase/feeds", handler)
    settings = fast_settings("", max_response_bytes=20_000)
    async with serve_app(app) as url, XanoClient(replace(settings, base_url=url)) as client:
        with pytest.raises(XanoListingError, match="larger than 20,000 bytes"):
            await client.list_feed(1)
        under_cap = replace(settings, base_url=url, max_response_bytes=200_000)
        async with XanoClient(under_cap) as roomy:
            assert len(await roomy.list_feed(1)) == 50


async def test_updates_of_unknown_jobs_count_as_failed(emulator: RunningEmulator) -> None:
    emulator.state.store.add([job("a")])

    async with XanoClient(fast_settings(emulator.base_url)) as client:
        result = await client.update([job("a", title="RN"), job("ghost")])

    assert (result.confirmed, result.failed) == (1, 1)
    assert emulator.state.store.records(1)[0]["title"] == "RN"


async def test_deletes_stay_within_the_feed(emulator: RunningEmulator) -> None:
    emulator.state.store.add([job("a"), job("a", feed_id=2)])

    async with XanoClient(fast_settings(emulator.base_url)) as client:
        result = await client.delete(1, ["a"])

    assert result.confirmed == 1
    assert emulator.state.store.records(1) == []
    assert len(emulator.state.store.records(2)) == 1


async def test_1000_adds_under_the_free_plan_limit_lose_nothing_and_never_overrun() -> None:
    limit = RateLimit(requests=10, window_seconds=0.5)
    async with serve(EmulatorSettings(rate_limit=limit)) as emu:
        settings = fast_settings(
            emu.base_url, batch_size=25, requests_per_window=10, window_seconds=0.5
        )
        async with XanoClient(settings) as client:
            result = await client.add([job(f"h{i:04}") for i in range(1000)])
        counters = emu.state.counters

        assert (result.confirmed, result.failed) == (1000, 0)
        assert len({r["job_hash"] for r in emu.state.store.records(1)}) == 1000
        assert len(emu.state.store.records(1)) == 1000
        assert counters.responses[429] == 0
        assert counters.peak_arrivals_in_window <= 10
        assert counters.requests["add"] == 40


async def test_an_overestimated_budget_adapts_to_429_and_honours_retry_after() -> None:
    limit = RateLimit(requests=10, window_seconds=0.5)
    async with serve(EmulatorSettings(rate_limit=limit)) as emu:
        settings = fast_settings(
            emu.base_url, batch_size=25, requests_per_window=40, window_seconds=0.5
        )
        started = time.monotonic()
        async with XanoClient(settings) as client:
            result = await client.add([job(f"h{i:04}") for i in range(1000)])
        elapsed = time.monotonic() - started

        assert (result.confirmed, result.failed) == (1000, 0)
        assert len(emu.state.store.records(1)) == 1000
        assert client.stats.rate_limited > 0
        assert client.budget_limit < 40
        assert elapsed >= 1.0  # Retry-After: 1 was waited out, not hammered through
        assert emu.state.counters.responses[429] == client.stats.rate_limited


async def test_plan_applied_through_the_client_makes_xano_a_mirror(
    emulator: RunningEmulator,
) -> None:
    rows: list[dict[str, Any]] = [
        {"job_hash": f"h{i}", "feed_id": 1, "title": f"T{i}"} for i in range(6)
    ]
    emulator.state.store.add(
        [
            to_xano_payload(rows[0], eid="eid-h0"),
            {**to_xano_payload(rows[1], eid="eid-h1"), "title": "stale"},
            to_xano_payload(rows[2], eid="eid-h2"),
            to_xano_payload(rows[2], eid="eid-dup"),
            to_xano_payload({"job_hash": "gone", "feed_id": 1}, eid="eid-gone"),
        ]
    )
    local = {
        r["job_hash"]: LocalJob.of(to_xano_payload(r, eid=f"eid-{r['job_hash']}")) for r in rows
    }

    async with XanoClient(fast_settings(emulator.base_url, batch_size=2)) as client:
        first = plan(local, await client.list_feed(1))
        removed = await client.delete(1, first.hashes_to_remove)
        added = await client.add(first.adds)
        updated = await client.update(first.updates)
        second = plan(local, await client.list_feed(1))

    assert (removed.confirmed, added.confirmed, updated.confirmed) == (2, 4, 1)
    assert second.is_empty
    assert sorted(r["eid"] for r in emulator.state.store.records(1)) == sorted(
        f"eid-h{i}" for i in range(6)
    )


async def test_a_stopping_client_sends_no_more_and_every_write_xano_applied_is_counted() -> None:
    """A syncer stopping mid-reconcile: the batches in flight land and are counted, the ones
    waiting for the rate budget are never sent, so nothing Xano applied goes uncounted."""
    stopping = asyncio.Event()
    counted: list[int] = []

    async def count(result: WriteResult) -> None:
        counted.append(result.confirmed)
        stopping.set()  # SIGTERM right after the first confirmed batch

    async with serve(EmulatorSettings()) as emu:
        settings = fast_settings(
            emu.base_url, batch_size=10, requests_per_window=2, window_seconds=0.5
        )
        async with XanoClient(settings, stopping=stopping) as client:
            result = await client.add([job(f"h{i:03}") for i in range(100)], count)

        stored = len(emu.state.store.records(1))
        assert 10 <= result.confirmed < 100
        assert result.stopped == 100 - result.confirmed
        assert stored == result.confirmed == sum(counted)

"""HTTP faults not covered by test_fetch_http: a plain 500 then success, and timeouts.

Documented outcomes: a 500 is retried with backoff and the feed is then read whole; a
server that stops sending mid-body is a truncated fetch after the records already read; a
server that never answers is retried, then the fetch fails as "unavailable"; a feed that
takes longer than the total deadline fails as "timeout", even while bytes still trickle
in. None of them is an empty feed.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from services.ingestor.feeds import FeedItem, FeedReader, FeedSettings, FetchError, ParsedJob
from tests.feed_sources import local_settings

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
RECORD = b"<job><title>T%d</title><description>%s</description></job>\n"
FEED = b"<source>\n" + b"".join(RECORD % (i, b"x" * 200) for i in range(300)) + b"</source>"
QUICK = local_settings(backoff_base_s=0.01, backoff_max_s=0.02, max_attempts=2, read_timeout_s=0.5)


async def serve(handler: Handler) -> AsyncIterator[str]:
    app = web.Application()
    app.router.add_get("/feed", handler)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield str(server.make_url("/feed"))
    finally:
        await server.close()


async def read(handler: Handler, settings: FeedSettings) -> tuple[list[FeedItem], FeedReader]:
    """Everything read before the end or the error; the error is re-raised after."""
    items: list[FeedItem] = []
    async for url in serve(handler):
        reader = FeedReader(url, mapping=None, settings=settings)
        try:
            async for item in reader:
                items.append(item)
        except FetchError as exc:
            exc.add_note(f"after {len(items)} items")
            raise
        return items, reader
    raise AssertionError("the server did not start")


async def test_http_500_then_success_reads_the_whole_feed() -> None:
    calls = 0

    async def flaky(_: web.Request) -> web.Response:
        nonlocal calls
        calls += 1
        return web.Response(status=500) if calls == 1 else web.Response(body=FEED)

    items, reader = await read(flaky, QUICK)
    assert calls == 2 and len(items) == 300 and all(isinstance(i, ParsedJob) for i in items)
    assert reader.stats.fetch_status == "ok"


async def test_a_server_that_stalls_mid_body_is_a_truncated_fetch() -> None:
    async def stalls(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        await response.prepare(request)
        await response.write(FEED[: len(FEED) // 2])
        await asyncio.sleep(5)  # far beyond the read timeout
        return response

    seen: list[FeedItem] = []
    with pytest.raises(FetchError) as raised:
        async for url in serve(stalls):
            reader = FeedReader(url, mapping=None, settings=QUICK)
            async for item in reader:
                seen.append(item)
    assert raised.value.kind == "truncated" and "TimeoutError" in raised.value.message
    assert reader.stats.fetch_status == "truncated"
    assert 0 < len(seen) < 300


async def test_a_server_that_never_answers_is_retried_then_unavailable() -> None:
    calls = 0

    async def silent(_: web.Request) -> web.Response:
        nonlocal calls
        calls += 1
        await asyncio.sleep(5)
        return web.Response(body=FEED)

    with pytest.raises(FetchError) as raised:
        await read(silent, QUICK)
    assert raised.value.kind == "unavailable" and calls == QUICK.max_attempts


async def test_the_total_deadline_bounds_a_slow_trickle() -> None:
    async def trickle(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        await response.prepare(request)
        for start in range(0, len(FEED), 500):
            await response.write(FEED[start : start + 500])
            await asyncio.sleep(0.1)  # each read is quick, the whole is not
        return response

    settings = local_settings(total_deadline_s=1.0, read_timeout_s=1.0, chunk_bytes=512)
    with pytest.raises(FetchError) as raised:
        await read(trickle, settings)
    assert raised.value.kind == "timeout" and "deadline" in raised.value.message

"""Fetching over HTTP from an aiohttp server on loopback: retries, encodings, limits, faults."""

from __future__ import annotations

import asyncio
import gzip
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from services.ingestor.feeds import FeedItem, FeedReader, FeedSettings, FetchError, ParsedJob
from tests.feed_sources import local_settings

FEED = (Path(__file__).parents[1] / "data" / "feeds" / "jobs-attributes.xml").read_bytes()
FAST = local_settings(backoff_base_s=0.01, backoff_max_s=0.02, max_attempts=3, read_timeout_s=2)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


async def serve(handler: Handler) -> AsyncIterator[str]:
    app = web.Application()
    app.router.add_get("/feed", handler)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield str(server.make_url("/feed"))
    finally:
        await server.close()


async def read(url: str, settings: FeedSettings = FAST) -> tuple[list[FeedItem], FeedReader]:
    reader = FeedReader(url, mapping=None, settings=settings)
    return [item async for item in reader], reader


async def with_server(
    handler: Handler, settings: FeedSettings = FAST
) -> tuple[list[FeedItem], FeedReader]:
    async for url in serve(handler):
        return await read(url, settings)
    raise AssertionError("server did not start")


async def test_5xx_is_retried_then_the_feed_is_read() -> None:
    calls = 0

    async def flaky(_: web.Request) -> web.Response:
        nonlocal calls
        calls += 1
        return web.Response(status=503) if calls < 3 else web.Response(body=FEED)

    items, reader = await with_server(flaky)
    assert calls == 3 and len(items) == 2
    assert reader.stats.bytes_compressed == len(FEED)


async def test_retries_wait_out_the_backoff_through_the_injected_sleep() -> None:
    """The waits between attempts are the reader's `sleep`: the configured backoff (0.5 s,
    doubling), none of it spent in real time."""
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    async def down(_: web.Request) -> web.Response:
        return web.Response(status=503)

    settings = local_settings(max_attempts=4, backoff_base_s=0.5, backoff_max_s=10.0)
    async for url in serve(down):
        reader = FeedReader(url, mapping=None, settings=settings, sleep=sleep)
        started = asyncio.get_running_loop().time()
        with pytest.raises(FetchError, match="after 4 attempts: HTTP 503"):
            _ = [item async for item in reader]
        assert asyncio.get_running_loop().time() - started < 1.5  # 3.5 s if it slept for real
    assert waits == [0.5, 1.0, 2.0]


async def test_persistent_5xx_fails_after_bounded_attempts() -> None:
    calls = 0

    async def down(_: web.Request) -> web.Response:
        nonlocal calls
        calls += 1
        return web.Response(status=500)

    with pytest.raises(FetchError) as raised:
        await with_server(down)
    assert raised.value.kind == "unavailable" and calls == FAST.max_attempts


async def test_404_is_not_retried() -> None:
    async def missing(_: web.Request) -> web.Response:
        return web.Response(status=404)

    with pytest.raises(FetchError) as raised:
        await with_server(missing)
    assert raised.value.kind == "http"


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
async def test_content_encoding_is_undone_and_both_sizes_counted(encoding: str) -> None:
    body = gzip.compress(FEED) if encoding == "gzip" else zlib.compress(FEED)

    async def compressed(_: web.Request) -> web.Response:
        return web.Response(body=body, headers={"Content-Encoding": encoding})

    items, reader = await with_server(compressed)
    assert [type(i) for i in items] == [ParsedJob, ParsedJob]
    assert reader.stats.bytes_compressed == len(body)
    assert reader.stats.bytes_uncompressed == len(FEED)


async def test_html_error_page_with_200_is_a_failed_fetch() -> None:
    async def portal(_: web.Request) -> web.Response:
        return web.Response(
            text="<html><body>Please log in</body></html>", content_type="text/html"
        )

    with pytest.raises(FetchError) as raised:
        await with_server(portal)
    assert raised.value.kind == "html"


async def test_body_shorter_than_content_length_is_truncated() -> None:
    records = b"".join(
        b"<job><title>T%d</title><description>%s</description></job>\n" % (i, b"x" * 300)
        for i in range(400)
    )
    body = b"<source>\n" + records + b"</source>"

    async def cut(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Length": str(len(body))})
        await response.prepare(request)
        await response.write(body[: len(body) // 2])
        await asyncio.sleep(0.3)  # the client reads what arrived before the connection drops
        request.transport.close()  # type: ignore[union-attr]
        return response

    reader_items: list[FeedItem] = []
    async for url in serve(cut):
        reader = FeedReader(url, mapping=None, settings=FAST)
        with pytest.raises(FetchError) as raised:
            async for item in reader:
                reader_items.append(item)
    assert raised.value.kind == "truncated" and reader.stats.fetch_status == "truncated"
    assert 0 < len(reader_items) < 400


async def test_max_body_size_is_enforced() -> None:
    async def big(_: web.Request) -> web.Response:
        return web.Response(body=FEED)

    with pytest.raises(FetchError) as raised:
        await with_server(big, local_settings(max_body_bytes=200, chunk_bytes=64))
    assert raised.value.kind == "too_large"


async def test_gzip_bomb_is_stopped_by_the_uncompressed_limit() -> None:
    bomb = gzip.compress(b"<source>" + b" " * 5_000_000)

    async def payload(_: web.Request) -> web.Response:
        return web.Response(body=bomb)

    with pytest.raises(FetchError) as raised:
        await with_server(payload, local_settings(max_uncompressed_bytes=1_000_000))
    assert raised.value.kind == "too_large"


async def test_connection_refused_is_retried_then_reported() -> None:
    settings = local_settings(backoff_base_s=0.01, max_attempts=2, connect_timeout_s=1)
    with pytest.raises(FetchError) as raised:
        await read("http://127.0.0.1:9/feed", settings)
    assert raised.value.kind == "unavailable"

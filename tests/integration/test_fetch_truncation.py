"""Bodies that end early are `truncated` (so nothing is archived), with the reason.

A gzip or zip payload cut short, an HTTP body shorter than its Content-Length, a chunked
body without its last chunk, and a close-delimited body (no Content-Length) that ends inside
a record. Each asserts the records kept (exactly those wholly received), the malformed
records, the fetch status and its reason, and the time and memory bounds. The feeds are
CSV and JSON: the records wholly received are then plain to count.
"""

from __future__ import annotations

import asyncio
import gzip
import io
import json
import zipfile
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

from aiohttp import web
from aiohttp.test_utils import TestServer

from services.ingestor.feeds import FeedSettings
from tests.unit.feed_corpus import Outcome, read

ROWS = [f"T{i},{'description ' * 20}{i},Omaha" for i in range(2000)]
CSV = ("title,description,city\n" + "\n".join(ROWS) + "\n").encode()
NET = FeedSettings(allowed_hosts=("127.0.0.1",), max_attempts=1, read_timeout_s=5)


def complete_rows(prefix: bytes) -> list[str]:
    """Titles of the rows wholly inside `prefix` (header excluded)."""
    lines = prefix.decode("utf-8", errors="ignore").split("\n")[1:-1]
    return [line.split(",", 1)[0] for line in lines]


def inflated_prefix(cut_gzip: bytes) -> bytes:
    return zlib.decompressobj(31).decompress(cut_gzip)


async def test_a_gzip_cut_short_is_truncated(tmp_path: Path) -> None:
    cut = gzip.compress(CSV)[:-5000]
    feed = tmp_path / "feed.csv.gz"
    feed.write_bytes(cut)
    outcome = await read(feed, FeedSettings(local_dirs=(tmp_path,), chunk_bytes=4096))
    assert outcome.titles == complete_rows(inflated_prefix(cut))
    assert 0 < len(outcome.titles) < 2000 and outcome.malformed == []
    assert outcome.stats.fetch_status == "truncated"
    assert outcome.stats.error == "truncated: compressed stream ended before its end marker"


async def test_a_zip_cut_short_is_truncated(tmp_path: Path) -> None:
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zipped:
        zipped.writestr("feed.csv", CSV)
    feed = tmp_path / "feed.zip"
    feed.write_bytes(archive.getvalue()[:-200])  # the central directory is lost
    outcome = await read(feed, FeedSettings(local_dirs=(tmp_path,)))
    assert outcome.titles == [] and outcome.stats.fetch_status == "truncated"
    assert (outcome.stats.error or "").startswith("truncated: broken zip archive")


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


async def serve(handler: Handler) -> AsyncIterator[str]:
    app = web.Application()
    app.router.add_get("/feed.csv", handler)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield str(server.make_url("/feed.csv"))
    finally:
        await server.close()


async def read_served(handler: Handler, body: bytes) -> Outcome:
    async for url in serve(handler):
        return await read(url, NET)
    raise AssertionError("the server did not start")


def half_then_drop(body: bytes, *, chunked: bool) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        if chunked:
            response.enable_chunked_encoding()
        else:
            response.content_length = len(body)
        await response.prepare(request)
        await response.write(body[: len(body) // 2])
        await asyncio.sleep(0.3)  # the client reads what arrived before the connection drops
        assert request.transport is not None
        request.transport.close()
        return response

    return handler


async def test_an_http_body_short_of_its_content_length_is_truncated() -> None:
    outcome = await read_served(half_then_drop(CSV, chunked=False), CSV)
    received = CSV[: outcome.stats.bytes_compressed]
    assert outcome.titles == complete_rows(received) and 0 < len(outcome.titles) < 2000
    assert outcome.malformed == [] and outcome.stats.fetch_status == "truncated"
    assert "truncated:" in (outcome.stats.error or "")


async def test_a_chunked_body_without_its_last_chunk_is_truncated() -> None:
    outcome = await read_served(half_then_drop(CSV, chunked=True), CSV)
    received = CSV[: outcome.stats.bytes_compressed]
    assert outcome.titles == complete_rows(received) and 0 < len(outcome.titles) < 2000
    assert outcome.stats.fetch_status == "truncated"
    assert "truncated:" in (outcome.stats.error or "")


async def close_delimited(body: bytes) -> AsyncIterator[str]:
    """A bare HTTP/1.0-style server: no Content-Length, the body ends when the socket closes."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/csv\r\nConnection: close\r\n\r\n")
        writer.write(body)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}/feed"
    finally:
        server.close()
        await server.wait_closed()


async def test_a_body_without_content_length_ending_inside_a_row_is_truncated() -> None:
    cut = CSV[: len(CSV) // 2]
    assert not cut.endswith(b"\n")
    async for url in close_delimited(cut):
        outcome = await read(url, NET)
    assert outcome.titles == complete_rows(cut)
    cells = cut.rsplit(b"\n", 1)[1].count(b",") + 1
    assert cells < 3
    reason = f"{cells} cells, header has 3: the row was cut short"
    assert [m.reason for m in outcome.malformed] == [reason]
    assert outcome.stats.fetch_status == "truncated"
    assert "the CSV ends inside its last row" in (outcome.stats.error or "")


async def test_a_json_body_without_content_length_cut_short_is_truncated() -> None:
    records = [{"title": f"T{i}", "description": "d" * 200} for i in range(500)]
    body = json.dumps(records).encode()
    cut = body[: len(body) // 2]
    async for url in close_delimited(cut):
        outcome = await read(url, NET)
    kept = cut.decode().count('"description"')
    assert outcome.titles == [f"T{i}" for i in range(kept - 1)]  # the last is cut
    assert [m.reason for m in outcome.malformed] == ["the record is cut short"]
    assert outcome.stats.fetch_status == "truncated"
    assert "the JSON list never closes" in (outcome.stats.error or "")


async def test_a_complete_close_delimited_body_is_ok() -> None:
    async for url in close_delimited(CSV):
        outcome = await read(url, NET)
    assert len(outcome.titles) == 2000 and outcome.stats.fetch_status == "ok"


async def test_two_gib_of_whitespace_from_a_small_gzip_is_stopped_by_the_default_cap(
    tmp_path: Path,
) -> None:
    records = ",".join(json.dumps({"title": f"T{i}", "description": "d"}) for i in range(10))
    # one MiB of spaces compressed after a full flush compresses the same every time, so
    # the 2 GiB stream is built without compressing 2 GiB (its trailer is never reached)
    squeeze = zlib.compressobj(9, zlib.DEFLATED, 31)
    head = squeeze.compress(f"[{records},".encode()) + squeeze.flush(zlib.Z_FULL_FLUSH)
    block = squeeze.compress(b" " * 2**20) + squeeze.flush(zlib.Z_FULL_FLUSH)
    bomb = head + block * 2048 + squeeze.flush()
    assert len(bomb) < 5_000_000
    feed = tmp_path / "bomb.json.gz"
    feed.write_bytes(bomb)
    outcome = await read(feed, FeedSettings(local_dirs=(tmp_path,)))
    assert outcome.titles == [f"T{i}" for i in range(10)] and outcome.malformed == []
    assert outcome.stats.fetch_status == "failed"
    cap = FeedSettings().max_uncompressed_bytes
    assert (outcome.stats.error or "").startswith(
        f"too_large: the feed exceeds {cap} bytes once decompressed"
    )
    assert outcome.stats.bytes_uncompressed <= cap + FeedSettings().chunk_bytes

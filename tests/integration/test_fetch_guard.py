"""SSRF: sources, addresses and redirects the fetcher refuses, against a local HTTP server.

The server listens on 127.0.0.1. Without an allowlist every loopback, private or
link-local target is refused before any byte is sent; with ``allowed_hosts=("127.0.0.1",)``
(what the tests' stack is configured with) the same server is read, and each redirect it
answers with is checked again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from services.ingestor.feeds import FeedItem, FeedReader, FeedSettings, FetchError, ParsedJob

FEED = b"<jobs><job><title>T</title><description>d</description></job></jobs>"
OPEN = FeedSettings(max_attempts=3, backoff_base_s=0.01, allowed_hosts=("127.0.0.1",))
CLOSED = FeedSettings(max_attempts=3, backoff_base_s=0.01)
REFUSED = "non-public address; name it in FEED_ALLOWED_HOSTS"


@pytest.fixture
async def server() -> AsyncIterator[tuple[str, list[str]]]:
    """The base URL, and the paths the server was asked for."""
    asked: list[str] = []

    def logged(
        handler: Callable[[web.Request], Awaitable[web.Response]],
    ) -> Callable[..., Awaitable[web.Response]]:
        async def wrapped(request: web.Request) -> web.Response:
            asked.append(request.path_qs)
            return await handler(request)

        return wrapped

    async def feed(_: web.Request) -> web.Response:
        return web.Response(body=FEED)

    async def redirect(request: web.Request) -> web.Response:
        raise web.HTTPFound(request.query["to"])

    async def hop(request: web.Request) -> web.Response:
        raise web.HTTPFound(f"/hop/{int(request.match_info['n']) + 1}")

    app = web.Application()
    app.router.add_get("/feed", logged(feed))
    app.router.add_get("/to", logged(redirect))
    app.router.add_get("/hop/{n}", logged(hop))
    test_server = TestServer(app, host="127.0.0.1")
    await test_server.start_server()
    yield str(test_server.make_url("")).rstrip("/"), asked
    await test_server.close()


async def read(url: str, settings: FeedSettings) -> tuple[list[FeedItem], FeedReader]:
    reader = FeedReader(url, mapping=None, settings=settings)
    return [item async for item in reader], reader


async def refused(url: str, settings: FeedSettings) -> str:
    reader = FeedReader(url, mapping=None, settings=settings)
    with pytest.raises(FetchError) as raised:
        _ = [item async for item in reader]
    assert raised.value.kind == "refused", raised.value
    assert reader.stats.fetch_status == "failed" and reader.stats.error == str(raised.value)
    return raised.value.message


async def test_loopback_is_refused_without_the_allowlist(server: tuple[str, list[str]]) -> None:
    base, asked = server
    assert REFUSED in await refused(f"{base}/feed", CLOSED)
    port = base.rsplit(":", 1)[1]
    message = await refused(f"http://localhost:{port}/feed", CLOSED)
    assert message.startswith("localhost resolves to 127.0.0.1") and REFUSED in message
    assert asked == []  # refused before connecting, and not retried


async def test_the_allowlist_lets_the_test_stack_through(server: tuple[str, list[str]]) -> None:
    base, asked = server
    items, reader = await read(f"{base}/feed", OPEN)
    assert [type(i) for i in items] == [ParsedJob] and reader.stats.fetch_status == "ok"
    port = base.rsplit(":", 1)[1]
    by_name = FeedSettings(allowed_hosts=("localhost",))
    items, _ = await read(f"http://localhost:{port}/feed", by_name)
    assert len(items) == 1 and asked == ["/feed", "/feed"]


@pytest.mark.parametrize(
    "url",
    [
        "http://10.1.2.3/feed",  # private
        "http://192.168.0.10/feed",
        "http://172.16.5.5/feed",
        "http://169.254.169.254/latest/meta-data/",  # cloud metadata (link-local)
        "http://[fd00:ec2::254]/latest/meta-data/",  # the IPv6 metadata address
        "http://[::1]/feed",
        "http://[::ffff:127.0.0.1]/feed",  # loopback written as IPv6
        "http://0.0.0.0/feed",
        "http://100.64.0.1/feed",  # shared address space
    ],
)
async def test_private_and_metadata_addresses_are_refused(url: str) -> None:
    assert REFUSED in await refused(url, CLOSED)


async def test_a_redirect_to_loopback_is_refused(server: tuple[str, list[str]]) -> None:
    base, asked = server
    port = base.rsplit(":", 1)[1]
    message = await refused(f"{base}/to?to=http://127.0.0.2:{port}/feed", OPEN)
    assert message.startswith("127.0.0.2 is a loopback") and asked == [
        f"/to?to=http://127.0.0.2:{port}/feed"
    ]
    assert REFUSED in await refused(f"{base}/to?to=http://169.254.169.254/", OPEN)


async def test_a_redirect_to_file_is_refused(server: tuple[str, list[str]]) -> None:
    base, _ = server
    message = await refused(f"{base}/to?to=file:///etc/passwd", OPEN)
    assert message == "redirect to a file: URL refused: file:///etc/passwd"


async def test_twelve_redirects_are_refused(server: tuple[str, list[str]]) -> None:
    base, asked = server
    message = await refused(f"{base}/hop/0", OPEN)
    assert message.startswith("more than 5 redirects")
    assert len(asked) == 6  # the first request and five redirects, then it stops
    items, _ = await read(f"{base}/to?to=/feed", OPEN)  # one redirect is fine
    assert len(items) == 1


async def test_a_redirect_from_https_to_http_is_refused() -> None:
    from services.ingestor.feeds.guard import AddressPolicy, check_redirect

    with pytest.raises(FetchError, match="from https to http refused"):
        check_redirect("https://example.com/a", "http://example.com/b", AddressPolicy())
    check_redirect("http://example.com/a", "https://example.com/b", AddressPolicy())


async def test_local_files_only_inside_the_feed_directories(tmp_path: Path) -> None:
    inside = tmp_path / "feeds"
    inside.mkdir()
    (inside / "f.xml").write_bytes(FEED)
    (tmp_path / "secret.xml").write_bytes(FEED)
    (inside / "escape.xml").symlink_to(tmp_path / "secret.xml")
    settings = FeedSettings(local_dirs=(inside,))
    items, _ = await read(str(inside / "f.xml"), settings)
    assert len(items) == 1
    items, _ = await read((inside / "f.xml").as_uri(), settings)
    assert len(items) == 1
    for source in (
        str(tmp_path / "secret.xml"),
        (tmp_path / "secret.xml").as_uri(),
        str(inside / ".." / "secret.xml"),
        str(inside / "escape.xml"),  # a symlink out of the directory
    ):
        assert "is outside the feed directories" in await refused(source, settings)
    assert "none are configured" in await refused(str(inside / "f.xml"), FeedSettings())


@pytest.mark.parametrize("url", ["ftp://example.com/feed.xml", "gopher://example.com/"])
async def test_other_schemes_are_refused(url: str) -> None:
    assert "unsupported source scheme" in await refused(url, FeedSettings())


async def test_secrets_in_a_url_never_reach_an_error_or_a_log(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    secret_url = "http://ann:hunter2@127.0.0.1:9/feed.xml?api_key=SECRETKEY&page=1"
    reader = FeedReader(secret_url, mapping=None, settings=OPEN)
    with pytest.raises(FetchError) as raised:
        _ = [item async for item in reader]
    shown = [str(raised.value), raised.value.message, reader.stats.error or "", caplog.text]
    for text in shown:
        assert "hunter2" not in text and "SECRETKEY" not in text
    assert "http://***@127.0.0.1:9/feed.xml?api_key=***&page=***" in str(raised.value)


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("http://[::1", "not a valid URL"),
        ("https://example.com:99999/", "not a valid URL"),
        ("http://2130706433/", "is not a canonical IPv4 address"),  # 127.0.0.1 as a number
        ("http://127.1/", "is not a canonical IPv4 address"),
        ("http://", "not an http(s) URL"),
        ("\x00", "not a usable path"),
    ],
)
async def test_malformed_sources_are_refused_with_a_message(source: str, message: str) -> None:
    assert message in await refused(source, FeedSettings(max_attempts=1))


async def test_a_garbled_http_answer_is_a_failed_fetch_with_a_message() -> None:
    async def garble(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"NOT-HTTP garbage\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(garble, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        reader = FeedReader(f"http://127.0.0.1:{port}/f", mapping=None, settings=OPEN)
        with pytest.raises(FetchError) as raised:
            _ = [item async for item in reader]
    finally:
        server.close()
        await server.wait_closed()
    assert raised.value.kind == "unavailable" and "after 3 attempts" in raised.value.message

"""Fetches a feed body (http/https, local path, file://) as a bounded stream of payload bytes.

Which sources, addresses and redirects are followed is `guard`'s business: local files only
inside the configured directories, public addresses only unless allowed, redirects checked
hop by hop.

Transport encodings (Content-Encoding gzip/deflate) and payload containers (`.gz`, `.zip`,
recognised by magic bytes, not by name) are undone here, so callers only see the feed
document itself. Every way the body can be incomplete is a `FetchError`, never a short feed:
the archive step downstream must not mistake a broken download for closed jobs.
"""

from __future__ import annotations

import asyncio
import tempfile
import zipfile
import zlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import IO

import aiohttp
import yarl

from services.ingestor.feeds.guard import (
    AddressPolicy,
    GuardedConnector,
    check_redirect,
    check_web_url,
    local_source,
)
from services.ingestor.feeds.model import FeedStats, FetchError
from services.ingestor.feeds.settings import FeedSettings
from services.shared.retry import Backoff, Sleep

GZIP_MAGIC = b"\x1f\x8b"
ZIP_MAGIC = b"PK\x03\x04"
FEED_SUFFIXES = (".xml", ".json", ".jsonl", ".ndjson", ".csv", ".tsv", ".rss", ".atom")
_RETRYABLE_STATUS_FLOOR = 500
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_SPOOL_IN_MEMORY_BYTES = 16 * 1024**2


async def fetch_body(
    source_url: str, settings: FeedSettings, stats: FeedStats, *, sleep: Sleep = asyncio.sleep
) -> AsyncIterator[bytes]:
    """Yield the feed document's bytes; counts bytes in `stats`, raises `FetchError`.
    `sleep` waits between HTTP attempts."""
    transport = _transport(source_url, settings, stats, sleep)
    async for chunk in _unwrap_payload(transport, settings, stats):
        yield chunk


async def _transport(
    source_url: str, settings: FeedSettings, stats: FeedStats, sleep: Sleep
) -> AsyncIterator[bytes]:
    path = local_source(source_url, settings.local_dirs)
    if path is not None:
        chunks = _file_chunks(path, settings, stats)
    else:
        policy = AddressPolicy.from_entries(settings.allowed_hosts)
        check_web_url(source_url, policy)
        chunks = _http_chunks(source_url, settings, stats, policy, sleep)
    async for chunk in chunks:
        yield chunk


async def _file_chunks(
    path: Path, settings: FeedSettings, stats: FeedStats
) -> AsyncIterator[bytes]:
    try:
        handle = path.open("rb")
    except FileNotFoundError as exc:
        raise FetchError("not_found", f"no such feed file: {path}") from exc
    except OSError as exc:
        raise FetchError("io", f"cannot open {path}: {exc}") from exc
    with handle:
        while chunk := await asyncio.to_thread(handle.read, settings.chunk_bytes):
            _count_compressed(stats, settings, len(chunk))
            yield chunk


def _count_compressed(stats: FeedStats, settings: FeedSettings, size: int) -> None:
    stats.bytes_compressed += size
    if stats.bytes_compressed > settings.max_body_bytes:
        raise FetchError("too_large", f"body exceeds {settings.max_body_bytes} bytes")


async def _http_chunks(
    url: str, settings: FeedSettings, stats: FeedStats, policy: AddressPolicy, sleep: Sleep
) -> AsyncIterator[bytes]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + settings.total_deadline_s
    timeout = aiohttp.ClientTimeout(
        total=None, sock_connect=settings.connect_timeout_s, sock_read=settings.read_timeout_s
    )
    headers = {"User-Agent": settings.user_agent, "Accept-Encoding": "gzip, deflate"}
    async with aiohttp.ClientSession(
        connector=GuardedConnector(policy),
        timeout=timeout,
        auto_decompress=False,
        headers=headers,
        trust_env=False,  # no proxy from the environment: the connection is the checked one
    ) as session:
        response = await _open_with_retries(session, url, settings, deadline, policy, sleep)
        async with response:
            async for chunk in _read_response(response, settings, stats, deadline):
                yield chunk


async def _open_with_retries(
    session: aiohttp.ClientSession,
    url: str,
    settings: FeedSettings,
    deadline: float,
    policy: AddressPolicy,
    sleep: Sleep,
) -> aiohttp.ClientResponse:
    last_error = "no attempt made"
    for attempt in range(settings.max_attempts):
        if attempt:
            await sleep(_backoff_delay(settings, attempt, deadline))
        try:
            response = await asyncio.wait_for(
                _get_following_redirects(session, url, settings, policy), _remaining(deadline)
            )
        except aiohttp.InvalidURL as exc:
            raise FetchError("refused", f"not a valid URL: {exc}") from exc
        except (aiohttp.ClientError, TimeoutError) as exc:  # a garbled answer is retried too
            last_error = f"{type(exc).__name__}: {exc}"
            continue
        if response.status < _RETRYABLE_STATUS_FLOOR:
            return _raise_for_client_error(response)
        last_error = f"HTTP {response.status}"
        response.release()
    raise FetchError("unavailable", f"{url} after {settings.max_attempts} attempts: {last_error}")


async def _get_following_redirects(
    session: aiohttp.ClientSession, url: str, settings: FeedSettings, policy: AddressPolicy
) -> aiohttp.ClientResponse:
    """GET, following up to `max_redirects` redirects, each target checked before it is used."""
    for _ in range(settings.max_redirects + 1):
        response = await session.get(url, allow_redirects=False)
        location = response.headers.get("Location")
        if response.status not in _REDIRECTS or not location:
            return response
        response.release()
        try:
            target = str(response.url.join(yarl.URL(location)))
        except ValueError as exc:
            raise FetchError("refused", f"redirect to an invalid URL: {location!r}") from exc
        check_redirect(url, target, policy)
        url = target
    raise FetchError("refused", f"more than {settings.max_redirects} redirects, the last to {url}")


def _raise_for_client_error(response: aiohttp.ClientResponse) -> aiohttp.ClientResponse:
    if response.status >= 400:
        response.release()
        raise FetchError("http", f"HTTP {response.status} {response.reason or ''}".strip())
    return response


def _backoff_delay(settings: FeedSettings, attempt: int, deadline: float) -> float:
    delay = Backoff(settings.backoff_base_s, settings.backoff_max_s).delay(attempt)
    return min(delay, _remaining(deadline))


def _remaining(deadline: float) -> float:
    left: float = deadline - asyncio.get_running_loop().time()
    if left <= 0:
        raise FetchError("timeout", "total fetch deadline exceeded")
    return left


async def _read_response(
    response: aiohttp.ClientResponse, settings: FeedSettings, stats: FeedStats, deadline: float
) -> AsyncIterator[bytes]:
    decoder = _content_decoder(response.headers.get("Content-Encoding", ""), settings)
    received = 0
    while chunk := await _read_chunk(response, settings, deadline):
        received += len(chunk)
        _count_compressed(stats, settings, len(chunk))
        for piece in decoder.feed(chunk):
            yield piece
    expected = response.content_length
    if expected is not None and received != expected:
        raise FetchError("truncated", f"received {received} of {expected} bytes")
    for piece in decoder.finish():
        yield piece


async def _read_chunk(
    response: aiohttp.ClientResponse, settings: FeedSettings, deadline: float
) -> bytes:
    try:
        return await asyncio.wait_for(
            response.content.read(settings.chunk_bytes), _remaining(deadline)
        )
    except aiohttp.ClientPayloadError as exc:
        raise FetchError("truncated", f"body ended early: {exc}") from exc
    except (aiohttp.ClientConnectionError, TimeoutError) as exc:
        if asyncio.get_running_loop().time() >= deadline:
            raise FetchError("timeout", "total fetch deadline exceeded mid-body") from exc
        raise FetchError("truncated", f"connection lost mid-body: {type(exc).__name__}") from exc


class _Passthrough:
    def feed(self, data: bytes) -> Iterator[bytes]:
        yield data

    def finish(self) -> Iterator[bytes]:
        return iter(())


class _Inflater:
    """Incremental zlib/gzip/deflate decoder with bounded output per step (bomb-safe)."""

    def __init__(self, wbits: int, piece_bytes: int, *, raw_fallback: bool = False) -> None:
        self._wbits = wbits
        self._piece = piece_bytes
        self._raw_fallback = raw_fallback
        self._inflater = zlib.decompressobj(wbits)
        self._started = False

    def feed(self, data: bytes) -> Iterator[bytes]:
        while data:
            try:
                piece = self._inflater.decompress(data, self._piece)
            except zlib.error as exc:
                data = self._recover_or_raise(data, exc)
                continue
            self._started = True
            if piece:
                yield piece
            data = self._next_input()

    def _next_input(self) -> bytes:
        inflater = self._inflater
        if not inflater.eof:
            return inflater.unconsumed_tail
        # A gzip file may hold several members back to back; what follows a finished member is
        # in `unused_data`. A member that ends on the output limit leaves a stale copy of it in
        # `unconsumed_tail` too: fed back to the finished decompressor it looped for ever.
        rest = inflater.unused_data
        if rest.strip(b"\x00"):
            self._inflater = zlib.decompressobj(self._wbits)
            return rest
        return b""

    def _recover_or_raise(self, data: bytes, exc: zlib.error) -> bytes:
        if self._raw_fallback and not self._started:
            # "deflate" is raw deflate for some servers, zlib-wrapped for others
            self._raw_fallback = False
            self._wbits = -zlib.MAX_WBITS
            self._inflater = zlib.decompressobj(self._wbits)
            return data
        raise FetchError("truncated", f"broken compressed stream: {exc}")

    def finish(self) -> Iterator[bytes]:
        tail = self._inflater.flush()
        if tail:
            yield tail
        if not self._inflater.eof:
            raise FetchError("truncated", "compressed stream ended before its end marker")


def _content_decoder(encoding: str, settings: FeedSettings) -> _Passthrough | _Inflater:
    name = encoding.strip().lower()
    if name in ("gzip", "x-gzip"):
        return _Inflater(16 + zlib.MAX_WBITS, settings.chunk_bytes)
    if name == "deflate":
        return _Inflater(zlib.MAX_WBITS, settings.chunk_bytes, raw_fallback=True)
    if name in ("", "identity"):
        return _Passthrough()
    raise FetchError("encoding", f"unsupported Content-Encoding {encoding!r}")


async def _unwrap_payload(
    chunks: AsyncIterator[bytes], settings: FeedSettings, stats: FeedStats
) -> AsyncIterator[bytes]:
    head = await _read_head(chunks, len(ZIP_MAGIC))
    if head.startswith(GZIP_MAGIC):
        body = _gunzip(head, chunks, settings)
    elif head.startswith(ZIP_MAGIC):
        body = _unzip(head, chunks, settings)
    else:
        body = _prepend(head, chunks)
    async for chunk in body:
        stats.bytes_uncompressed += len(chunk)
        if stats.bytes_uncompressed > settings.max_uncompressed_bytes:
            raise FetchError(
                "too_large",
                f"the feed exceeds {settings.max_uncompressed_bytes} bytes once decompressed "
                '(FEED_MAX_UNCOMPRESSED_BYTES; raise it for this feed with "max_uncompressed_'
                'bytes" in its mapping)',
            )
        yield chunk


async def _read_head(chunks: AsyncIterator[bytes], size: int) -> bytes:
    head = b""
    async for chunk in chunks:
        head += chunk
        if len(head) >= size:
            break
    return head


async def _prepend(head: bytes, chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    if head:
        yield head
    async for chunk in chunks:
        yield chunk


async def _gunzip(
    head: bytes, chunks: AsyncIterator[bytes], settings: FeedSettings
) -> AsyncIterator[bytes]:
    inflater = _Inflater(16 + zlib.MAX_WBITS, settings.chunk_bytes)
    async for chunk in _prepend(head, chunks):
        for piece in inflater.feed(chunk):
            yield piece
    for piece in inflater.finish():
        yield piece


async def _unzip(
    head: bytes, chunks: AsyncIterator[bytes], settings: FeedSettings
) -> AsyncIterator[bytes]:
    # zip's directory is at the end, so the archive must be whole before reading a member
    with tempfile.SpooledTemporaryFile(max_size=_SPOOL_IN_MEMORY_BYTES) as spool:
        async for chunk in _prepend(head, chunks):
            spool.write(chunk)
        spool.seek(0)
        with _open_feed_member(spool, settings) as member:
            while piece := await asyncio.to_thread(member.read, settings.chunk_bytes):
                yield piece


def _open_feed_member(spool: IO[bytes], settings: FeedSettings) -> IO[bytes]:
    try:
        archive = zipfile.ZipFile(spool)
        info = _pick_feed_member(archive.infolist())
    except zipfile.BadZipFile as exc:
        raise FetchError("truncated", f"broken zip archive: {exc}") from exc
    if info.file_size > settings.max_uncompressed_bytes:
        raise FetchError("too_large", f"zip member {info.filename} is {info.file_size} bytes")
    return archive.open(info)


def _pick_feed_member(members: list[zipfile.ZipInfo]) -> zipfile.ZipInfo:
    files = [m for m in members if not m.is_dir() and not _is_archive_noise(m.filename)]
    for member in files:
        if member.filename.lower().endswith(FEED_SUFFIXES):
            return member
    if files:
        return files[0]
    raise FetchError("empty_archive", "the zip archive holds no file")


def _is_archive_noise(name: str) -> bool:
    base = name.rsplit("/", 1)[-1]
    return name.startswith("__MACOSX/") or base.startswith(".")

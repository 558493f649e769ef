"""The syncer's Xano client: paged listing and batched writes under Xano's rate limit.

Every request goes through one adaptive request budget (a sliding window that shrinks on
429 and honours Retry-After), a concurrency limit, and bounded retries with exponential
backoff and jitter on 5xx, timeouts and dropped connections. Writes are safe to retry:
adds carry a stable eid, updates and deletes are keyed by job_hash.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import random
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from types import TracebackType
from typing import Any, Self

import aiohttp
import orjson

from services.shared.agents import Interrupted
from services.shared.retry import Backoff
from services.shared.settings import Secret, env_float, env_int, env_secret, env_str
from services.syncer.ports import BatchDone, Clock, JsonRecord, MirrorError, Sleep, WriteResult

# No real feed needs more pages; a server that never ends its paging is broken.
MAX_PAGES = 100_000
# A Retry-After longer than this is treated as junk rather than obeyed for hours.
MAX_RETRY_AFTER_SECONDS = 300.0
# Read in slices of this size, so an oversized answer is refused before it is all in memory.
READ_CHUNK_BYTES = 64 * 1024


class XanoError(MirrorError):
    """Xano could not do what was asked; the message says what and why."""


class XanoRequestError(XanoError):
    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status

    @property
    def retriable(self) -> bool:
        """Xano was unavailable (no answer, 5xx, 408, 429): an agent pauses rather than
        dead-letter the record (`services.shared.failures`)."""
        return self.status is None or self.status >= 500 or self.status in (408, 429)


class XanoListingError(XanoError):
    """The feed listing is incomplete or inconsistent: never diff against it."""


@dataclass(frozen=True, slots=True)
class XanoPaths:
    list_feed: str = "/job_posting/supabase/feeds"
    add: str = "/job_posting/supabase_bulk"
    update: str = "/job_posting/supabase_bulk_update"
    delete: str = "/job_posting/supabase/bulk_remove"


@dataclass(frozen=True, slots=True)
class XanoSettings:
    base_url: str
    token: Secret = field(default_factory=lambda: Secret(""))
    paths: XanoPaths = XanoPaths()
    batch_size: int = 250
    per_page: int = 1000
    max_concurrency: int = 4
    # Xano's free plan: 10 requests per 20 s. The budget never exceeds this, and shrinks on 429.
    requests_per_window: int = 10
    window_seconds: float = 20.0
    max_attempts: int = 4
    max_rate_limited_waits: int = 30
    backoff_base_seconds: float = 0.5
    backoff_max_seconds: float = 30.0
    request_timeout_seconds: float = 120.0
    connect_timeout_seconds: float = 10.0
    # The most bytes read from one answer (a listing page is the big one): a page of 1,000
    # full jobs is ~10 MB; a server that streams more is refused, never buffered whole.
    max_response_bytes: int = 64 * 1024 * 1024
    # Send feed_id with bulk_remove so a hash shared with another feed is left alone there.
    feed_scoped_deletes: bool = True

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> XanoSettings:
        """Reads XANO_* variables; names follow the original system where it had one."""
        defaults = cls(base_url="")
        return cls(
            base_url=env_str(env, "XANO_API_URL", "http://127.0.0.1:8090/api:jobstream"),
            token=env_secret(env, "XANO_API_KEY"),
            paths=XanoPaths(
                list_feed=env_str(env, "XANO_PATH_LIST", defaults.paths.list_feed),
                add=env_str(env, "XANO_PATH_ADD", defaults.paths.add),
                update=env_str(env, "XANO_PATH_UPDATE", defaults.paths.update),
                delete=env_str(env, "XANO_PATH_DELETE", defaults.paths.delete),
            ),
            batch_size=env_int(env, "XANO_BULK_BATCH_SIZE", defaults.batch_size),
            per_page=env_int(env, "XANO_PER_PAGE", defaults.per_page),
            max_concurrency=env_int(env, "MAX_CONCURRENT_XANO_CALLS", defaults.max_concurrency),
            requests_per_window=env_int(
                env, "XANO_REQUESTS_PER_WINDOW", defaults.requests_per_window
            ),
            window_seconds=env_float(env, "XANO_WINDOW_SECONDS", defaults.window_seconds),
            max_attempts=env_int(env, "XANO_MAX_ATTEMPTS", defaults.max_attempts),
            request_timeout_seconds=env_float(
                env, "XANO_TIMEOUT_SECONDS", defaults.request_timeout_seconds
            ),
            max_response_bytes=env_int(env, "XANO_MAX_PAGE_BYTES", defaults.max_response_bytes),
        )


@dataclass(slots=True)
class ClientStats:
    """What the client did, for reports and metrics."""

    requests: int = 0
    rate_limited: int = 0
    retries: int = 0


# -- the request budget ----------------------------------------------------------------------


class WindowBudget:
    """How many requests may start now, given those in flight and those finished recently.

    A finished request is stamped when its answer arrives, which is after the server saw it,
    so keeping fewer than `limit` stamps-or-in-flight per window means the server never sees
    more than `limit` requests in any window of its own, whatever the network latency.
    Pure: every method takes the current time.
    """

    def __init__(self, max_requests: int, window_seconds: float) -> None:
        self.max_requests = max(1, max_requests)
        self.limit = self.max_requests
        self.window = window_seconds
        self.in_flight = 0
        self.paused_until = 0.0
        self._finished: deque[float] = deque()
        self._clean_streak = 0

    def delay(self, now: float) -> float:
        """Seconds to wait before a request may start (math.inf: until one finishes)."""
        self._forget(now)
        if now < self.paused_until:
            return self.paused_until - now
        if len(self._finished) + self.in_flight < self.limit:
            return 0.0
        if not self._finished:
            return math.inf
        return self._finished[0] + self.window - now

    def start(self) -> None:
        self.in_flight += 1

    def finish(self, now: float, retry_after: float | None = None) -> None:
        """Records an answer; a 429 pauses everyone for Retry-After and halves the budget."""
        self.in_flight -= 1
        self._finished.append(now)
        if retry_after is None:
            self._grow()
        else:
            self._shrink(now, retry_after)

    def _grow(self) -> None:
        # Additive increase: one more request per window after two clean windows' worth.
        self._clean_streak += 1
        if self.limit < self.max_requests and self._clean_streak >= 2 * self.limit:
            self.limit += 1
            self._clean_streak = 0

    def _shrink(self, now: float, retry_after: float) -> None:
        # One cut per pause: a burst of 429s from the same window is one signal, not many.
        if now >= self.paused_until:
            self.limit = max(1, self.limit // 2)
        self._clean_streak = 0
        self.paused_until = max(self.paused_until, now + retry_after)

    def _forget(self, now: float) -> None:
        while self._finished and self._finished[0] <= now - self.window:
            self._finished.popleft()


class RequestBudget:
    """The async face of WindowBudget: waits for a slot, shared by every request of a client."""

    def __init__(self, budget: WindowBudget, clock: Callable[[], float]) -> None:
        self._budget = budget
        self._clock = clock
        self._changed = asyncio.Condition()

    @property
    def limit(self) -> int:
        return self._budget.limit

    async def acquire(self) -> None:
        async with self._changed:
            while (wait := self._budget.delay(self._clock())) > 0:
                timeout = None if math.isinf(wait) else wait
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), timeout)
            self._budget.start()

    async def release(self, retry_after: float | None = None) -> None:
        async with self._changed:
            self._budget.finish(self._clock(), retry_after)
            self._changed.notify_all()


# -- the client ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Attempt:
    """The outcome of one HTTP exchange."""

    body: Any = None
    ok: bool = False
    retry_after: float | None = None  # set on 429
    retryable: bool = False
    error: str = ""
    status: int | None = None


@dataclass(slots=True)
class _RetryState:
    attempts: int = 0
    rate_limited: int = 0
    errors: list[str] = field(default_factory=list)


class XanoClient:
    """Async context manager around one aiohttp session; all calls share one request budget."""

    def __init__(
        self,
        settings: XanoSettings,
        *,
        clock: Clock | None = None,
        sleep: Sleep = asyncio.sleep,
        jitter: Callable[[], float] = random.random,
        stopping: asyncio.Event | None = None,
    ) -> None:
        self.settings = settings
        # Once set, no request is sent any more (those in flight finish): a stopping worker
        # leaves no write that Xano applied and nobody counted.
        self._stopping = stopping or asyncio.Event()
        self.stats = ClientStats()
        self._clock = clock
        self._sleep = sleep
        # equal jitter, so retrying replicas spread out
        self._backoff = Backoff(settings.backoff_base_seconds, settings.backoff_max_seconds, jitter)
        self._session: aiohttp.ClientSession | None = None
        self._semaphore = asyncio.Semaphore(max(1, settings.max_concurrency))
        self._budget: RequestBudget | None = None

    async def __aenter__(self) -> Self:
        return await self.open()

    async def open(self) -> Self:
        """Opens the HTTP session; a long-lived service calls it once, repeats are no-ops."""
        if self._session is not None:
            return self
        loop = asyncio.get_running_loop()
        window = WindowBudget(self.settings.requests_per_window, self.settings.window_seconds)
        self._budget = RequestBudget(window, self._clock or loop.time)
        self._session = aiohttp.ClientSession(
            headers=self._headers(),
            timeout=aiohttp.ClientTimeout(
                total=self.settings.request_timeout_seconds,
                connect=self.settings.connect_timeout_seconds,
            ),
            connector=aiohttp.TCPConnector(limit=max(1, self.settings.max_concurrency)),
            json_serialize=lambda value: orjson.dumps(value).decode(),
        )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    @property
    def budget_limit(self) -> int:
        """Requests per window the client currently allows itself (shrinks after 429s)."""
        return self._budget.limit if self._budget else self.settings.requests_per_window

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self.settings.token:
            headers["Authorization"] = f"Bearer {self.settings.token.value.strip()}"
        return headers

    # -- listing ------------------------------------------------------------------------------

    async def list_feed(self, feed_id: int) -> list[JsonRecord]:
        """Every Xano record of the feed, or XanoListingError: never a partial list."""
        collected: list[JsonRecord] = []
        expected_total: int | None = None
        page = 1
        for _ in range(MAX_PAGES):
            body = await self._list_page(feed_id, page)
            if isinstance(body, list):
                if page != 1:
                    raise XanoListingError(f"page {page} answered a plain array after envelopes")
                return _records_of(body, page)
            items, total, next_page = _read_envelope(body, page, expected_total)
            collected.extend(items)
            expected_total = total
            if next_page is None:
                return _checked_total(collected, expected_total)
            page = next_page
        raise XanoListingError(f"listing of feed {feed_id} did not end after {MAX_PAGES} pages")

    async def _list_page(self, feed_id: int, page: int) -> Any:
        params = {"feed_id": feed_id, "page": page, "per_page": self.settings.per_page}
        try:
            return await self._request("GET", self.settings.paths.list_feed, params=params)
        except XanoRequestError as exc:
            raise XanoListingError(f"feed {feed_id}, page {page}: {exc}") from exc

    # -- writes -------------------------------------------------------------------------------

    async def add(
        self, records: Sequence[Mapping[str, Any]], on_batch: BatchDone | None = None
    ) -> WriteResult:
        """Bulk add; a record whose eid Xano knows is updated, so a retried batch never doubles."""
        return await self._write(
            self.settings.paths.add,
            "POST",
            records,
            lambda batch: {"job_postings": batch},
            on_batch,
            lambda record: str(record["job_hash"]),
        )

    async def update(
        self, records: Sequence[Mapping[str, Any]], on_batch: BatchDone | None = None
    ) -> WriteResult:
        """Bulk update by job_hash; hashes Xano reports as not found count as failed."""
        return await self._write(
            self.settings.paths.update,
            "POST",
            records,
            lambda batch: {"job_postings": batch},
            on_batch,
            lambda record: str(record["job_hash"]),
        )

    async def delete(
        self, feed_id: int, hashes: Sequence[str], on_batch: BatchDone | None = None
    ) -> WriteResult:
        """Bulk remove by job_hash (within the feed unless feed_scoped_deletes is off)."""
        scope = {"feed_id": feed_id} if self.settings.feed_scoped_deletes else {}
        return await self._write(
            self.settings.paths.delete,
            "DELETE",
            hashes,
            lambda batch: {"job_hashes": batch, **scope},
            on_batch,
            str,
        )

    async def _write(
        self,
        path: str,
        method: str,
        items: Sequence[Any],
        body_of: Callable[[list[Any]], dict[str, Any]],
        on_batch: BatchDone | None,
        hash_of: Callable[[Any], str],
    ) -> WriteResult:
        async def one(batch: list[Any]) -> WriteResult:
            result = await self._write_batch(method, path, batch, body_of(batch))
            if result.confirmed:
                result = replace(result, written=tuple(map(hash_of, batch)))
            if on_batch is not None:
                await on_batch(result)
            return result

        batches = _batches(list(items), self.settings.batch_size)
        results = await asyncio.gather(*(one(batch) for batch in batches))
        return sum(results, WriteResult())

    async def _write_batch(
        self, method: str, path: str, batch: list[Any], body: dict[str, Any]
    ) -> WriteResult:
        try:
            answer = await self._request(method, path, json=body)
        except Interrupted:
            return WriteResult(stopped=len(batch))
        except XanoRequestError as exc:
            return WriteResult(
                failed=len(batch), errors=(f"{method} {path}: {exc}",), unavailable=exc.retriable
            )
        return _confirmed(batch, answer, path)

    # -- one logical request: budget, retries, backoff ------------------------------------------

    async def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        state = _RetryState()
        while True:
            attempt = await self._attempt_once(method, path, **kwargs)
            if attempt.ok:
                return attempt.body
            state.errors.append(attempt.error)
            await self._before_retry(attempt, state, method, path)

    async def _before_retry(
        self, attempt: _Attempt, state: _RetryState, method: str, path: str
    ) -> None:
        """Returns when another attempt is worth making; raises when it is not."""
        if attempt.retry_after is not None:
            state.rate_limited += 1
            if state.rate_limited > self.settings.max_rate_limited_waits:
                raise XanoRequestError(f"still rate limited after {state.rate_limited} waits", 429)
            return  # the shared budget is paused for Retry-After: acquiring waits it out
        state.attempts += 1
        if not attempt.retryable or state.attempts >= self.settings.max_attempts:
            tried = f"after {state.attempts} attempt(s)"
            raise XanoRequestError(
                f"{method} {path} failed {tried}: {attempt.error}", attempt.status
            )
        self.stats.retries += 1
        await self._sleep(self._backoff.delay(state.attempts))

    async def _attempt_once(self, method: str, path: str, **kwargs: Any) -> _Attempt:
        assert self._budget is not None, "use XanoClient as an async context manager"
        async with self._semaphore:
            await self._budget.acquire()
            if self._stopping.is_set():
                await self._budget.release()
                raise Interrupted(f"{method} {path} not sent: the syncer is stopping")
            attempt = await self._exchange(method, path, **kwargs)
            await self._budget.release(attempt.retry_after)
        self.stats.requests += 1
        if attempt.retry_after is not None:
            self.stats.rate_limited += 1
        return attempt

    async def _exchange(self, method: str, path: str, **kwargs: Any) -> _Attempt:
        assert self._session is not None, "use XanoClient as an async context manager"
        url = self.settings.base_url.rstrip("/") + path
        try:
            async with self._session.request(method, url, **kwargs) as response:
                return await self._judge(response)
        except TimeoutError:
            return _Attempt(retryable=True, error="timed out")
        except aiohttp.ClientError as exc:
            return _Attempt(retryable=True, error=f"{type(exc).__name__}: {exc}")

    async def _judge(self, response: aiohttp.ClientResponse) -> _Attempt:
        status = response.status
        raw = await _read_capped(response, self.settings.max_response_bytes)
        if raw is None:
            limit = self.settings.max_response_bytes
            error = f"HTTP {status} answer larger than {limit:,} bytes (XANO_MAX_PAGE_BYTES)"
            return _Attempt(error=error, status=status)
        if 200 <= status < 300:
            return _parsed(raw, status)
        message = f"HTTP {status}: {_error_message(raw)}"
        if status == 429:
            wait = _retry_after(response.headers.get("Retry-After"), self.settings.window_seconds)
            return _Attempt(retry_after=wait, error=message, status=status)
        retryable = status >= 500 or status == 408
        return _Attempt(retryable=retryable, error=message, status=status)


# -- pure helpers ----------------------------------------------------------------------------


def _batches(items: list[Any], size: int) -> list[list[Any]]:
    size = max(1, size)
    return [items[start : start + size] for start in range(0, len(items), size)]


async def _read_capped(response: aiohttp.ClientResponse, limit: int) -> bytes | None:
    """The answer's body, or None once it passes `limit` bytes (the rest is never read)."""
    if response.content_length is not None and response.content_length > limit:
        return None
    parts: list[bytes] = []
    size = 0
    async for chunk in response.content.iter_chunked(READ_CHUNK_BYTES):
        size += len(chunk)
        if size > limit:
            return None
        parts.append(chunk)
    return b"".join(parts)


def _parsed(raw: bytes, status: int) -> _Attempt:
    if not raw.strip():
        return _Attempt(ok=True, body=None, status=status)
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return _Attempt(retryable=True, error=f"HTTP {status} with a body that is not JSON")
    complaint = _error_in_body(body)
    if complaint is not None:
        # Xano's function stacks can catch a failure and still answer 2xx: not done.
        return _Attempt(retryable=True, error=f"HTTP {status} with an error body: {complaint}")
    return _Attempt(ok=True, body=body, status=status)


def _error_in_body(body: Any) -> str | None:
    """What a 2xx body says went wrong: Xano's {"code", "message"} shape, or an explicit error."""
    if not isinstance(body, dict):
        return None
    if "code" in body and "message" in body:
        return f"{body['code']} {body['message']}"[:200]
    if body.get("error"):
        return str(body["error"])[:200]
    if body.get("success") is False:
        return "success: false"
    return None


def _error_message(raw: bytes) -> str:
    """Xano errors are {"code", "message"}; anything else is quoted, shortened."""
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return raw[:200].decode("utf-8", "replace")
    if isinstance(body, dict) and "message" in body:
        return f"{body.get('code', '')} {body['message']}".strip()
    return str(body)[:200]


def _retry_after(header: str | None, default: float) -> float:
    """Seconds from a Retry-After header (seconds or an HTTP date); the window when absent."""
    if not header:
        return default
    try:
        seconds = float(header)
    except ValueError:
        try:
            seconds = (parsedate_to_datetime(header) - datetime.now(UTC)).total_seconds()
        except (TypeError, ValueError):
            return default
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_SECONDS)


def _confirmed(batch: list[Any], answer: Any, path: str) -> WriteResult:
    """A 2xx confirms the batch, minus the records the answer says it did not store."""
    short = _shortfall(len(batch), answer)
    if short is None:
        return WriteResult(confirmed=len(batch))
    missing, error = short
    return WriteResult(confirmed=len(batch) - missing, failed=missing, errors=(f"{path}: {error}",))


def _shortfall(sent: int, answer: Any) -> tuple[int, str] | None:
    """Records of the batch an answer admits it did not store: hashes not found, or an add
    whose added + updated counts fall short of what was sent."""
    if not isinstance(answer, dict):
        return None
    not_found = answer.get("not_found")
    if isinstance(not_found, list) and not_found:
        missing = min(sent, len(not_found))
        return missing, f"{missing} job(s) not found in Xano, e.g. {not_found[0]}"
    added, updated = answer.get("added"), answer.get("updated")
    if isinstance(added, int) and isinstance(updated, int) and "not_found" not in answer:
        stored = added + updated
        if stored < sent:
            return sent - stored, f"Xano stored {stored} of the {sent} job(s) sent"
    return None


def _records_of(items: list[Any], page: int) -> list[JsonRecord]:
    if not all(isinstance(item, dict) for item in items):
        raise XanoListingError(f"page {page} holds something other than job objects")
    return list(items)


def _read_envelope(
    body: Any, page: int, expected_total: int | None
) -> tuple[list[JsonRecord], int, int | None]:
    """Items, itemsTotal and nextPage of one page, checked against the pages before it."""
    if not isinstance(body, dict) or not isinstance(body.get("items"), list):
        raise XanoListingError(f"page {page} is neither an array nor a paging envelope")
    total = body.get("itemsTotal")
    if not isinstance(total, int) or (expected_total is not None and total != expected_total):
        raise XanoListingError(f"page {page}: itemsTotal {total!r}, expected {expected_total}")
    current, next_page = body.get("curPage", page), body.get("nextPage")
    if current != page or (next_page is not None and next_page != page + 1):
        raise XanoListingError(f"page {page}: curPage {current!r}, nextPage {next_page!r}")
    return _records_of(body["items"], page), total, next_page


def _checked_total(collected: list[JsonRecord], expected_total: int | None) -> list[JsonRecord]:
    if expected_total is not None and len(collected) != expected_total:
        message = f"gathered {len(collected)} records but Xano reported itemsTotal {expected_total}"
        raise XanoListingError(message)
    return collected

"""The emulator's aiohttp application: Xano's job_posting contract plus /__admin endpoints."""

from __future__ import annotations

import asyncio
import hmac
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

from emulators.xano.faults import ENDPOINTS, Faults, FaultSpecError, RequestCounters, parse_faults
from emulators.xano.ratelimit import ArrivalMeter, SlidingWindowLimiter
from emulators.xano.settings import FREE_PLAN, EmulatorSettings
from emulators.xano.store import XanoStore

log = logging.getLogger(__name__)

DEFAULT_PER_PAGE = 1000
MAX_PER_PAGE = 10_000
# Bulk batches of 250 full job descriptions easily pass aiohttp's 1 MiB default.
MAX_BODY_BYTES = 64 * 1024 * 1024

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(slots=True)
class EmulatorState:
    settings: EmulatorSettings
    store: XanoStore
    meter: ArrivalMeter
    limiter: SlidingWindowLimiter | None
    faults: Faults = field(default_factory=Faults)
    counters: RequestCounters = field(default_factory=RequestCounters)

    @classmethod
    def build(cls, settings: EmulatorSettings) -> EmulatorState:
        limit = settings.rate_limit
        window = (limit or FREE_PLAN).window_seconds
        return cls(
            settings=settings,
            store=XanoStore(settings.data_file),
            meter=ArrivalMeter(window, settings.clock),
            limiter=SlidingWindowLimiter(limit, settings.clock) if limit else None,
        )

    def reset(self, *, records: bool) -> None:
        self.faults = Faults()
        self.counters = RequestCounters()
        self.meter.reset()
        if self.limiter is not None:
            self.limiter.reset()
        if records:
            self.store.clear()


STATE = web.AppKey("xano_emulator_state", EmulatorState)


def create_app(settings: EmulatorSettings) -> web.Application:
    """The emulator as an aiohttp application; run it with web.run_app or an AppRunner."""
    app = web.Application(middlewares=[_contract_middleware], client_max_size=MAX_BODY_BYTES)
    app[STATE] = EmulatorState.build(settings)
    base = settings.base_path.rstrip("/")
    app.router.add_get(f"{base}/job_posting/supabase/feeds", _list_feed, name="list")
    app.router.add_post(f"{base}/job_posting/supabase_bulk", _add, name="add")
    app.router.add_post(f"{base}/job_posting/supabase_bulk_update", _update, name="update")
    app.router.add_delete(f"{base}/job_posting/supabase/bulk_remove", _remove, name="remove")
    app.router.add_post("/__admin/faults", _admin_faults)
    app.router.add_get("/__admin/counters", _admin_counters)
    app.router.add_post("/__admin/reset", _admin_reset)
    app.router.add_get("/__admin/records", _admin_records)
    app.router.add_get("/__admin/health", _admin_health)
    app.on_cleanup.append(_close_store)
    return app


async def _close_store(app: web.Application) -> None:
    app[STATE].store.close()


def state_of(app: web.Application) -> EmulatorState:
    """The emulator's live state, for in-process tests that want to look inside."""
    return app[STATE]


# -- cross-cutting behaviour of the contract endpoints ----------------------------------------


class _DroppedResponse(web.Response):
    """Returned after the socket was closed on purpose: aiohttp finds nowhere to write it."""


@web.middleware
async def _contract_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    endpoint = request.match_info.route.name
    if endpoint not in ENDPOINTS:
        return await handler(request)
    state = request.app[STATE]
    state.counters.requests[endpoint] += 1
    state.meter.record()
    state.counters.peak_arrivals_in_window = state.meter.peak
    response = await _guarded(request, handler, state, endpoint)
    if isinstance(response, _DroppedResponse):
        state.counters.dropped_connections += 1
    else:
        state.counters.responses[response.status] += 1
    return response


async def _guarded(
    request: web.Request, handler: Handler, state: EmulatorState, endpoint: str
) -> web.StreamResponse:
    refusal = _refusal(request, state)
    if refusal is not None:
        return refusal
    if state.faults.slow_ms:
        await asyncio.sleep(state.faults.slow_ms / 1000)
    if state.faults.status_429.fire(endpoint):
        return _too_many_requests(state.faults.retry_after_s)
    if state.faults.status_5xx.fire(endpoint):
        state.counters.injected_5xx += 1
        return xano_error(state.faults.status_code, "ERROR_FATAL", "Injected server error.")
    if state.faults.error_body_2xx.fire(endpoint):
        state.counters.injected_error_bodies += 1
        return xano_error(200, "ERROR_FATAL", "Injected failure answered with 200.")
    dropping = state.faults.drop_connection.fire(endpoint)
    if dropping and not state.faults.drop_after_apply:
        return _drop(request)
    response = await handler(request)
    return _drop(request) if dropping else response


def _refusal(request: web.Request, state: EmulatorState) -> web.Response | None:
    """401 for a wrong token, then 429 when over the rate limit; None lets the request in."""
    if not _authorised(request, state.settings.token):
        return xano_error(401, "ERROR_CODE_UNAUTHORIZED", "Invalid token.")
    if state.limiter is None:
        return None
    retry_after = state.limiter.try_admit()
    if retry_after is None:
        return None
    return _too_many_requests(retry_after)


def _too_many_requests(retry_after: int) -> web.Response:
    response = xano_error(
        429,
        "ERROR_CODE_TOO_MANY_REQUESTS",
        "Rate limit exceeded: please wait before retrying this request.",
    )
    response.headers["Retry-After"] = str(retry_after)
    return response


def _authorised(request: web.Request, token: str | None) -> bool:
    if not token:
        return True
    presented = request.headers.get("Authorization", "")
    return hmac.compare_digest(presented.encode(), f"Bearer {token}".encode())


def _drop(request: web.Request) -> web.Response:
    transport = request.transport
    if transport is not None:
        transport.close()
    return _DroppedResponse(status=599)


def xano_error(status: int, code: str, message: str, payload: Any = "") -> web.Response:
    """An error in Xano's shape: {"code", "message", "payload"}."""
    return _json({"code": code, "message": message, "payload": payload}, status=status)


def _json(body: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(body), status=status, content_type="application/json")


# -- the contract endpoints -------------------------------------------------------------------


async def _list_feed(request: web.Request) -> web.Response:
    state = request.app[STATE]
    try:
        feed_id = _optional_int(request, "feed_id")
        page = _int_param(request, "page", 1)
        per_page = _int_param(request, "per_page", DEFAULT_PER_PAGE)
    except ValueError as exc:
        return xano_error(400, "ERROR_CODE_INPUT_ERROR", str(exc))
    if page < 1 or not 1 <= per_page <= MAX_PER_PAGE:
        return xano_error(400, "ERROR_CODE_INPUT_ERROR", "page or per_page out of range")
    if state.faults.listing_fails(page):
        state.counters.injected_5xx += 1
        return xano_error(500, "ERROR_FATAL", f"Injected failure on page {page}.")
    if state.faults.list_ignores_feed_id:
        return _json(state.store.page_of_every_feed(page, per_page).envelope())
    return _json(state.store.page(feed_id, page, per_page).envelope())


async def _add(request: web.Request) -> web.Response:
    postings = await _postings(request)
    if isinstance(postings, web.Response):
        return postings
    state = request.app[STATE]
    counts = state.store.add(postings)
    state.counters.records_written["add"] += len(postings)
    return _json({"added": counts.added, "updated": counts.updated})


async def _update(request: web.Request) -> web.Response:
    postings = await _postings(request)
    if isinstance(postings, web.Response):
        return postings
    state = request.app[STATE]
    counts = state.store.update(postings)
    state.counters.records_written["update"] += len(postings)
    return _json({"updated": counts.updated, "not_found": counts.not_found})


async def _remove(request: web.Request) -> web.Response:
    body = await _json_body(request)
    hashes = body.get("job_hashes") if isinstance(body, dict) else None
    if not isinstance(hashes, list) or not all(isinstance(h, str) for h in hashes):
        return xano_error(400, "ERROR_CODE_INPUT_ERROR", "job_hashes must be a list of strings")
    feed_id = body.get("feed_id") if isinstance(body, dict) else None
    if feed_id is not None and (isinstance(feed_id, bool) or not isinstance(feed_id, int)):
        return xano_error(400, "ERROR_CODE_INPUT_ERROR", "feed_id must be an integer")
    state = request.app[STATE]
    removed = state.store.remove(hashes, feed_id)
    state.counters.records_written["remove"] += len(hashes)
    return _json({"removed": removed})


async def _postings(request: web.Request) -> list[dict[str, Any]] | web.Response:
    """The `job_postings` list of a bulk body, or the 400 answer explaining what is wrong."""
    body = await _json_body(request)
    postings = body.get("job_postings") if isinstance(body, dict) else None
    if not isinstance(postings, list):
        return xano_error(400, "ERROR_CODE_INPUT_ERROR", "job_postings must be a list")
    for index, posting in enumerate(postings):
        if not isinstance(posting, dict) or not isinstance(posting.get("job_hash"), str):
            message = f"job_postings[{index}] must be an object with a string job_hash"
            return xano_error(400, "ERROR_CODE_INPUT_ERROR", message)
    return postings


async def _json_body(request: web.Request) -> Any:
    try:
        return orjson.loads(await request.read())
    except orjson.JSONDecodeError:
        return None


def _int_param(request: web.Request, name: str, default: int) -> int:
    value = _optional_int(request, name)
    return default if value is None else value


def _optional_int(request: web.Request, name: str) -> int | None:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return None
    try:
        return int(raw)
    except ValueError as exc:
        raise ValueError(f"{name} must be an integer, got {raw!r}") from exc


# -- admin endpoints: not rate limited, not counted --------------------------------------------


async def _admin_faults(request: web.Request) -> web.Response:
    body = await _json_body(request)
    if not isinstance(body, dict):
        return xano_error(400, "ERROR_CODE_INPUT_ERROR", "faults must be a JSON object")
    try:
        request.app[STATE].faults = parse_faults(body)
    except FaultSpecError as exc:
        return xano_error(400, "ERROR_CODE_INPUT_ERROR", str(exc))
    return _json({"ok": True})


async def _admin_counters(request: web.Request) -> web.Response:
    state = request.app[STATE]
    return _json({**state.counters.as_json(), "records": len(state.store)})


async def _admin_reset(request: web.Request) -> web.Response:
    body = await _json_body(request) if request.can_read_body else None
    keep = isinstance(body, dict) and body.get("records") is False
    request.app[STATE].reset(records=not keep)
    return _json({"ok": True})


async def _admin_records(request: web.Request) -> web.Response:
    try:
        feed_id = _optional_int(request, "feed_id")
    except ValueError as exc:
        return xano_error(400, "ERROR_CODE_INPUT_ERROR", str(exc))
    return _json(request.app[STATE].store.records(feed_id))


async def _admin_health(request: web.Request) -> web.Response:
    return _json({"status": "ok", "records": len(request.app[STATE].store)})

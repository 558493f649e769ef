"""API composition root: the aiohttp application, its routes, auth and error middleware."""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from decimal import Decimal
from typing import Any

import orjson
from aiohttp import web

from services.api import auth, console, console_ops
from services.api import handlers as h
from services.api.adapters.kafka import Publisher, broker_reachable
from services.api.config import ApiSettings
from services.api.errors import ApiError, BadRequestError
from services.api.openapi import docs_page, document
from services.api.service import ControlPlane
from services.shared import metrics
from services.shared.database import Database

SERVICE = "api"
log = logging.getLogger(__name__)

PLANE = auth.PLANE
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def json_response(body: Any, status: int = 200) -> web.Response:
    return web.Response(
        body=orjson.dumps(body, default=_default), status=status, content_type="application/json"
    )


def _error_response(status: int, code: str, message: str, **extra: Any) -> web.Response:
    return json_response({"error": code, "message": message, **extra}, status=status)


@web.middleware
async def errors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every error is JSON `{error, message}`: ours, aiohttp's (404/405) and unexpected ones."""
    try:
        return await handler(request)
    except ApiError as error:
        if auth.is_console(request):
            return console.error_page(request, error.status, error.message)
        return json_response(error.body(), status=error.status)
    except web.HTTPException as error:
        if error.status < 400:
            raise
        if auth.is_console(request):
            return console.error_page(request, error.status, error.text or error.reason)
        code = error.reason.lower().replace(" ", "_")
        answer = _error_response(error.status, code, error.text or error.reason)
        if "Allow" in error.headers:  # a 405 says which methods the route has
            answer.headers["Allow"] = error.headers["Allow"]
        return answer
    except Exception:
        log.exception("%s %s failed", request.method, request.path)
        return _error_response(500, "internal", "unexpected error; see the API's log")


@web.middleware
async def metrics_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Counts requests by route template (not raw path: ids would explode the labels)."""
    response = await handler(request)
    route = request.match_info.route.resource
    name = route.canonical if route is not None else "unmatched"
    metrics.API_REQUESTS.labels(name, str(response.status)).inc()
    return response


async def _json_body(request: web.Request) -> Any:
    raw = await request.read()
    try:
        return orjson.loads(raw) if raw else None
    except orjson.JSONDecodeError as exc:
        raise BadRequestError(f"the body is not valid JSON: {exc}") from exc


def _plane(request: web.Request) -> ControlPlane:
    return request.app[PLANE]


# --- routes --------------------------------------------------------------------------------


async def healthz(request: web.Request) -> web.Response:
    plane = _plane(request)
    return json_response(
        {"status": "ok", "service": SERVICE, "replica": plane.settings.replica, "pid": os.getpid()}
    )


async def readyz(request: web.Request) -> web.Response:
    checks = await _plane(request).readiness()
    ready = all(checks.values())
    return json_response({"ready": ready, **checks}, status=200 if ready else 503)


async def prometheus(request: web.Request) -> web.Response:
    body, content_type = metrics.exposition()
    return web.Response(body=body, headers={"Content-Type": content_type})


async def openapi_json(request: web.Request) -> web.Response:
    return json_response(document())


async def docs(request: web.Request) -> web.Response:
    return web.Response(text=docs_page(), content_type="text/html")


async def trigger_feed(request: web.Request) -> web.Response:
    feed_id = h.parse_id(request.match_info["feed_id"], "feed_id")
    run_id = await _plane(request).trigger(feed_id)
    return json_response({"run_id": run_id, "feed_id": feed_id}, status=202)


async def execution_status(request: web.Request) -> web.Response:
    feed_id = h.parse_id(request.match_info["feed_id"], "feed_id")
    return json_response((await _plane(request).execution_status(feed_id)).as_json())


async def get_run(request: web.Request) -> web.Response:
    view = await _plane(request).run_view(request.match_info["run_id"])
    return json_response(view.as_json())


async def confirm_archive(request: web.Request) -> web.Response:
    action = h.validate_run_action(await _json_body(request), needs_reason=False)
    run_id = request.match_info["run_id"]
    return json_response(
        await _plane(request).decide_archive(run_id, confirm=True, by=action.by), status=202
    )


async def discard_archive(request: web.Request) -> web.Response:
    action = h.validate_run_action(await _json_body(request), needs_reason=False)
    run_id = request.match_info["run_id"]
    return json_response(
        await _plane(request).decide_archive(run_id, confirm=False, by=action.by), status=202
    )


async def fail_run(request: web.Request) -> web.Response:
    action = h.validate_run_action(await _json_body(request), needs_reason=True)
    assert action.reason is not None
    run_id = request.match_info["run_id"]
    answer = await _plane(request).fail_run(run_id, reason=action.reason, by=action.by)
    return json_response(answer, status=202)


async def create_feed(request: web.Request) -> web.Response:
    fields = h.validate_feed(await _json_body(request), partial=False)
    return json_response((await _plane(request).create_feed(fields)).as_json(), status=201)


async def list_feeds(request: web.Request) -> web.Response:
    limit, offset = h.parse_paging(request.query)
    found = await _plane(request).list_feeds(limit, offset)
    shown = [feed.as_json() for feed in found]
    return json_response({"feeds": shown, "limit": limit, "offset": offset})


async def get_feed(request: web.Request) -> web.Response:
    feed_id = h.parse_id(request.match_info["feed_id"], "feed_id")
    return json_response((await _plane(request).feed(feed_id)).as_json())


async def update_feed(request: web.Request) -> web.Response:
    feed_id = h.parse_id(request.match_info["feed_id"], "feed_id")
    fields = h.validate_feed(await _json_body(request), partial=True)
    return json_response((await _plane(request).update_feed(feed_id, fields)).as_json())


async def delete_feed(request: web.Request) -> web.Response:
    feed_id = h.parse_id(request.match_info["feed_id"], "feed_id")
    return json_response((await _plane(request).deactivate_feed(feed_id)).as_json())


async def review_queue(request: web.Request) -> web.Response:
    limit, offset = h.parse_paging(request.query)
    feed_id = h.optional_feed_filter(request.query)
    jobs, total = await _plane(request).review_queue(feed_id, limit, offset)
    return json_response({"jobs": jobs, "total": total, "limit": limit, "offset": offset})


def _as_user(request: web.Request, decision: h.ReviewDecision) -> h.ReviewDecision:
    """A user's decision is theirs whatever the body says; the script admin names the reviewer."""
    principal = auth.principal_of(request)
    if principal.user_id is None:
        return decision
    return h.ReviewDecision(principal.username, decision.reason)


async def approve(request: web.Request) -> web.Response:
    job_hash = h.check_job_hash(request.match_info["job_hash"])
    decision = _as_user(request, h.validate_review(await _json_body(request), needs_reason=False))
    return json_response(await _plane(request).approve(job_hash, decision))


async def reject(request: web.Request) -> web.Response:
    job_hash = h.check_job_hash(request.match_info["job_hash"])
    decision = _as_user(request, h.validate_review(await _json_body(request), needs_reason=True))
    return json_response(await _plane(request).reject(job_hash, decision))


def _audited(action: str, handler: auth.Handler, detail: auth.Detail) -> auth.Handler:
    return auth.audited(action, handler, detail)


def _routes() -> list[web.RouteDef]:
    return [
        web.get("/healthz", healthz),
        web.get("/readyz", readyz),
        web.get("/metrics", prometheus),
        web.get("/openapi.json", openapi_json),
        web.get("/docs", docs),
        web.post("/trigger-feed/{feed_id}", _audited("run.trigger", trigger_feed, auth.run_detail)),
        web.get("/execution-status/{feed_id}", execution_status),
        web.get("/runs/{run_id}", get_run),
        web.post("/runs/{run_id}/confirm-archive", confirm_archive),
        web.post("/runs/{run_id}/discard-archive", discard_archive),
        web.post("/runs/{run_id}/fail", fail_run),
        web.get("/feeds", list_feeds),
        web.post("/feeds", _audited("feed.create", create_feed, auth.feed_detail)),
        web.get("/feeds/{feed_id}", get_feed),
        web.patch("/feeds/{feed_id}", _audited("feed.update", update_feed, auth.feed_detail)),
        web.delete("/feeds/{feed_id}", _audited("feed.deactivate", delete_feed, auth.feed_detail)),
        web.get("/review", review_queue),
        web.post(
            "/review/{job_hash}/approve", _audited("review.approve", approve, auth.review_detail)
        ),
        web.post(
            "/review/{job_hash}/reject", _audited("review.reject", reject, auth.review_detail)
        ),
    ]


def build(settings: ApiSettings, *, background: bool = True) -> web.Application:
    """The web app; with `background`, the scheduler runs beside it."""
    app = web.Application(middlewares=[metrics_middleware, errors_middleware, auth.auth_middleware])
    app[PLANE] = control_plane(settings)
    app.add_routes(_routes())
    console.setup(app)
    app.add_routes(console_ops.routes())
    app.cleanup_ctx.append(_lifecycle(background))
    return app


def control_plane(settings: ApiSettings) -> ControlPlane:
    """The use cases, wired to PostgreSQL and Kafka."""
    return ControlPlane(
        settings,
        Database(settings.database_url, max_size=5),
        Publisher(settings.bootstrap_servers),
        functools.partial(broker_reachable, settings.bootstrap_servers),
    )


def _lifecycle(background: bool) -> Callable[[web.Application], AsyncIterator[None]]:
    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        plane = app[PLANE]
        await plane.db.open()  # refuses an unmigrated database before serving anything
        scheduler = None
        if background and plane.settings.scheduler_enabled:
            from services.api.scheduler import Scheduler

            scheduler = Scheduler(plane)
            scheduler.start()
        yield
        if scheduler is not None:
            await scheduler.stop()
        await plane.close()

    return lifecycle

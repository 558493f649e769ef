"""The console's runs and feeds: a dashboard of runs with live progress, the run report,
trigger and replay, the feed list with health, and the feed editor with its mapping preview."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, cast
from urllib.parse import quote

import orjson
from aiohttp import web

from cli import replay as replays
from schemas.records import FINISHED_STATUSES
from schemas.report import REPORT_COUNTS, USAGE_COLUMNS, ExecutionReport
from services.api import handlers as h
from services.api.adapters import console_repository as jobs
from services.api.auth import PLANE, principal_of
from services.api.console import render, taxonomy
from services.api.errors import BadRequestError
from services.api.service import ControlPlane
from services.enricher.backends.base import EnrichmentBackend
from services.enricher.preview import EnrichedRecord, backend_for, preview
from services.ingestor.feeds import FeedInspection, MappingError, load_mapping
from services.shared.settings import SettingsError

log = logging.getLogger(__name__)

PREVIEW_RECORDS = 5


def _plane(request: web.Request) -> ControlPlane:
    return request.app[PLANE]


def routes() -> list[web.RouteDef]:
    return [
        web.get("/console/runs", runs_page),
        web.get("/console/runs/{run_id}", run_page),
        web.post("/console/runs/{run_id}/replay", replay),
        web.get("/console/feeds", feeds_page),
        web.get("/console/feeds/new", new_feed_page),
        web.post("/console/feeds/new", create_feed),
        web.get("/console/feeds/{feed_id}", feed_page),
        web.post("/console/feeds/{feed_id}", save_feed),
        web.post("/console/feeds/{feed_id}/trigger", trigger),
    ]


# --- runs ----------------------------------------------------------------------------------


async def runs_page(request: web.Request) -> web.Response:
    raw = request.query.get("feed") or None
    feed_id = None if raw is None else h.parse_id(raw, "feed")
    async with _plane(request).db.connection() as conn:
        runs = await jobs.recent_runs(conn, feed_id)
    return render(request, "runs.html", runs=runs, feed_id=feed_id, finished=FINISHED_STATUSES)


async def run_page(request: web.Request) -> web.Response:
    run_id = request.match_info["run_id"]
    if not 1 <= len(run_id) <= 64 or not run_id.isascii():
        raise BadRequestError("run_id must be a run's id")
    view = (await _plane(request).run_view(run_id)).as_json()  # as the API shows it
    async with _plane(request).db.connection() as conn:
        samples = await jobs.malformed_samples(conn, run_id)
    shown = view["report"]  # its error texts redacted
    report = ExecutionReport.from_row(shown) if isinstance(shown, Mapping) else None
    counts = [(label, value(report)) for label, value in REPORT_COUNTS] if report else []
    usage = [
        (stage, [value(used) for _, value in USAGE_COLUMNS])
        for stage, used in (report.llm_usage_by_stage.items() if report else ())
    ]
    return render(
        request, "run.html", run=view["run"], report=report, progress=view["progress"],
        counts=counts, stages=replays.Stage, samples=samples,
        usage=usage, usage_columns=[header for header, _ in USAGE_COLUMNS],
    )  # fmt: skip


async def replay(request: web.Request) -> web.Response:
    """Re-runs a past run's stage and what follows from its retained records, as a new run."""
    run_id = request.match_info["run_id"]
    form = await request.post()
    try:
        stage = replays.Stage(str(form.get("stage", "")))
    except ValueError as exc:
        raise BadRequestError("stage must be enrich or route") from exc
    refresh = form.get("refresh") == "on"
    plane = _plane(request)
    try:
        past = await replays.find_run(
            plane.settings.database_url.value, run_id=run_id, feed_id=None, since=None
        )
        dsn = plane.settings.database_url.value
        # a request cannot wait for a live run to end: the console says so and the admin retries
        new_run = await replays.replay(
            plane.settings.bootstrap_servers, dsn, past, stage, refresh=refresh, wait_s=0.0
        )
    except replays.ReplayError as exc:
        raise BadRequestError(str(exc)) from exc
    detail = {"stage": stage.value, "refresh": refresh, "new_run_id": new_run}
    await plane.audit(principal_of(request).username, "run.replay", f"run:{run_id}", detail)
    raise web.HTTPSeeOther(f"/console/runs/{quote(new_run, safe='')}")


async def trigger(request: web.Request) -> web.Response:
    feed_id = h.parse_id(request.match_info["feed_id"], "feed_id")
    plane = _plane(request)
    run_id = await plane.trigger(feed_id)
    await plane.audit(
        principal_of(request).username, "run.trigger", f"feed:{feed_id}", {"run_id": run_id}
    )
    raise web.HTTPSeeOther(f"/console/runs/{quote(run_id, safe='')}")


# --- feeds ---------------------------------------------------------------------------------


async def feeds_page(request: web.Request) -> web.Response:
    async with _plane(request).db.connection() as conn:
        feeds = await jobs.feeds_health(conn)
    return render(request, "feeds.html", feeds=feeds)


def _form_of(feed: dict[str, Any]) -> dict[str, Any]:
    """A stored feed as the editor shows it (the mapping as indented JSON)."""
    mapping = feed.get("mapping")
    text = orjson.dumps(mapping, option=orjson.OPT_INDENT_2).decode() if mapping else ""
    return {**feed, "mapping_text": text}


async def new_feed_page(request: web.Request) -> web.Response:
    blank = {"name": "", "source_url": "", "format": "auto", "is_active": True}
    return _editor(request, None, _form_of(blank))


async def feed_page(request: web.Request) -> web.Response:
    feed_id = h.parse_id(request.match_info["feed_id"], "feed_id")
    feed = await _plane(request).feed(feed_id)
    async with _plane(request).db.connection() as conn:
        runs = await jobs.recent_runs(conn, feed_id, limit=10)
    notice = "Saved." if request.query.get("saved") else None
    return _editor(request, feed_id, _form_of(feed.as_json()), runs=runs, notice=notice)


def _editor(
    request: web.Request,
    feed_id: int | None,
    form: dict[str, Any],
    *,
    status: int = 200,
    error: str | None = None,
    notice: str | None = None,
    inspection: FeedInspection | None = None,
    records: list[EnrichedRecord] | None = None,
    runs: list[jobs.RunSummary] | None = None,
) -> web.Response:
    return render(
        request, "feed.html", status=status, feed_id=feed_id, form=form, error=error,
        notice=notice, inspection=inspection, records=records, runs=runs or [],
        formats=h.FEED_FORMATS,
    )  # fmt: skip


def fields_from_form(form: Any) -> h.FeedFields:
    """The editor's form as the JSON API's feed body, checked by the same rules."""
    frequency = str(form.get("check_frequency_minutes", "")).strip()
    mapping_text = str(form.get("mapping", "")).strip()
    try:
        mapping = orjson.loads(mapping_text) if mapping_text else None
    except orjson.JSONDecodeError as exc:
        raise BadRequestError(f"the mapping is not valid JSON: {exc}") from exc
    if mapping is not None and not isinstance(mapping, dict):
        raise BadRequestError("the mapping must be a JSON object")
    try:
        load_mapping(mapping)  # the ingestor's own loader: what it refuses, the editor refuses
    except MappingError as exc:
        raise BadRequestError(f"the mapping is not valid: {exc}") from exc
    company = str(form.get("company_name", "")).strip()
    body: dict[str, Any] = {
        "name": str(form.get("name", "")),
        "source_url": str(form.get("source_url", "")),
        "format": str(form.get("format", "auto")),
        "company_name": company or None,
        "check_frequency_minutes": int(frequency) if frequency.isdigit() else None,
        "bypass_filters": form.get("bypass_filters") == "on",
        "is_active": form.get("is_active") == "on",
        "mapping": mapping,
    }
    if frequency and not frequency.isdigit():
        raise BadRequestError("check every (minutes) must be a whole number")
    return h.validate_feed(body, partial=False)


def _echo(form: Any) -> dict[str, Any]:
    """What was typed, shown again with the error or the preview."""
    keys = ("name", "source_url", "format", "company_name", "check_frequency_minutes")
    echo: dict[str, Any] = {k: str(form.get(k, "")) for k in keys}
    echo["bypass_filters"] = form.get("bypass_filters") == "on"
    echo["is_active"] = form.get("is_active") == "on"
    echo["mapping_text"] = str(form.get("mapping", ""))
    return echo


_BACKENDS: dict[int, EnrichmentBackend] = {}


def _backend(request: web.Request) -> EnrichmentBackend:
    """Built once per control plane: loading the taxonomy and profile takes a moment. A
    gemini preview books in the deployment's one requests/tokens budget (the plane's
    database), as the enricher replicas do."""
    plane = _plane(request)
    backend = _BACKENDS.get(id(plane))
    if backend is None:
        backend = _BACKENDS[id(plane)] = backend_for(plane.settings.preview, taxonomy(), plane.db)
    return backend


async def _preview(request: web.Request, feed_id: int | None, form: Any) -> web.Response:
    """The first records of the source as parsed with the edited mapping, and enriched."""
    echo = _echo(form)
    try:
        fields = fields_from_form(form)
        inspection, records = await preview(
            fields["source_url"], fields.get("mapping"), limit=PREVIEW_RECORDS,
            backend=_backend(request), taxonomy=taxonomy(),
            settings=_plane(request).settings.feed,
        )  # fmt: skip
    except (BadRequestError, MappingError, SettingsError, ValueError) as exc:
        message = exc.message if isinstance(exc, BadRequestError) else str(exc)
        return _editor(request, feed_id, echo, status=400, error=message)
    return _editor(request, feed_id, echo, inspection=inspection, records=records)


async def create_feed(request: web.Request) -> web.Response:
    form = await request.post()
    if form.get("action") == "preview":
        return await _preview(request, None, form)
    try:
        fields = fields_from_form(form)
    except BadRequestError as exc:
        return _editor(request, None, _echo(form), status=400, error=exc.message)
    feed = await _plane(request).create_feed(fields)
    await _plane(request).audit(
        principal_of(request).username, "feed.create", f"feed:{feed.id}",
        {"fields": sorted(fields)},
    )  # fmt: skip
    raise web.HTTPSeeOther(f"/console/feeds/{feed.id}?saved=1")


async def save_feed(request: web.Request) -> web.Response:
    feed_id = h.parse_id(request.match_info["feed_id"], "feed_id")
    form = await request.post()
    if form.get("action") == "preview":
        return await _preview(request, feed_id, form)
    try:
        fields = fields_from_form(form)
    except BadRequestError as exc:
        return _editor(request, feed_id, _echo(form), status=400, error=exc.message)
    before = (await _plane(request).feed(feed_id)).as_json()
    changed = sorted(k for k, v in fields.items() if before.get(k) != v)
    if changed:
        update = cast(h.FeedFields, {k: v for k, v in sorted(fields.items()) if k in changed})
        await _plane(request).update_feed(feed_id, update)
        await _plane(request).audit(
            principal_of(request).username, "feed.update", f"feed:{feed_id}",
            {"fields": changed},
        )  # fmt: skip
    raise web.HTTPSeeOther(f"/console/feeds/{feed_id}?saved=1")

"""The operator console: server-rendered pages for people, served by the API.

Every page works without JavaScript (plain links and forms); `static/console.js` adds the
keyboard shortcuts and decides queue rows in place.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import secrets
import time
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import aiohttp_jinja2
import jinja2
import nh3
import orjson
from aiohttp import web
from swagger_ui_bundle import swagger_ui_path

from schemas.records import Route
from schemas.taxonomy import Taxonomy, load_taxonomy
from services.api import handlers as h
from services.api.accounts import DUMMY_HASH, digest, new_token, verify_password
from services.api.adapters import accounts_repository as accounts
from services.api.adapters import console_repository as jobs
from services.api.auth import CSRF_FIELD, PLANE, PRINCIPAL, SESSION_COOKIE, principal_of
from services.api.errors import BadRequestError, NotFoundError
from services.api.service import ControlPlane

log = logging.getLogger(__name__)

TEMPLATES = Path(__file__).with_name("templates")
STATIC = Path(__file__).with_name("static")
LOGIN_CSRF_COOKIE = "jobstream_login_csrf"
SESSION_LIFETIME = timedelta(hours=12)
LOGIN_WINDOW = timedelta(minutes=15)
MAX_FAILURES_PER_NAME = 5
MAX_FAILURES_PER_ADDRESS = 50
PAGE_SIZE = 50
MAX_REASON = h.MAX_TEXT

# Confidence bands of the manual-review range, [low, high).
BANDS: dict[str, tuple[str, Decimal, Decimal]] = {
    "low": ("0.50–0.65", Decimal("0.50"), Decimal("0.65")),
    "mid": ("0.65–0.75", Decimal("0.65"), Decimal("0.75")),
    "high": ("0.75–0.87", Decimal("0.75"), Decimal("0.87")),
}
AGES: dict[str, tuple[str, timedelta | None, timedelta | None]] = {
    "1d": ("last 24 hours", timedelta(days=1), None),
    "7d": ("last 7 days", timedelta(days=7), None),
    "older": ("older than 7 days", None, timedelta(days=7)),
}


def is_page_route(path: str) -> bool:
    """The console's pages and static files: for browsers, outside the JSON API's contract."""
    return path == "/" or path.startswith(("/console", "/login", "/logout", "/static", "/docs/"))


def _plane(request: web.Request) -> ControlPlane:
    return request.app[PLANE]


def setup(app: web.Application) -> None:
    aiohttp_jinja2.setup(
        app,
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=jinja2.select_autoescape(default=True, default_for_string=True),
        context_processors=[_context],
        filters={"segment": lambda value: quote(str(value), safe="")},
    )
    app.on_response_prepare.append(_security_headers)
    app.router.add_static("/static/", STATIC)
    app.router.add_static("/docs/static/", Path(str(swagger_ui_path)))
    app.add_routes(
        [
            web.get("/", home),
            web.get("/login", login_form),
            web.post("/login", login),
            web.post("/logout", logout),
            web.get("/console/review", queue),
            web.post("/console/review/decide", decide),
            web.get("/console/jobs/{job_hash}", job_page),
            web.post("/console/jobs/{job_hash}/takedown", take_down),
            web.post("/console/jobs/{job_hash}/restore", restore),
            web.get("/console/audit", audit_page),
        ]
    )


# Pages use only the project's own script and stylesheet: a posting's HTML that slipped past
# the sanitiser still could not run a script, load anything or frame the console.
CONSOLE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


async def _security_headers(request: web.Request, response: web.StreamResponse) -> None:
    if request.path == "/" or request.path.startswith(("/console", "/login", "/logout")):
        response.headers["Content-Security-Policy"] = CONSOLE_CSP
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "same-origin"
        response.headers.setdefault("Cache-Control", "no-store")


async def _context(request: web.Request) -> dict[str, Any]:
    user = request.get(PRINCIPAL)
    return {"user": user, "csrf": user.csrf_token if user else None, "path": request.path}


def render(request: web.Request, template: str, status: int = 200, **context: Any) -> web.Response:
    return aiohttp_jinja2.render_template(template, request, context, status=status)


def error_page(request: web.Request, status: int, message: str) -> web.Response:
    if "application/json" in request.headers.get("Accept", ""):
        code = "error" if status >= 500 else "refused"
        return web.json_response({"error": code, "message": message}, status=status)
    return render(request, "error.html", status=status, status_code=status, message=message)


def safe_next(target: str | None, default: str = "/console/review") -> str:
    """Only our own pages are followed after a login or a decision (no open redirect)."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return default


# --- login ---------------------------------------------------------------------------------


async def home(request: web.Request) -> web.Response:
    raise web.HTTPSeeOther("/console/review")


async def login_form(request: web.Request) -> web.Response:
    return login_page(request, None, 200)


def login_page(request: web.Request, error: str | None, status: int) -> web.Response:
    token = request.cookies.get(LOGIN_CSRF_COOKIE) or secrets.token_urlsafe(24)
    response = render(
        request, "login.html", status=status, login_csrf=token, error=error,
        next=safe_next(request.query.get("next")),
    )  # fmt: skip
    response.set_cookie(
        LOGIN_CSRF_COOKIE, token, httponly=True, samesite="Lax", secure=request.secure,
        path="/login",
    )  # fmt: skip
    return response


async def login(request: web.Request) -> web.Response:
    form = await request.post()
    given = str(form.get(CSRF_FIELD, ""))
    expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not given or not expected or not secrets.compare_digest(given, expected):
        return error_page(request, 403, "the login form's CSRF token is missing or wrong")
    username = str(form.get("username", "")).strip()[:64]
    password = str(form.get("password", ""))
    address = request.remote or "unknown"
    async with _plane(request).db.connection() as conn:
        by_name, by_address = await accounts.recent_failures(conn, username, address, LOGIN_WINDOW)
        if by_name >= MAX_FAILURES_PER_NAME or by_address >= MAX_FAILURES_PER_ADDRESS:
            log.warning("login of %r from %s refused: too many failures", username, address)
            return login_page(request, "Too many failed logins. Wait 15 minutes.", 429)
        user = await accounts.user_for_login(conn, username)
        stored = user[1] if user else DUMMY_HASH
        valid = await asyncio.to_thread(verify_password, stored, password)
        if user is None or not valid or not user[3]:
            await accounts.record_login_failure(conn, username, address)
            log.info("failed login of %r from %s", username, address)
            return login_page(request, "Wrong username or password.", 401)
        await accounts.prune(conn, LOGIN_WINDOW)
        session_id = new_token()
        await accounts.create_session(
            conn, digest(session_id), user[0], secrets.token_urlsafe(32), SESSION_LIFETIME
        )
    log.info("%s logged in from %s", username, address)
    response = web.HTTPSeeOther(safe_next(str(form.get("next", ""))))
    response.set_cookie(
        SESSION_COOKIE, session_id, httponly=True, samesite="Lax", secure=request.secure,
        max_age=int(SESSION_LIFETIME.total_seconds()), path="/",
    )  # fmt: skip
    raise response


async def logout(request: web.Request) -> web.Response:
    session_id = request.cookies.get(SESSION_COOKIE)
    if session_id:
        async with _plane(request).db.connection() as conn:
            await accounts.delete_session(conn, digest(session_id))
    response = web.HTTPSeeOther("/login")
    response.del_cookie(SESSION_COOKIE, path="/")
    raise response


# --- review queue --------------------------------------------------------------------------


def _optional_id(query: Any, name: str) -> int | None:
    raw = query.get(name) or None
    return None if raw is None else h.parse_id(raw, name)


def queue_filter(query: Any) -> jobs.QueueFilter:
    band = BANDS.get(query.get("band", ""))
    age = AGES.get(query.get("age", ""))
    sort: jobs.Sort = "date" if query.get("sort") == "date" else "confidence"
    if query.get("sort") not in (None, "", "confidence", "date"):
        raise BadRequestError("sort must be confidence or date")
    return jobs.QueueFilter(
        feed_id=_optional_id(query, "feed"),
        sector_id=_optional_id(query, "sector"),
        job_function_id=_optional_id(query, "function"),
        min_confidence=band[1] if band else None,
        max_confidence=band[2] if band else None,
        newer_than=age[1] if age else None,
        older_than=age[2] if age else None,
        sort=sort,
    )


def encode_cursor(cursor: jobs.Cursor) -> str:
    key = cursor.key.isoformat() if isinstance(cursor.key, datetime) else str(cursor.key)
    return base64.urlsafe_b64encode(orjson.dumps([key, cursor.job_hash])).decode()


def decode_cursor(raw: str | None, sort: str) -> jobs.Cursor | None:
    if not raw:
        return None
    try:
        key, job_hash = orjson.loads(base64.urlsafe_b64decode(raw.encode()))
        value: Decimal | datetime = (
            datetime.fromisoformat(key) if sort == "date" else Decimal(str(key))
        )
        if not isinstance(job_hash, str):
            raise ValueError(job_hash)
    except (ValueError, TypeError, InvalidOperation, orjson.JSONDecodeError) as exc:
        raise BadRequestError("the page cursor 'after' is not valid") from exc
    return jobs.Cursor(value, job_hash)


def reasons_of(confidence_reasoning: str | None) -> list[str]:
    text = confidence_reasoning or ""
    return [part.strip() for part in text.split(";") if part.strip()]


def locations_of(location_string: str | None, locations: list[Any] | None) -> str:
    if location_string:
        return location_string
    names = []
    for place in locations or []:
        if isinstance(place, dict):
            parts = [place.get(k) for k in ("city", "state", "country")]
            names.append(", ".join(str(p) for p in parts if p))
    return "; ".join(n for n in names if n) or "—"


def _shown(row: jobs.QueueRow) -> dict[str, Any]:
    """A queue row as the page lists it: its reasons apart, its places on one line."""
    where = locations_of(row.location_string, row.locations)
    return row.as_json() | {"reasons": reasons_of(row.confidence_reasoning), "where": where}


async def queue(request: web.Request) -> web.Response:
    query = request.query
    f = queue_filter(query)
    cursor = decode_cursor(query.get("after"), f.sort)
    async with _plane(request).db.connection() as conn:
        rows, next_cursor = await jobs.queue_page(conn, f, cursor, PAGE_SIZE)
        total = await jobs.queue_count(conn, f)
        facets = await _facets(conn)
        feeds = await jobs.feed_names(conn)
    chosen = f.job_function_id
    if chosen is not None and all(i != chosen for i, _ in facets["functions"]):
        found = taxonomy().job_function(chosen)  # the filter in force is always in its menu
        facets = {**facets, "functions": [(chosen, found.name if found else str(chosen)),
                                          *facets["functions"]]}  # fmt: skip
    kept = {k: v for k, v in query.items() if k != "after" and v}
    return render(
        request, "queue.html",
        rows=[_shown(row) for row in rows],
        total=total, query=kept, feeds=feeds, facets=facets, bands=BANDS, ages=AGES,
        next_url=(f"?{urlencode({**kept, 'after': encode_cursor(next_cursor)})}"
                  if next_cursor else None),
        first_url=f"?{urlencode(kept)}" if cursor else None,
        here=request.path_qs,
    )  # fmt: skip


_FUNCTIONS: dict[str, Any] = {}
FUNCTIONS_TTL_S = 30.0


async def _facets(conn: Any) -> dict[str, list[tuple[int, str]]]:
    """The filter menus: every sector of the taxonomy, and the job functions present in the
    queue, recomputed at most every 30 s (a menu seconds stale costs nothing; a scan of the
    queue on every page view would)."""
    names = taxonomy()
    now = time.monotonic()
    if _FUNCTIONS.get("at", -FUNCTIONS_TTL_S) + FUNCTIONS_TTL_S < now:
        ids = await jobs.queue_functions(conn)
        present = [(i, f.name if (f := names.job_function(i)) else str(i)) for i in ids]
        _FUNCTIONS.update(at=now, value=sorted(present, key=_by_name))
    sectors = sorted(((s.id, s.name) for s in names.sectors.values()), key=_by_name)
    return {"sectors": sectors, "functions": _FUNCTIONS["value"]}


def _by_name(item: tuple[int, str]) -> str:
    return item[1]


def _wants_json(request: web.Request) -> bool:
    return "application/json" in request.headers.get("Accept", "")


def _reason(form: Any, required: bool) -> str | None:
    reason = str(form.get("reason", "")).strip()
    if not reason:
        if required:
            raise BadRequestError("a rejection needs a reason")
        return None
    if len(reason) > MAX_REASON or "\x00" in reason:
        raise BadRequestError(f"a reason is at most {MAX_REASON} characters")
    return reason


async def decide(request: web.Request) -> web.Response:
    """Approve or reject one job or a selection; approvals reach Xano at once."""
    form = await request.post()
    decision = str(form.get("decision", ""))
    if decision not in ("approve", "reject"):
        raise BadRequestError("decision must be approve or reject")
    hashes = [h.check_job_hash(str(v)) for v in form.getall("job_hash", [])]
    if not hashes:
        raise BadRequestError("select at least one job")
    reason = _reason(form, required=decision == "reject")
    user = principal_of(request).username
    plane = _plane(request)
    decided, missing = [], []
    for job_hash in hashes:
        review = h.ReviewDecision(user, reason)
        try:
            if decision == "approve":
                await plane.approve(job_hash, review)
            else:
                await plane.reject(job_hash, review)
        except NotFoundError:
            missing.append(job_hash)
            continue
        await plane.audit(user, f"review.{decision}", f"job:{job_hash}", _detail(reason))
        decided.append(job_hash)
    if _wants_json(request):
        return web.json_response({"decided": decided, "missing": missing})
    raise web.HTTPSeeOther(safe_next(str(form.get("next", ""))))


def _detail(reason: str | None) -> dict[str, Any]:
    return {"reason": reason} if reason else {}


# --- one job -------------------------------------------------------------------------------

_TAXONOMY: list[Taxonomy] = []


def taxonomy() -> Taxonomy:
    if not _TAXONOMY:
        _TAXONOMY.append(load_taxonomy())
    return _TAXONOMY[0]


def sanitise(html: str) -> str:
    """The partner's HTML, cleaned by an allow-list (ammonia): no script, style or handlers."""
    return nh3.clean(html, link_rel="noopener noreferrer nofollow")


async def job_page(request: web.Request) -> web.Response:
    job_hash = h.check_job_hash(request.match_info["job_hash"])
    async with _plane(request).db.connection() as conn:
        found = await jobs.find_job(conn, job_hash)
        if found is None:
            raise NotFoundError(f"no job {job_hash}")
        route, job = found
        history = await jobs.job_history(conn, job_hash, job.feed_id)
        audit = await accounts.audit_page(conn, limit=50, before_id=None, target=f"job:{job_hash}")
        neighbours = (
            await jobs.neighbours(conn, job_hash, job.feed_id, job.ai_confidence_score)
            if route is Route.MANUAL_REVIEW
            else (None, None)
        )
    function = taxonomy().job_function(job.job_function_id)
    return render(
        request, "job.html",
        job=job, route=route.value, reasons=reasons_of(job.confidence_reasoning),
        where=locations_of(job.location_string, job.locations),
        description=sanitise(job.description),
        soc_code=function.code if function else None,
        history=history, audit=audit, previous=neighbours[0], next=neighbours[1],
    )  # fmt: skip


async def take_down(request: web.Request) -> web.Response:
    job_hash = h.check_job_hash(request.match_info["job_hash"])
    form = await request.post()
    reason = _reason(form, required=True)
    assert reason is not None
    user = principal_of(request).username
    await _plane(request).take_down(job_hash, reason, user)
    await _plane(request).audit(user, "job.take_down", f"job:{job_hash}", _detail(reason))
    raise web.HTTPSeeOther(f"/console/jobs/{quote(job_hash, safe='')}")


async def restore(request: web.Request) -> web.Response:
    job_hash = h.check_job_hash(request.match_info["job_hash"])
    user = principal_of(request).username
    await _plane(request).restore(job_hash, user)
    await _plane(request).audit(user, "job.restore", f"job:{job_hash}", {})
    raise web.HTTPSeeOther(f"/console/jobs/{quote(job_hash, safe='')}")


# --- audit ---------------------------------------------------------------------------------


async def audit_page(request: web.Request) -> web.Response:
    before = _optional_id(request.query, "before")
    async with _plane(request).db.connection() as conn:
        entries = await accounts.audit_page(conn, limit=PAGE_SIZE, before_id=before)
    older = entries[-1].id if len(entries) == PAGE_SIZE else None
    return render(request, "audit.html", entries=entries, older=older)

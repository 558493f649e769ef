"""Who is asking, and may they: bearer tokens, browser sessions, roles, CSRF and the audit.

Every route needs an account except the open ones below. A request with an
`Authorization` header is judged by it alone: the shared `API_TOKEN` is the script admin,
any other token is looked up (by digest) among the users' tokens. Without the header, the
session cookie names a browser session, and every change it makes must carry the session's
CSRF token (form field `csrf_token` or header `X-CSRF-Token`).
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

import orjson
from aiohttp import web

from services.api import handlers as h
from services.api.accounts import SCRIPT_USER, Principal, Role, digest
from services.api.adapters import accounts_repository as accounts
from services.api.errors import ForbiddenError, UnauthorizedError
from services.api.service import ControlPlane

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
PLANE = web.AppKey("plane", ControlPlane)
PRINCIPAL = web.RequestKey("principal", Principal)
SESSION_COOKIE = "jobstream_session"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
OPEN_PATHS = frozenset({"/healthz", "/readyz", "/metrics", "/openapi.json", "/docs", "/login"})
OPEN_PREFIXES = ("/static/", "/docs/")

# Changes a role below admin may make; every other change needs an admin, every read a viewer.
ROLE_FOR_CHANGE: dict[str, Role] = {
    "/review/{job_hash}/approve": "reviewer",
    "/review/{job_hash}/reject": "reviewer",
    "/console/review/decide": "reviewer",
    "/console/jobs/{job_hash}/decide": "reviewer",
    "/logout": "viewer",
}


def is_open(request: web.Request) -> bool:
    return request.path in OPEN_PATHS or request.path.startswith(OPEN_PREFIXES)


def is_console(request: web.Request) -> bool:
    """Pages for people: answered with HTML and a redirect to the login page."""
    return request.path == "/" or request.path.startswith(("/console", "/login", "/logout"))


def principal_of(request: web.Request) -> Principal:
    if PRINCIPAL not in request:
        raise UnauthorizedError("this endpoint needs an account")
    return request[PRINCIPAL]


async def authenticate(request: web.Request, plane: ControlPlane) -> Principal | None:
    header = request.headers.get("Authorization")
    if header is not None:
        return await _bearer(header, plane)
    session_id = request.cookies.get(SESSION_COOKIE)
    if not session_id:
        return None
    async with plane.db.connection() as conn:
        return await accounts.principal_by_session(conn, digest(session_id))


async def _bearer(header: str, plane: ControlPlane) -> Principal:
    scheme, _, given = header.partition(" ")
    given = given.strip()
    if scheme.lower() != "bearer" or not given:
        raise UnauthorizedError("this endpoint needs 'Authorization: Bearer <token>'")
    try:
        h.check_token(header, plane.settings.token)  # the shared API_TOKEN: the script admin
        return Principal(SCRIPT_USER, "admin")
    except UnauthorizedError:
        pass  # perhaps a user's token
    async with plane.db.connection() as conn:
        principal = await accounts.principal_by_token(conn, digest(given))
    if principal is None:
        raise UnauthorizedError("the bearer token is not valid")
    return principal


def required_role(request: web.Request) -> Role:
    if request.method in SAFE_METHODS:
        return "viewer"
    resource = request.match_info.route.resource
    canonical = resource.canonical if resource is not None else request.path
    return ROLE_FOR_CHANGE.get(canonical, "admin")


async def check_csrf(request: web.Request, principal: Principal) -> None:
    """A session's change must prove it came from our page: its token, compared in constant time."""
    given = request.headers.get(CSRF_HEADER)
    if given is None and request.content_type in (
        "application/x-www-form-urlencoded",
        "multipart/form-data",
    ):
        form = await request.post()
        value = form.get(CSRF_FIELD)
        given = value if isinstance(value, str) else None
    expected = principal.csrf_token or ""
    if not given or not hmac.compare_digest(given.encode(), expected.encode()):
        raise ForbiddenError("the form's CSRF token is missing or wrong; reload the page")


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    if is_open(request):
        return await handler(request)
    principal = await authenticate(request, request.app[PLANE])
    if principal is None:
        if is_console(request) and request.method in SAFE_METHODS:
            raise web.HTTPSeeOther(f"/login?next={quote(request.path_qs, safe='')}")
        raise UnauthorizedError(
            "this endpoint needs an account: 'Authorization: Bearer <token>' or a console login"
        )
    needed = required_role(request)
    if not principal.can(needed):
        raise ForbiddenError(
            f"this needs the {needed} role; {principal.username} is a {principal.role}"
        )
    if principal.is_session and request.method not in SAFE_METHODS:
        await check_csrf(request, principal)
    request[PRINCIPAL] = principal
    return await handler(request)


# --- audit of the JSON API's changes -------------------------------------------------------

Detail = Callable[[Any, Any], dict[str, Any]]


def _target(request: web.Request, answer: Any) -> str:
    info = request.match_info
    if "job_hash" in info:
        return f"job:{info['job_hash']}"
    if "feed_id" in info:
        return f"feed:{info['feed_id']}"
    if "run_id" in info:
        return f"run:{info['run_id']}"
    if isinstance(answer, dict) and "id" in answer:
        return f"feed:{answer['id']}"
    return request.path


def audited(action: str, handler: Handler, detail: Detail) -> Handler:
    """Writes who did `action` to what, after the handler succeeded."""

    async def wrapped(request: web.Request) -> web.StreamResponse:
        response = await handler(request)
        if response.status < 300 and isinstance(response, web.Response):
            raw = await request.read()
            body = orjson.loads(raw) if raw else None
            answer = orjson.loads(response.body) if isinstance(response.body, bytes) else None
            await request.app[PLANE].audit(
                principal_of(request).username,
                action,
                _target(request, answer),
                detail(body, answer),
            )
        return response

    return wrapped


def review_detail(body: Any, answer: Any) -> dict[str, Any]:
    given = body if isinstance(body, dict) else {}
    return {k: given[k] for k in ("reviewer", "reason") if k in given}


def feed_detail(body: Any, answer: Any) -> dict[str, Any]:
    """Which fields changed, not their values: a source URL may carry credentials."""
    return {"fields": sorted(body)} if isinstance(body, dict) else {}


def run_detail(body: Any, answer: Any) -> dict[str, Any]:
    return {"run_id": answer.get("run_id")} if isinstance(answer, dict) else {}

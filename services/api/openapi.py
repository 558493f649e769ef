"""The OpenAPI 3.0 document of the API, and the small offline page that lists its routes."""

from __future__ import annotations

from typing import Any

from services.api.handlers import FEED_FORMATS, MAX_FREQUENCY_MINUTES, MAX_ID, MAX_PAGE, MAX_TEXT

JSON = "application/json"
_ERROR_REF = {"$ref": "#/components/schemas/Error"}
# What Python's str.strip() removes: a text must keep something once stripped, and no NUL.
_SPACE = (
    "\\t\\n\\x0b\\x0c\\r\\x1c-\\x1f \\x85\\xa0\\u1680\\u2000-\\u200a"
    "\\u2028\\u2029\\u202f\\u205f\\u3000"
)
_TEXT = {
    "type": "string",
    "minLength": 1,
    "maxLength": MAX_TEXT,
    "pattern": f"^[^\\x00]*[^\\x00{_SPACE}][^\\x00]*$",
}
_NULLABLE_TEXT = {**_TEXT, "nullable": True}


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {JSON: {"schema": _ERROR_REF}}}


def _ok(description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    body = schema or {"type": "object"}
    return {"description": description, "content": {JSON: {"schema": body}}}


def _path_param(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "schema": schema,
        "description": description,
    }


_ID = {"type": "integer", "minimum": 1, "maximum": MAX_ID}
FEED_ID = _path_param("feed_id", _ID, "the feed's id")
JOB_HASH = _path_param(
    "job_hash",
    {"type": "string", "minLength": 1, "maxLength": 128, "pattern": "^[\\x20-\\x7e]+$"},
    "the job's content hash (printable ASCII)",
)
RUN_ID = _path_param("run_id", {"type": "string", "minLength": 1}, "the run's id (a UUID)")
PAGING = [
    {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1,
                                                "maximum": MAX_PAGE}},
    {"name": "offset", "in": "query", "schema": {"type": "integer", "minimum": 0,
                                                 "maximum": MAX_ID}},
]  # fmt: skip
FEED_FILTER = {"name": "feed_id", "in": "query", "schema": _ID}


def _feed_properties() -> dict[str, Any]:
    return {
        "name": _TEXT,
        "source_url": {
            **_TEXT,
            "pattern": f"^[{_SPACE}]*(https?://|file://|/)[^\\x00]*$",
            "description": "http(s):// or file:// URL, or an absolute path",
        },
        "format": {"type": "string", "enum": list(FEED_FORMATS)},
        "mapping": {"type": "object", "nullable": True, "description": "the ingestor's mapping"},
        "company_name": _NULLABLE_TEXT,
        "partner_id": {"type": "integer", "minimum": 0, "maximum": MAX_ID, "nullable": True},
        "bypass_filters": {"type": "boolean"},
        "is_active": {"type": "boolean"},
        "check_frequency_minutes": {
            "type": "integer",
            "minimum": 1,
            "maximum": MAX_FREQUENCY_MINUTES,
            "nullable": True,
        },
    }


def _components() -> dict[str, Any]:
    props = _feed_properties()
    return {
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        "schemas": {
            "Error": {
                "type": "object",
                "required": ["error", "message"],
                "properties": {"error": {"type": "string"}, "message": {"type": "string"}},
            },
            "FeedCreate": {
                "type": "object",
                "required": ["name", "source_url"],
                "properties": props,
                "additionalProperties": False,
            },
            "FeedUpdate": {
                "type": "object",
                "minProperties": 1,
                "properties": props,
                "additionalProperties": False,
            },
            "Feed": {"type": "object", "required": ["id", "name", "source_url"]},
            "Approve": {
                "type": "object",
                "required": ["reviewer"],
                "properties": {"reviewer": _TEXT},
                "additionalProperties": False,
            },
            "Reject": {
                "type": "object",
                "required": ["reviewer", "reason"],
                "properties": {"reviewer": _TEXT, "reason": _TEXT},
                "additionalProperties": False,
            },
            "RunAction": {
                "type": "object",
                "properties": {"by": _TEXT, "reason": _TEXT},
                "additionalProperties": False,
            },
            "Triggered": {
                "type": "object",
                "required": ["run_id", "feed_id"],
                "properties": {"run_id": {"type": "string"}, "feed_id": {"type": "integer"}},
            },
        },
    }


def _body(schema_name: str) -> dict[str, Any]:
    ref = {"$ref": f"#/components/schemas/{schema_name}"}
    return {"required": True, "content": {JSON: {"schema": ref}}}


def _optional_body(schema_name: str) -> dict[str, Any]:
    return {**_body(schema_name), "required": False}


_SECURED: list[dict[str, list[str]]] = [{"bearer": []}]
_AUTH_ERRORS = {
    "400": _error("bad input"),
    "401": _error("missing or wrong bearer token"),
    "403": _error("the account's role may not do this"),
}
_READ_ERRORS = {"401": _error("no account: a bearer token or a console session is needed")}


def _op(summary: str, responses: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"summary": summary, "responses": responses, **extra}


def _read(summary: str, responses: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """A read of feeds, jobs or runs: any account (viewer and up)."""
    return _op(summary, {**responses, **_READ_ERRORS}, security=_SECURED, **extra)


def _mutation(summary: str, responses: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return _op(summary, {**responses, **_AUTH_ERRORS}, security=_SECURED, **extra)


def _paths() -> dict[str, Any]:
    feed_ref = {"$ref": "#/components/schemas/Feed"}
    not_found = _error("unknown id")
    return {
        "/healthz": {"get": _op("the process is up", {"200": _ok("alive")})},
        "/readyz": {"get": _op("broker and database reachable", {
            "200": _ok("ready"), "503": _ok("not ready")})},
        "/metrics": {"get": _op("Prometheus metrics", {"200": {
            "description": "text exposition format",
            "content": {"text/plain": {"schema": {"type": "string"}}}}})},
        "/openapi.json": {"get": _op("this document", {"200": _ok("the document")})},
        "/docs": {"get": _op("this document in Swagger UI", {"200": {
            "description": "HTML", "content": {"text/html": {"schema": {"type": "string"}}}}})},
        "/trigger-feed/{feed_id}": {"post": _mutation(
            "request a run of the feed",
            {"202": _ok("requested", {"$ref": "#/components/schemas/Triggered"}),
             "404": not_found, "409": _error("the feed has a run in progress")},
            parameters=[FEED_ID])},
        "/execution-status/{feed_id}": {"get": _read(
            "the feed's last run: its report, with live per-stage progress while it runs",
            {"200": _ok("the last run"), "400": _error("bad id"),
             "404": _error("unknown feed, or no run yet")},
            parameters=[FEED_ID])},
        "/runs/{run_id}": {"get": _read(
            "one run: ledger row, report and progress",
            {"200": _ok("the run"), "404": not_found}, parameters=[RUN_ID])},
        "/runs/{run_id}/confirm-archive": {"post": _mutation(
            "apply the run's held archive (the router moves the jobs, the syncer reconciles)",
            {"202": _ok("requested"), "404": not_found,
             "409": _error("no archive held, or the feed has a run in progress")},
            parameters=[RUN_ID], requestBody=_optional_body("RunAction"))},
        "/runs/{run_id}/discard-archive": {"post": _mutation(
            "drop the run's held archive: the jobs stay",
            {"202": _ok("requested"), "404": not_found, "409": _error("no archive held")},
            parameters=[RUN_ID], requestBody=_optional_body("RunAction"))},
        "/runs/{run_id}/fail": {"post": _mutation(
            "close a run that cannot complete as a FAILURE, with the reason",
            {"202": _ok("requested"), "404": not_found, "409": _error("not in progress")},
            parameters=[RUN_ID], requestBody=_optional_body("RunAction"))},
        "/feeds": {
            "get": _read("list feeds", {"200": _ok("a page of feeds"), "400": _error("bad paging")},
                       parameters=PAGING),
            "post": _mutation("register a feed", {"201": _ok("created", feed_ref)},
                              requestBody=_body("FeedCreate")),
        },
        "/feeds/{feed_id}": {
            "get": _read("one feed", {"200": _ok("the feed", feed_ref), "400": _error("bad id"),
                                    "404": not_found}, parameters=[FEED_ID]),
            "patch": _mutation("update a feed", {"200": _ok("updated", feed_ref),
                                                 "404": not_found},
                               parameters=[FEED_ID], requestBody=_body("FeedUpdate")),
            "delete": _mutation("deactivate a feed (its history stays)",
                                {"200": _ok("deactivated", feed_ref), "404": not_found},
                                parameters=[FEED_ID]),
        },
        "/review": {"get": _read("the manual review queue, oldest first",
                               {"200": _ok("a page of the queue"), "400": _error("bad query")},
                               parameters=[*PAGING, FEED_FILTER])},
        "/review/{job_hash}/approve": {"post": _mutation(
            "approve: the job moves to open_jobs and is pushed to Xano at once",
            {"200": _ok("approved"), "404": _error("not in the queue")},
            parameters=[JOB_HASH], requestBody=_body("Approve"))},
        "/review/{job_hash}/reject": {"post": _mutation(
            "reject: the job moves to rejected_jobs with the reviewer's reason",
            {"200": _ok("rejected"), "404": _error("not in the queue")},
            parameters=[JOB_HASH], requestBody=_body("Reject"))},
    }  # fmt: skip


def document() -> dict[str, Any]:
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "jobstream control plane",
            "version": "1.0.0",
            "description": "Feeds, runs and the manual review queue. Every route but the "
            "health, metrics and documentation ones needs an account: "
            "'Authorization: Bearer <token>' with the API_TOKEN (admin, for scripts) or a "
            "user's token (`jobstream users token NAME`). Reviews need the reviewer role, other "
            "changes the admin role. Errors are JSON {error, message}.",
        },
        "paths": _paths(),
        "components": _components(),
    }


def docs_page() -> str:
    """Swagger UI over /openapi.json, its assets served by the API itself (no CDN)."""
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<title>jobstream API</title>"
        "<link rel='stylesheet' href='/docs/static/swagger-ui.css'></head>"
        "<body><div id='swagger-ui'></div>"
        "<script src='/docs/static/swagger-ui-bundle.js'></script>"
        "<script src='/static/docs.js'></script></body></html>"
    )

"""The Gemini API emulator's aiohttp app: generateContent plus admin endpoints for tests."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Protocol

import orjson
from aiohttp import web

from emulators.gemini.answers import BackendAnswerer, Item, apply_item_fault, apply_overrides
from emulators.gemini.batches import BatchService, create_batch, routes
from emulators.gemini.caches import (
    DEFAULT_MIN_TOKENS,
    CachedContent,
    CacheNotFoundError,
    CacheStore,
)
from emulators.gemini.faults import (
    REFUSAL_FAULTS,
    REQUEST_FAULTS,
    Fault,
    FaultBook,
    FaultKind,
    FaultSpecError,
)
from emulators.gemini.wire import (
    BadRequestError,
    GenerateRequest,
    Usage,
    answer_body,
    blocked_prompt_body,
    daily_quota_details,
    error_body,
    estimate_tokens,
    parse_request,
    proxy_error_page,
    retry_info,
    stopped_body,
)
from schemas.profile import load_profile
from schemas.taxonomy import load_taxonomy
from services.enricher.backends.base import EnrichmentBackend
from services.enricher.backends.offline.backend import OfflineBackend

log = logging.getLogger(__name__)

REQUEST_LOG_SIZE = 1000
TOKEN_LIMIT = 1_048_576


class Answerer(Protocol):
    async def items(self, request: GenerateRequest) -> list[Item]: ...


@dataclass(slots=True)
class EmulatorState:
    """Everything the admin endpoints show or reset."""

    faults: FaultBook = field(default_factory=FaultBook)
    counters: Counter[str] = field(default_factory=Counter)
    seen_systems: set[str] = field(default_factory=set)
    requests: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=REQUEST_LOG_SIZE))
    caches: CacheStore = field(default_factory=CacheStore)

    def reset(self) -> None:
        self.faults.clear()
        self.counters.clear()
        self.seen_systems.clear()
        self.requests.clear()
        self.caches.caches.clear()


STATE_KEY = web.AppKey("gemini_state", EmulatorState)
ANSWERER_KEY = web.AppKey("gemini_answerer", Answerer)
API_KEY_KEY = web.AppKey("gemini_api_key", str)
BATCHES_KEY = web.AppKey("gemini_batches", BatchService)


def create_app(
    backend: EnrichmentBackend | None = None,
    *,
    answerer: Answerer | None = None,
    api_key: str = "",
    cache_min_tokens: int = DEFAULT_MIN_TOKENS,
    batch_latency_s: float = 0.0,
) -> web.Application:
    """The emulator; answers come from `backend` (default: the offline backend).

    A non-empty `api_key` makes the emulator refuse requests carrying another key;
    `cache_min_tokens` is the smallest explicit context cache it creates; a batch
    (`batches.py`) waits `batch_latency_s` before it runs.
    """
    app = web.Application(client_max_size=64 * 1024 * 1024)
    app[STATE_KEY] = EmulatorState(caches=CacheStore(min_tokens=cache_min_tokens))
    app[ANSWERER_KEY] = answerer or BackendAnswerer(backend or offline_backend())
    app[API_KEY_KEY] = api_key
    app[BATCHES_KEY] = BatchService(partial(_line_answer, app), latency_s=batch_latency_s)
    app.router.add_routes(routes(lambda request: request.app[BATCHES_KEY]))
    app.router.add_post("/{version}/models/{model_action}", generate)
    app.router.add_post("/{version}/cachedContents", create_cache)
    app.router.add_get("/{version}/cachedContents", list_caches)
    app.router.add_get("/{version}/cachedContents/{cache_id}", get_cache)
    app.router.add_patch("/{version}/cachedContents/{cache_id}", update_cache)
    app.router.add_delete("/{version}/cachedContents/{cache_id}", delete_cache)
    app.router.add_delete("/__admin/caches", evict_caches)
    app.router.add_post("/__admin/faults", arm_faults)
    app.router.add_delete("/__admin/faults", clear_faults)
    app.router.add_get("/__admin/faults", list_faults)
    app.router.add_get("/__admin/counters", counters)
    app.router.add_get("/__admin/requests", requests_log)
    app.router.add_post("/__admin/reset", reset)
    app.router.add_get("/healthz", health)
    return app


def offline_backend(
    taxonomy_source: str | None = None, profile_path: str | None = None
) -> EnrichmentBackend:
    """The offline backend the emulator answers with by default (bundled data unless told)."""
    return OfflineBackend(load_taxonomy(taxonomy_source), load_profile(profile_path))


def _json(payload: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(payload), status=status, content_type="application/json")


def _error(code: int, status: str, message: str, **extra: Any) -> web.Response:
    body = error_body(code, status, message, extra.get("details"))
    return web.Response(
        body=body, status=code, content_type="application/json", headers=extra.get("headers")
    )


async def generate(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    model, _, action = request.match_info["model_action"].partition(":")
    if action not in ("generateContent", "batchGenerateContent"):
        return _error(404, "NOT_FOUND", f"the emulator does not implement {action!r}")
    if (refused := _refuse_key(request)) is not None:
        return refused
    if action == "batchGenerateContent":
        return await create_batch(request.app[BATCHES_KEY], model, request)
    try:
        body = orjson.loads(await request.read())
        cache = _cache_of(state.caches, body, model)
        if cache is not None:  # the system prompt comes from the cache, as on the service
            body = {**body, "systemInstruction": cache.system}
        parsed = parse_request(body)
    except CacheNotFoundError as exc:
        state.counters["status_403"] += 1
        return _error(403, "PERMISSION_DENIED", str(exc))
    except (BadRequestError, orjson.JSONDecodeError) as exc:
        state.counters["status_400"] += 1
        return _error(400, "INVALID_ARGUMENT", str(exc))
    return await _answer(request.app, model, parsed, cache)


def _refuse_key(request: web.Request, counter: str = "status") -> web.Response | None:
    expected_key = request.app[API_KEY_KEY]
    if expected_key and request.headers.get("x-goog-api-key") != expected_key:
        request.app[STATE_KEY].counters[f"{counter}_403"] += 1
        return _error(403, "PERMISSION_DENIED", "API key not valid.")
    return None


def _cache_of(caches: CacheStore, body: Any, model: str) -> CachedContent | None:
    """The explicit cache a generateContent body names, checked as Gemini checks it."""
    name = body.get("cachedContent") if isinstance(body, dict) else None
    if not name:
        return None
    if body.get("systemInstruction") or body.get("tools") or body.get("toolConfig"):
        raise BadRequestError(
            "CachedContent can not be used with GenerateContent request setting "
            "system_instruction, tools or tool_config.\n\nProposed fix: move those values to "
            "CachedContent from GenerateContent request."
        )
    cache = caches.get(str(name))
    if cache.model != f"models/{model}":
        raise BadRequestError(
            f"Model used by GenerateContent request (models/{model}) and CachedContent "
            f"({cache.model}) has to be the same."
        )
    return cache


async def _answer(
    app: web.Application, model: str, parsed: GenerateRequest, cache: CachedContent | None = None
) -> web.Response:
    state = app[STATE_KEY]
    fault = state.faults.take(parsed.stage.value, parsed.titles)
    overrides = state.faults.take_overrides(parsed.stage.value, parsed.texts)
    if overrides:
        state.counters["fault_override"] += len(overrides)
    _record(state, model, parsed, fault, cache)
    if fault is not None and fault.kind in REQUEST_FAULTS:
        state.counters[f"fault_{fault.kind.value}"] += 1
        state.counters[f"status_{_fault_status(fault)}"] += 1
        return _fault_response(fault, parsed, model)
    if fault is not None and fault.kind is FaultKind.SLOW:
        await asyncio.sleep(fault.delay_s)
    answered = apply_overrides(overrides, parsed, await app[ANSWERER_KEY].items(parsed))
    items = apply_item_fault(fault, parsed, answered)
    text = orjson.dumps({parsed.stage.value: items}).decode()
    state.counters["status_200"] += 1
    if fault is not None:
        state.counters[f"fault_{fault.kind.value}"] += 1
        if fault.kind in REFUSAL_FAULTS:
            return _refusal(state, fault, parsed, model, text)
    text, finish = _spoil_text(fault, text) if fault is not None else (text, "STOP")
    thought = _thought(parsed) if fault is not None and fault.kind is FaultKind.THOUGHTS else None
    usage = _usage(state, parsed, text, thought, cache)
    body = answer_body(text, usage, model, finish, thought=thought)
    return web.Response(body=body, content_type="application/json")


def _refusal(
    state: EmulatorState, fault: Fault, parsed: GenerateRequest, model: str, text: str
) -> web.Response:
    if fault.kind is FaultKind.BLOCKED_PROMPT:
        body = blocked_prompt_body(fault.block_reason, _usage(state, parsed, ""), model)
    elif fault.kind is FaultKind.SAFETY:
        body = stopped_body("SAFETY", _usage(state, parsed, ""), model, None)
    else:
        cut = text[: len(text) // 2]
        body = stopped_body("RECITATION", _usage(state, parsed, cut), model, cut)
    return web.Response(body=body, content_type="application/json")


def _thought(parsed: GenerateRequest) -> str:
    # prose with braces, as thought summaries are: a client that glues every part together
    # reads no JSON
    return (
        f"**Reading {len(parsed.jobs)} job(s)**\nI will answer one {{id, ...}} object per job "
        f'in "{parsed.stage.value}", keeping each id exactly as given.'
    )


async def _line_answer(
    app: web.Application, model: str, parsed: GenerateRequest
) -> tuple[int, bytes]:
    """A batch line is answered by the code that answers a live call (faults included)."""
    response = await _answer(app, model, parsed)
    body = response.body
    return response.status, body if isinstance(body, bytes) else b"{}"


def _record(
    state: EmulatorState,
    model: str,
    parsed: GenerateRequest,
    fault: Fault | None,
    cache: CachedContent | None,
) -> None:
    state.counters["requests"] += 1
    state.counters[f"stage_{parsed.stage.value}"] += 1
    state.counters["items"] += len(parsed.jobs)
    state.requests.append(
        {
            "model": model,
            "stage": parsed.stage.value,
            "ids": [job["id"] for job in parsed.jobs],
            "system_sha256": hashlib.sha256(parsed.system.encode()).hexdigest(),
            "system_chars": len(parsed.system),
            "user_chars": len(parsed.user),
            "fault": fault.kind.value if fault else None,
            "cached_content": cache.name if cache else None,
        }
    )


_FAULT_STATUS = {
    FaultKind.RATE_LIMIT: 429,
    FaultKind.DAILY_QUOTA: 429,
    FaultKind.UNAVAILABLE: 503,
    FaultKind.TOKEN_LIMIT: 400,
    FaultKind.SCHEMA_REJECTED: 400,
}

SCHEMA_TOO_COMPLEX = (
    "The specified schema produces a constraint that has too many states for serving.  "
    "Typical causes of this error are schemas with lots of text (for example, very long "
    "property or enum names), schemas with long array length limits (especially when "
    "nested), or schemas using complex value matchers (for example, integers or numbers "
    "with minimum/maximum bounds or strings with complex formats like date-time)"
)


def _fault_status(fault: Fault) -> int:
    if fault.kind is FaultKind.NON_JSON_ERROR:
        return fault.status
    return _FAULT_STATUS.get(fault.kind, 500)


def _fault_response(fault: Fault, parsed: GenerateRequest, model: str) -> web.Response:
    if fault.kind is FaultKind.RATE_LIMIT:
        if fault.retry_delay_s is None:  # what Gemini often sends: no hint at all
            return _error(
                429, "RESOURCE_EXHAUSTED", "Resource has been exhausted (e.g. check quota)."
            )
        return _error(
            429,
            "RESOURCE_EXHAUSTED",
            "Resource has been exhausted (e.g. check quota).",
            details=[retry_info(fault.retry_delay_s)],
            headers={"Retry-After": f"{fault.retry_delay_s:g}"},
        )
    if fault.kind is FaultKind.DAILY_QUOTA:
        message = (
            "You exceeded your current quota, please check your plan and billing details. "
            "For more information on this error, head to: "
            "https://ai.google.dev/gemini-api/docs/rate-limits."
        )
        delay = fault.retry_delay_s or 0.0
        return _error(429, "RESOURCE_EXHAUSTED", message, details=daily_quota_details(model, delay))
    if fault.kind is FaultKind.SCHEMA_REJECTED:
        return _error(400, "INVALID_ARGUMENT", SCHEMA_TOO_COMPLEX)
    if fault.kind is FaultKind.NON_JSON_ERROR:
        return web.Response(
            body=proxy_error_page(fault.status),
            status=fault.status,
            headers={"Content-Type": f"{fault.content_type}; charset=UTF-8"},
        )
    if fault.kind is FaultKind.UNAVAILABLE:
        return _error(503, "UNAVAILABLE", "The model is overloaded. Please try again later.")
    if fault.kind is FaultKind.TOKEN_LIMIT:
        count = max(estimate_tokens(parsed.system + parsed.user), TOKEN_LIMIT + 1)
        message = (
            f"The input token count ({count}) exceeds the maximum number of tokens allowed "
            f"({TOKEN_LIMIT})."
        )
        return _error(400, "INVALID_ARGUMENT", message)
    return _error(500, "INTERNAL", "An internal error has occurred.")


def _spoil_text(fault: Fault, text: str) -> tuple[str, str]:
    if fault.kind is FaultKind.MALFORMED_JSON:
        return f"Here are the results: {text[: len(text) // 2]}", "STOP"
    if fault.kind is FaultKind.TRUNCATED:
        return text[: len(text) // 2], "MAX_TOKENS"
    return text, "STOP"


def _usage(
    state: EmulatorState,
    parsed: GenerateRequest,
    text: str,
    thought: str | None = None,
    cache: CachedContent | None = None,
) -> Usage:
    system_key = hashlib.sha256(parsed.system.encode()).hexdigest()
    # implicit caching: a repeated system prompt (the request's prefix) is served from cache;
    # an explicit cache is served from cache from its first use
    seen = system_key in state.seen_systems
    cached = cache.tokens if cache else estimate_tokens(parsed.system) if seen else 0
    state.seen_systems.add(system_key)
    usage = Usage(
        estimate_tokens(parsed.system + parsed.user),
        estimate_tokens(text),
        cached,
        estimate_tokens(thought) if thought else 0,
    )
    state.counters["prompt_tokens"] += usage.prompt_tokens
    state.counters["candidates_tokens"] += usage.candidates_tokens
    state.counters["cached_tokens"] += usage.cached_tokens
    state.counters["thoughts_tokens"] += usage.thoughts_tokens
    return usage


async def create_cache(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    state.counters["cache_creates"] += 1
    if (refused := _refuse_key(request, "cache_status")) is not None:
        return refused
    if state.faults.take_cache_refusal() is not None:
        state.counters["fault_cache_refused"] += 1
        state.counters["cache_status_429"] += 1
        return _error(429, "RESOURCE_EXHAUSTED", "Resource has been exhausted (e.g. check quota).")
    try:
        body = orjson.loads(await request.read())
        cache = state.caches.create(body if isinstance(body, dict) else {})
    except (BadRequestError, orjson.JSONDecodeError) as exc:
        state.counters["cache_status_400"] += 1
        return _error(400, "INVALID_ARGUMENT", str(exc))
    return _json(cache.to_json())


async def list_caches(request: web.Request) -> web.Response:
    if (refused := _refuse_key(request, "cache_status")) is not None:
        return refused
    live = request.app[STATE_KEY].caches.live()
    return _json({"cachedContents": [cache.to_json() for cache in live]})


async def get_cache(request: web.Request) -> web.Response:
    return await _on_cache(request, lambda caches, name: caches.get(name).to_json())


async def update_cache(request: web.Request) -> web.Response:
    body = orjson.loads(await request.read() or b"{}")
    return await _on_cache(
        request, lambda caches, name: caches.update(name, body).to_json(caches.clock())
    )


async def delete_cache(request: web.Request) -> web.Response:
    request.app[STATE_KEY].counters["cache_deletes"] += 1

    def delete(caches: CacheStore, name: str) -> dict[str, Any]:
        caches.delete(name)
        return {}

    return await _on_cache(request, delete)


async def _on_cache(
    request: web.Request, act: Callable[[CacheStore, str], dict[str, Any]]
) -> web.Response:
    if (refused := _refuse_key(request, "cache_status")) is not None:
        return refused
    name = f"cachedContents/{request.match_info['cache_id']}"
    try:
        return _json(act(request.app[STATE_KEY].caches, name))
    except CacheNotFoundError as exc:
        return _error(403, "PERMISSION_DENIED", str(exc))
    except BadRequestError as exc:
        return _error(400, "INVALID_ARGUMENT", str(exc))


async def evict_caches(request: web.Request) -> web.Response:
    """Every cache gone at once, as if expired: the next request naming one gets a 403."""
    caches = request.app[STATE_KEY].caches
    evicted = len(caches.caches)
    caches.caches.clear()
    return _json({"evicted": evicted})


async def arm_faults(request: web.Request) -> web.Response:
    try:
        spec = orjson.loads(await request.read())
        specs = spec.get("faults", [spec]) if isinstance(spec, dict) else spec
        armed = request.app[STATE_KEY].faults.arm(specs)
    except (orjson.JSONDecodeError, FaultSpecError, AttributeError, TypeError) as exc:
        return _json({"error": str(exc)}, status=400)
    return _json({"armed": [fault.to_json() for fault in armed]})


async def clear_faults(request: web.Request) -> web.Response:
    request.app[STATE_KEY].faults.clear()
    return _json({"faults": []})


async def list_faults(request: web.Request) -> web.Response:
    return _json({"faults": [fault.to_json() for fault in request.app[STATE_KEY].faults.faults]})


async def counters(request: web.Request) -> web.Response:
    return _json(dict(request.app[STATE_KEY].counters))


async def requests_log(request: web.Request) -> web.Response:
    return _json({"requests": list(request.app[STATE_KEY].requests)})


async def reset(request: web.Request) -> web.Response:
    request.app[STATE_KEY].reset()
    request.app[BATCHES_KEY].reset()
    return _json({"reset": True})


async def health(_: web.Request) -> web.Response:
    return _json({"status": "ok"})

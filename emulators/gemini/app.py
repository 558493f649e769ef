"""The Gemini API emulator's aiohttp app: generateContent plus admin endpoints for tests."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections import Counter, deque
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Protocol

import orjson
from aiohttp import web

from emulators.gemini.answers import BackendAnswerer, Item, apply_item_fault, apply_overrides
from emulators.gemini.batches import BatchService, create_batch, routes
from emulators.gemini.faults import REQUEST_FAULTS, Fault, FaultBook, FaultKind, FaultSpecError
from emulators.gemini.wire import (
    BadRequestError,
    GenerateRequest,
    Usage,
    answer_body,
    error_body,
    estimate_tokens,
    parse_request,
    retry_info,
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

    def reset(self) -> None:
        self.faults.clear()
        self.counters.clear()
        self.seen_systems.clear()
        self.requests.clear()


STATE_KEY = web.AppKey("gemini_state", EmulatorState)
ANSWERER_KEY = web.AppKey("gemini_answerer", Answerer)
API_KEY_KEY = web.AppKey("gemini_api_key", str)
BATCHES_KEY = web.AppKey("gemini_batches", BatchService)


def create_app(
    backend: EnrichmentBackend | None = None,
    *,
    answerer: Answerer | None = None,
    api_key: str = "",
    batch_latency_s: float = 0.0,
) -> web.Application:
    """The emulator; answers come from `backend` (default: the offline backend).

    A non-empty `api_key` makes the emulator refuse requests carrying another key; a batch
    (`batches.py`) waits `batch_latency_s` before it runs.
    """
    app = web.Application(client_max_size=64 * 1024 * 1024)
    app[STATE_KEY] = EmulatorState()
    app[ANSWERER_KEY] = answerer or BackendAnswerer(backend or offline_backend())
    app[API_KEY_KEY] = api_key
    app[BATCHES_KEY] = BatchService(partial(_line_answer, app), latency_s=batch_latency_s)
    app.router.add_routes(routes(lambda request: request.app[BATCHES_KEY]))
    app.router.add_post("/{version}/models/{model_action}", generate)
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
    expected_key = request.app[API_KEY_KEY]
    if expected_key and request.headers.get("x-goog-api-key") != expected_key:
        state.counters["status_403"] += 1
        return _error(403, "PERMISSION_DENIED", "API key not valid.")
    if action == "batchGenerateContent":
        return await create_batch(request.app[BATCHES_KEY], model, request)
    try:
        parsed = parse_request(orjson.loads(await request.read()))
    except (BadRequestError, orjson.JSONDecodeError) as exc:
        state.counters["status_400"] += 1
        return _error(400, "INVALID_ARGUMENT", str(exc))
    return await _answer(request.app, model, parsed)


async def _answer(app: web.Application, model: str, parsed: GenerateRequest) -> web.Response:
    state = app[STATE_KEY]
    fault = state.faults.take(parsed.stage.value, parsed.titles)
    overrides = state.faults.take_overrides(parsed.stage.value, parsed.texts)
    if overrides:
        state.counters["fault_override"] += len(overrides)
    _record(state, model, parsed, fault)
    if fault is not None and fault.kind in REQUEST_FAULTS:
        state.counters[f"fault_{fault.kind.value}"] += 1
        return _fault_response(fault, parsed)
    if fault is not None and fault.kind is FaultKind.SLOW:
        await asyncio.sleep(fault.delay_s)
    answered = apply_overrides(overrides, parsed, await app[ANSWERER_KEY].items(parsed))
    items = apply_item_fault(fault, parsed, answered)
    text = orjson.dumps({parsed.stage.value: items}).decode()
    finish = "STOP"
    if fault is not None:
        state.counters[f"fault_{fault.kind.value}"] += 1
        text, finish = _spoil_text(fault, text)
    usage = _usage(state, parsed, text)
    state.counters["status_200"] += 1
    return web.Response(
        body=answer_body(text, usage, model, finish), content_type="application/json"
    )


async def _line_answer(
    app: web.Application, model: str, parsed: GenerateRequest
) -> tuple[int, bytes]:
    """A batch line is answered by the code that answers a live call (faults included)."""
    response = await _answer(app, model, parsed)
    body = response.body
    return response.status, body if isinstance(body, bytes) else b"{}"


def _record(state: EmulatorState, model: str, parsed: GenerateRequest, fault: Fault | None) -> None:
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
        }
    )


def _fault_response(fault: Fault, parsed: GenerateRequest) -> web.Response:
    if fault.kind is FaultKind.RATE_LIMIT:
        hint = retry_info(fault.retry_delay_s)
        return _error(
            429,
            "RESOURCE_EXHAUSTED",
            "Resource has been exhausted (e.g. check quota).",
            details=[hint],
            headers={"Retry-After": f"{fault.retry_delay_s:g}"},
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


def _usage(state: EmulatorState, parsed: GenerateRequest, text: str) -> Usage:
    system_key = hashlib.sha256(parsed.system.encode()).hexdigest()
    # implicit caching: a repeated system prompt (the request's prefix) is served from cache
    cached = estimate_tokens(parsed.system) if system_key in state.seen_systems else 0
    state.seen_systems.add(system_key)
    usage = Usage(estimate_tokens(parsed.system + parsed.user), estimate_tokens(text), cached)
    state.counters["prompt_tokens"] += usage.prompt_tokens
    state.counters["candidates_tokens"] += usage.candidates_tokens
    state.counters["cached_tokens"] += usage.cached_tokens
    return usage


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

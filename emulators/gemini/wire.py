"""The generateContent wire format: reading a request and writing answers and errors (pure)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from services.enricher.backends.gemini.prompts import (
    FUNCTIONS_END,
    FUNCTIONS_START,
    JOBS_END,
    JOBS_START,
)
from services.enricher.backends.gemini.schemas import Stage

CHARS_PER_TOKEN = 4


class BadRequestError(ValueError):
    """The request is not one the emulator (or Gemini) would accept: answered with 400."""


@dataclass(frozen=True, slots=True)
class GenerateRequest:
    """What the emulator needs from one generateContent body."""

    system: str
    user: str
    stage: Stage
    jobs: tuple[Mapping[str, Any], ...]
    function_ids: tuple[int, ...] = ()

    @property
    def titles(self) -> tuple[str, ...]:
        return tuple(str(job.get("title") or job.get("ai_title") or "") for job in self.jobs)

    @property
    def texts(self) -> tuple[str, ...]:
        """Each job's prompt line as text: every field the model reads."""
        return tuple(" ".join(str(value) for value in job.values()) for job in self.jobs)


def parse_request(body: Any) -> GenerateRequest:
    if not isinstance(body, dict):
        raise BadRequestError("the body must be a JSON object")
    user = _texts(_last_content(body))
    system = _texts(body.get("systemInstruction") or {})
    stage = _stage_of(body.get("generationConfig") or {})
    return GenerateRequest(
        system=system,
        user=user,
        stage=stage,
        jobs=_jobs_in(user),
        function_ids=_function_ids_in(user) if stage is Stage.FUNCTION else (),
    )


def _last_content(body: Mapping[str, Any]) -> Mapping[str, Any]:
    contents = body.get("contents")
    if not isinstance(contents, list) or not contents or not isinstance(contents[-1], dict):
        raise BadRequestError("contents must be a non-empty list")
    last: Mapping[str, Any] = contents[-1]
    return last


def _texts(content: Mapping[str, Any]) -> str:
    parts = content.get("parts") or []
    return "".join(str(part.get("text", "")) for part in parts if isinstance(part, dict))


def _stage_of(config: Mapping[str, Any]) -> Stage:
    if config.get("responseMimeType") != "application/json":
        raise BadRequestError("the emulator answers structured output only (application/json)")
    schema = config.get("responseSchema") or config.get("responseJsonSchema") or {}
    properties = schema.get("properties") or {} if isinstance(schema, dict) else {}
    for stage in Stage:
        if stage.value in properties:
            return stage
    raise BadRequestError("unsupported response schema: no known top-level array")


def _section(text: str, start: str, end: str) -> list[str]:
    _, found, rest = text.partition(start)
    if not found:
        return []
    body, _, _ = rest.partition(end)
    return [line for line in body.splitlines() if line.strip()]


def _jobs_in(user: str) -> tuple[Mapping[str, Any], ...]:
    jobs = []
    for line in _section(user, JOBS_START, JOBS_END):
        try:
            job = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            raise BadRequestError(f"a job line is not JSON: {line[:80]!r}") from exc
        if not isinstance(job, dict) or not isinstance(job.get("id"), str):
            raise BadRequestError("every job line needs a string id")
        jobs.append(job)
    return tuple(jobs)


def _function_ids_in(user: str) -> tuple[int, ...]:
    ids = []
    for line in _section(user, FUNCTIONS_START, FUNCTIONS_END):
        head, _, _ = line.partition(":")
        if head.strip().isdigit():
            ids.append(int(head.strip()))
    return tuple(ids)


def estimate_tokens(text: str) -> int:
    return math.ceil(len(text) / CHARS_PER_TOKEN)


@dataclass(frozen=True, slots=True)
class Usage:
    prompt_tokens: int  # cached tokens included, as Gemini counts them
    candidates_tokens: int
    cached_tokens: int
    thoughts_tokens: int = 0

    def to_json(self) -> dict[str, int]:
        usage = {"promptTokenCount": self.prompt_tokens}
        if self.candidates_tokens:
            usage["candidatesTokenCount"] = self.candidates_tokens
        if self.cached_tokens:
            usage["cachedContentTokenCount"] = self.cached_tokens
        if self.thoughts_tokens:
            usage["thoughtsTokenCount"] = self.thoughts_tokens
        usage["totalTokenCount"] = (
            self.prompt_tokens + self.candidates_tokens + self.thoughts_tokens
        )
        return usage


# Gemini 3 signs the part after a thought; clients send it back in multi-turn chats only
THOUGHT_SIGNATURE = "ZW11bGF0b3I="


def answer_body(
    text: str,
    usage: Usage,
    model: str,
    finish_reason: str = "STOP",
    *,
    thought: str | None = None,
) -> bytes:
    """A generateContent response with one candidate carrying `text` (after a thought
    summary part when `thought` is given)."""
    parts: list[dict[str, Any]] = [{"text": text}]
    if thought is not None:
        parts = [
            {"text": thought, "thought": True},
            {**parts[0], "thoughtSignature": THOUGHT_SIGNATURE},
        ]
    return orjson.dumps(
        {
            "candidates": [
                {
                    "content": {"role": "model", "parts": parts},
                    "finishReason": finish_reason,
                    "index": 0,
                }
            ],
            "usageMetadata": usage.to_json(),
            "modelVersion": model,
        }
    )


def blocked_prompt_body(block_reason: str, usage: Usage, model: str) -> bytes:
    """A prompt the safety filters refused: promptFeedback and no candidates at all."""
    rating = {"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "probability": "HIGH"}
    return orjson.dumps(
        {
            "promptFeedback": {"blockReason": block_reason, "safetyRatings": [rating]},
            "usageMetadata": usage.to_json(),
            "modelVersion": model,
        }
    )


def stopped_body(finish_reason: str, usage: Usage, model: str, text: str | None) -> bytes:
    """A candidate the model stopped for `finish_reason`: no content for SAFETY, the text
    so far with a citation for RECITATION."""
    candidate: dict[str, Any] = {"finishReason": finish_reason, "index": 0}
    if finish_reason == "SAFETY":
        candidate["safetyRatings"] = [
            {"category": "HARM_CATEGORY_HARASSMENT", "probability": "HIGH", "blocked": True}
        ]
    if text:
        candidate["content"] = {"role": "model", "parts": [{"text": text}]}
    if finish_reason == "RECITATION":
        source = {"startIndex": 0, "endIndex": len(text or ""), "uri": "https://example.com/"}
        candidate["citationMetadata"] = {"citationSources": [source]}
    return orjson.dumps(
        {"candidates": [candidate], "usageMetadata": usage.to_json(), "modelVersion": model}
    )


def error_body(
    code: int, status: str, message: str, details: list[dict[str, Any]] | None = None
) -> bytes:
    """Google's error envelope, as the SDK parses it into `APIError`."""
    error: dict[str, Any] = {"code": code, "message": message, "status": status}
    if details:
        error["details"] = details
    return orjson.dumps({"error": error})


def retry_info(delay_s: float) -> dict[str, Any]:
    return {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": f"{delay_s:g}s"}


def daily_quota_details(model: str, delay_s: float) -> list[dict[str, Any]]:
    """What Gemini says when a project spent its requests per day for a model."""
    violation = {
        "quotaMetric": "generativelanguage.googleapis.com/generate_content_requests",
        "quotaId": "GenerateRequestsPerDayPerProjectPerModel",
        "quotaDimensions": {"location": "global", "model": model},
        "quotaValue": "10000",
    }
    help_link = {
        "description": "Learn more about Gemini API quotas",
        "url": "https://ai.google.dev/gemini-api/docs/rate-limits",
    }
    return [
        {"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": [violation]},
        {"@type": "type.googleapis.com/google.rpc.Help", "links": [help_link]},
        retry_info(delay_s),
    ]


def proxy_error_page(status: int) -> bytes:
    """The HTML page Google's front end serves for a 5xx that never reached the API."""
    return (
        "<!DOCTYPE html>\n<html lang=en>\n  <meta charset=utf-8>\n"
        f"  <title>Error {status} (Server Error)!!1</title>\n"
        f"  <p><b>{status}.</b> <ins>That's an error.</ins>\n"
        "  <p>The server encountered a temporary error and could not complete your request."
        "<p>Please try again in 30 seconds.  <ins>That's all we know.</ins>\n"
    ).encode()

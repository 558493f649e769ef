"""One stage's calls: batches through the shared gate, retries, halving and solo retries."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from google import genai
from google.genai import errors as genai_errors
from google.genai import types

from services.enricher.backends.gemini.accounting import Ledger, Tokens
from services.enricher.backends.gemini.budget import CallGate
from services.enricher.backends.gemini.caching import ContextCaches, cache_is_gone
from services.enricher.backends.gemini.retry import (
    ContentRefusedError,
    Failure,
    FailureKind,
    GeminiUnavailableError,
    OutputTruncatedError,
    QuotaExhaustedError,
    QuotaHold,
    UnreadableResponseError,
    classify,
    retry_hint_s,
)
from services.enricher.backends.gemini.schemas import RESPONSE_SCHEMAS, Stage
from services.enricher.backends.gemini.validation import Check, Verdicts, judge, parse_answer
from services.shared.failures import DependencyUnavailableError
from services.shared.retry import Backoff, Sleep

log = logging.getLogger(__name__)

PayloadT = TypeVar("PayloadT")

CHARS_PER_TOKEN = 4
# a generous guess of answer size per item, booked against the tokens-per-minute budget
OUTPUT_TOKENS_PER_ITEM = {Stage.ENRICH: 400, Stage.FUNCTION: 60, Stage.SEARCHABLE: 120}
# finish reasons that mean the model refused to answer for what it read (or would have
# written), not that the request failed: the job causing it is found by halving the batch
REFUSED_FINISH_REASONS = frozenset(
    {"SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "LANGUAGE"}
)
# How long a 429 holds every request of the budget back: the server's retry hint, or this
# without one, never more than a window (a daily quota's hours-long hint is not for us to
# sit out: the retries give up and the stage pauses instead)
RATE_LIMIT_PAUSE_S = 2.0
RATE_LIMIT_MAX_PAUSE_S = 60.0


@dataclass(frozen=True, slots=True)
class Answer:
    """What one successful HTTP exchange returned."""

    text: str | None
    finish_reason: str | None
    input_tokens: int  # the whole prompt, cached tokens included
    output_tokens: int  # the answer, thinking excluded
    cached_tokens: int = 0
    refusal: str | None = None  # why Gemini refused the prompt or stopped its answer
    thinking_tokens: int = 0  # billed as output

    @property
    def tokens(self) -> Tokens:
        return Tokens(self.input_tokens, self.cached_tokens, self.output_tokens,
                      self.thinking_tokens)  # fmt: skip

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens + self.thinking_tokens


@dataclass(frozen=True, slots=True)
class CallSettings:
    model: str
    timeout_s: float
    temperature: float | None  # None: the model's default
    thinking_level: str = ""  # empty: the model's default


class GeminiCaller:
    """Sends one request through the gate with a deadline; knows nothing about batches."""

    def __init__(
        self,
        client: genai.Client,
        gate: CallGate,
        settings: CallSettings,
        caches: ContextCaches | None = None,
    ) -> None:
        self._client = client
        self._gate = gate
        self._settings = settings
        self._caches = caches

    async def call(self, stage: Stage, system: str, user: str, items: int) -> Answer:
        estimate = (len(system) + len(user)) // CHARS_PER_TOKEN + (
            items * OUTPUT_TOKENS_PER_ITEM[stage]
        )
        cache = await self._caches.name_for(system) if self._caches else None
        budget = self._gate.budget
        async with self._gate.slot(estimate) as booking:
            spent = 0  # a refused request spends no tokens
            try:
                answer = _answer_of(await self._generate(stage, system, user, cache))
                spent = answer.total_tokens
                return answer
            except genai_errors.APIError as exc:
                if exc.code == 429:  # the quota is spent: every replica holds off
                    hint = retry_hint_s(exc) or RATE_LIMIT_PAUSE_S
                    await budget.pause(min(hint, RATE_LIMIT_MAX_PAUSE_S))
                raise
            finally:
                await budget.settle(booking, spent)

    async def _generate(
        self, stage: Stage, system: str, user: str, cache: str | None
    ) -> types.GenerateContentResponse:
        timeout_s = self._settings.timeout_s
        try:
            async with asyncio.timeout(timeout_s):
                return await self._send_or_inline(stage, system, user, cache)
        except TimeoutError as exc:
            raise TimeoutError(f"no answer within {timeout_s:g}s") from exc
        except json.JSONDecodeError as exc:
            # the SDK parses every body as JSON: a proxy's page or a cut body ends up here
            raise UnreadableResponseError(f"the body is not JSON ({exc})") from exc

    async def _send_or_inline(
        self, stage: Stage, system: str, user: str, cache: str | None
    ) -> types.GenerateContentResponse:
        try:
            return await self._send(stage, system, user, cache)
        except genai_errors.APIError as exc:
            if cache is None or self._caches is None or not cache_is_gone(exc):
                raise
            # the cache expired early or was deleted: this request goes inline at once, the
            # next one names a new cache
            log.warning("context cache %s is gone (%s): prompt sent inline", cache, exc)
            self._caches.forget(cache)
            return await self._send(stage, system, user, None)

    async def _send(
        self, stage: Stage, system: str, user: str, cache: str | None
    ) -> types.GenerateContentResponse:
        return await self._client.aio.models.generate_content(
            model=self._settings.model, contents=user, config=self._config(stage, system, cache)
        )

    def _config(self, stage: Stage, system: str, cache: str | None) -> types.GenerateContentConfig:
        # a request naming a cache must not repeat its system prompt (Gemini answers 400)
        return types.GenerateContentConfig(
            system_instruction=None if cache else system,
            cached_content=cache,
            response_mime_type="application/json",
            response_schema=RESPONSE_SCHEMAS[stage],
            temperature=self._settings.temperature,
            thinking_config=_thinking(self._settings.thinking_level),
        )


def _thinking(level: str) -> types.ThinkingConfig | None:
    return types.ThinkingConfig(thinking_level=types.ThinkingLevel(level)) if level else None


def _answer_of(response: types.GenerateContentResponse) -> Answer:
    usage = response.usage_metadata
    candidate = response.candidates[0] if response.candidates else None
    finish = candidate.finish_reason if candidate else None
    finish_reason = finish.value if finish is not None else None
    return Answer(
        text=_candidate_text(candidate),
        finish_reason=finish_reason,
        input_tokens=(usage.prompt_token_count or 0) if usage else 0,
        output_tokens=(usage.candidates_token_count or 0) if usage else 0,
        cached_tokens=(usage.cached_content_token_count or 0) if usage else 0,
        thinking_tokens=(usage.thoughts_token_count or 0) if usage else 0,
        refusal=_refusal(response, finish_reason),
    )


def _refusal(response: types.GenerateContentResponse, finish_reason: str | None) -> str | None:
    feedback = response.prompt_feedback
    if feedback is not None and feedback.block_reason is not None:
        return f"prompt blocked by Gemini (blockReason {feedback.block_reason.value})"
    if finish_reason in REFUSED_FINISH_REASONS:
        return f"answer stopped by Gemini (finishReason {finish_reason})"
    return None


def _candidate_text(candidate: types.Candidate | None) -> str | None:
    if candidate is None or candidate.content is None or not candidate.content.parts:
        return None
    return "".join(part.text or "" for part in candidate.content.parts if not part.thought)


@dataclass(frozen=True, slots=True)
class StageRequest(Generic[PayloadT]):
    """One stage's work: items keyed by id, how to render a batch, how to judge an item."""

    stage: Stage
    system: str
    render: Callable[[Sequence[tuple[str, PayloadT]]], str]
    check: Check[Any]


@dataclass(frozen=True, slots=True)
class ItemOutcome:
    """An accepted item, or the reason there is none."""

    item: Any = None
    error: str | None = None


Call = Callable[[Stage, str, str, int], Awaitable[Answer]]


class StageRunner:
    """Runs one stage's batches; every item ends accepted or failed with a reason."""

    def __init__(
        self,
        call: Call,
        ledger: Ledger,
        backoff: Backoff,
        max_attempts: int,
        sleep: Sleep,
        hold: QuotaHold | None = None,
    ) -> None:
        self._call = call
        self._ledger = ledger
        self._backoff = backoff
        self._max_attempts = max_attempts
        self._sleep = sleep
        self._hold = hold or QuotaHold()

    async def run(
        self,
        request: StageRequest[PayloadT],
        items: Sequence[tuple[str, PayloadT]],
        batch_size: int,
    ) -> dict[str, ItemOutcome]:
        batches = [items[start : start + batch_size] for start in range(0, len(items), batch_size)]
        results = await asyncio.gather(*(self._batch(request, batch) for batch in batches))
        return {item_id: outcome for result in results for item_id, outcome in result.items()}

    async def _batch(
        self,
        request: StageRequest[PayloadT],
        batch: Sequence[tuple[str, PayloadT]],
        solo: bool = False,
    ) -> dict[str, ItemOutcome]:
        verdicts = await self._attempts(request, batch)
        if isinstance(verdicts, Failure):
            return await self._after_failure(request, batch, verdicts, solo)
        outcomes = {key: ItemOutcome(item=item) for key, item in verdicts.accepted.items()}
        if solo:
            outcomes.update({key: ItemOutcome(error=why) for key, why in verdicts.rejected.items()})
        else:
            outcomes.update(await self._retry_alone(request, batch, verdicts.rejected))
        return outcomes

    async def _retry_alone(
        self,
        request: StageRequest[PayloadT],
        batch: Sequence[tuple[str, PayloadT]],
        rejected: dict[str, str],
    ) -> dict[str, ItemOutcome]:
        """One more chance for each rejected item, in a request of its own."""
        retried = [(key, payload) for key, payload in batch if key in rejected]
        if retried:
            log.info("%s: retrying %d rejected item(s) alone", request.stage, len(retried))
        solos = await asyncio.gather(
            *(self._batch(request, [entry], solo=True) for entry in retried)
        )
        outcomes: dict[str, ItemOutcome] = {}
        for solo_outcomes in solos:
            outcomes.update(_explain_retry(solo_outcomes, rejected))
        return outcomes

    async def _after_failure(
        self,
        request: StageRequest[PayloadT],
        batch: Sequence[tuple[str, PayloadT]],
        failure: Failure,
        solo: bool,
    ) -> dict[str, ItemOutcome]:
        if failure.kind in (FailureKind.SPLIT, FailureKind.ISOLATE) and len(batch) > 1:
            middle = len(batch) // 2
            halves = await asyncio.gather(
                self._batch(request, batch[:middle], solo),
                self._batch(request, batch[middle:], solo),
            )
            return {**halves[0], **halves[1]}
        reason = failure.reason
        if failure.kind is FailureKind.SPLIT:
            reason = f"single job exceeds the model's token limit ({reason})"
        return {key: ItemOutcome(error=reason) for key, _ in batch}

    async def _attempts(
        self, request: StageRequest[PayloadT], batch: Sequence[tuple[str, PayloadT]]
    ) -> Verdicts[Any] | Failure:
        for attempt in range(1, self._max_attempts + 1):
            self._hold.check()  # a spent daily quota: no call at all until it is back
            try:
                return await self._attempt(request, batch)
            except DependencyUnavailableError:
                raise  # not Gemini's answer (the shared budget's database): the stage pauses
            except Exception as exc:  # classified below: every failure becomes a decision
                failure = classify(exc)
            if failure.kind is FailureKind.PAUSE:
                self._hold.hold(failure.retry_after_s or 0.0, failure.reason)
                raise QuotaExhaustedError(
                    f"{request.stage}: {failure.reason}; no Gemini calls for "
                    f"{failure.retry_after_s or 0.0:.0f}s"
                )
            if failure.kind is not FailureKind.RETRY or attempt == self._max_attempts:
                break
            delay = self._backoff.delay(attempt, failure.retry_after_s)
            log.warning(
                "%s attempt %d failed (%s); retrying in %.2fs",
                request.stage,
                attempt,
                failure.reason,
                delay,
            )
            await self._sleep(delay)
        if failure.kind is FailureKind.RETRY and failure.unavailable:
            raise GeminiUnavailableError(
                f"{request.stage}: {failure.reason} (after {attempt} attempts)"
            )
        return _with_attempts(failure, attempt)

    async def _attempt(
        self, request: StageRequest[PayloadT], batch: Sequence[tuple[str, PayloadT]]
    ) -> Verdicts[Any]:
        keys = [key for key, _ in batch]
        try:
            answer = await self._call(
                request.stage, request.system, request.render(batch), len(batch)
            )
        except DependencyUnavailableError:
            raise  # the budget could not book it: no request went out
        except Exception:
            self._ledger.charge(keys, request.stage.label)  # a failed request is still a request
            raise
        self._ledger.charge(keys, request.stage.label, answer.tokens)
        if answer.refusal is not None:
            raise ContentRefusedError(answer.refusal)
        if answer.finish_reason == "MAX_TOKENS":
            raise OutputTruncatedError(f"{len(batch)} item(s) did not fit the output limit")
        raw_items = parse_answer(answer.text, request.stage)
        return judge(request.stage, raw_items, keys, request.check)


def _with_attempts(failure: Failure, attempts: int) -> Failure:
    if failure.kind is not FailureKind.RETRY:
        return failure
    return Failure(FailureKind.GIVE_UP, f"{failure.reason} (after {attempts} attempts)")


def _explain_retry(
    solo_outcomes: dict[str, ItemOutcome], first_reasons: dict[str, str]
) -> dict[str, ItemOutcome]:
    explained: dict[str, ItemOutcome] = {}
    for key, outcome in solo_outcomes.items():
        if outcome.error is None:
            explained[key] = outcome
        else:
            detail = f"{first_reasons[key]}; retried alone: {outcome.error}"
            explained[key] = ItemOutcome(error=detail)
    return explained

"""The Gemini enrichment backend: three stages of structured-output calls via google-genai."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import random
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from google import genai
from google.genai import types

from schemas.profile import AudienceProfile
from schemas.records import JobPosting
from schemas.taxonomy import Taxonomy
from schemas.usage import StageUsage, overall
from services.enricher.backends.base import EnrichmentOutcome
from services.enricher.backends.gemini.accounting import Ledger
from services.enricher.backends.gemini.assemble import build_enrichment, stage_one_keywords
from services.enricher.backends.gemini.budget import CallGate, shared_gate
from services.enricher.backends.gemini.caching import ContextCaches
from services.enricher.backends.gemini.engine import (
    CallSettings,
    GeminiCaller,
    ItemOutcome,
    StageRequest,
    StageRunner,
)
from services.enricher.backends.gemini.pricing import Price, load_price
from services.enricher.backends.gemini.prompts import (
    FunctionJob,
    SearchableJob,
    SystemPrompts,
    enrich_prompt,
    function_prompt,
    searchable_prompt,
)
from services.enricher.backends.gemini.retry import QuotaHold
from services.enricher.backends.gemini.schemas import (
    RESPONSE_SCHEMAS,
    EnrichItem,
    FunctionItem,
    SearchableItem,
    Stage,
)
from services.enricher.backends.gemini.settings import GeminiSettings
from services.enricher.backends.gemini.validation import (
    enrich_check,
    function_check,
    searchable_check,
)
from services.enricher.ports import Connections
from services.shared.retry import Backoff, Sleep
from services.shared.settings import SettingsError

log = logging.getLogger(__name__)


@dataclass(slots=True)
class _JobState:
    """One job's way through the stages."""

    base: EnrichItem | None = None
    function: FunctionItem | None = None
    searchable_text: str | None = None
    error: str | None = None
    incomplete: str | None = None  # a later stage that failed without failing the job


class GeminiBackend:
    """Enriches jobs with Gemini; implements `EnrichmentBackend`."""

    def __init__(
        self,
        settings: GeminiSettings,
        taxonomy: Taxonomy,
        profile: AudienceProfile,
        *,
        gate: CallGate | None = None,
        sleep: Sleep = asyncio.sleep,
        rand: Callable[[], float] = random.random,
        hold: QuotaHold | None = None,
    ) -> None:
        if not settings.api_key:
            raise SettingsError("GEMINI_API_KEY is required for the gemini backend")
        self._settings = settings
        self._price = load_price(settings.model, settings.price_table or None)
        self._taxonomy = taxonomy
        self._prompts = SystemPrompts.build(taxonomy, profile)
        self._version = _version_of(settings.model, self._prompts, taxonomy, profile)
        self._client = genai.Client(api_key=settings.api_key, http_options=_http_options(settings))
        self._gate = gate
        self._sleep = sleep
        self._backoff = Backoff(settings.backoff_base_s, settings.backoff_max_s, rand)
        self._list_keys: dict[int, tuple[int, ...]] = {}
        # a spent daily quota stops every later call of this backend until it is back
        self._hold = hold or QuotaHold()
        self._caches = ContextCaches(
            self._client,
            settings.model,
            ttl_s=settings.context_cache_ttl_s,
            enabled=settings.context_cache,
            timeout_s=settings.request_timeout_s,
        )

    @property
    def version(self) -> str:
        return self._version

    @property
    def gate(self) -> CallGate | None:
        """The gate given at construction (None: this process's shared one per model)."""
        return self._gate

    @property
    def system_prompts(self) -> SystemPrompts:
        return self._prompts

    @property
    def price(self) -> Price:
        """The model's standard price (a Batch API backfill pays `price.for_batch_api()`)."""
        return self._price

    async def enrich(self, jobs: Sequence[JobPosting]) -> list[EnrichmentOutcome]:
        if not jobs:
            return []
        keyed = [(f"J{index + 1}", job) for index, job in enumerate(jobs)]
        ledger = Ledger()
        runner = self._runner(ledger)
        states = {key: _JobState() for key, _ in keyed}
        await self._stage_enrich(runner, keyed, states)
        await self._stage_function(runner, keyed, states)
        await self._stage_searchable(runner, keyed, states)
        return [self._outcome(states[key], ledger, key) for key, _ in keyed]

    async def aclose(self) -> None:
        await self._caches.aclose()
        await self._client.aio.aclose()

    def _runner(self, ledger: Ledger) -> StageRunner:
        settings = self._settings
        gate = self._gate or shared_gate(
            settings.model,
            settings.base_url or "",
            settings.max_concurrency,
            settings.requests_per_minute,
            settings.tokens_per_minute,
        )
        call_settings = CallSettings(
            settings.model,
            settings.request_timeout_s,
            settings.temperature,
            settings.thinking_level,
        )
        caller = GeminiCaller(self._client, gate, call_settings, self._caches)
        return StageRunner(
            caller.call, ledger, self._backoff, settings.max_attempts, self._sleep, self._hold
        )

    async def _stage_enrich(
        self,
        runner: StageRunner,
        keyed: Sequence[tuple[str, JobPosting]],
        states: dict[str, _JobState],
    ) -> None:
        max_chars = self._settings.max_description_chars
        request: StageRequest[JobPosting] = StageRequest(
            Stage.ENRICH,
            self._prompts.enrich,
            lambda batch: enrich_prompt(batch, max_chars),
            enrich_check(self._taxonomy),
        )
        results = await runner.run(request, keyed, self._settings.batch_size)
        for key, result in results.items():
            states[key].base = result.item
            states[key].error = _stage_error("enrichment", result)

    async def _stage_function(
        self,
        runner: StageRunner,
        keyed: Sequence[tuple[str, JobPosting]],
        states: dict[str, _JobState],
    ) -> None:
        # Jobs whose industries allow the same functions share prompts: each prompt still
        # carries exactly the list all its jobs choose from, and batches fill up even when a
        # feed spreads over many industries.
        by_list: dict[tuple[int, ...], list[tuple[str, int, FunctionJob]]] = defaultdict(list)
        for key, job in keyed:
            base = states[key].base
            if base is not None and self._taxonomy.functions_for(base.industry_id):
                entry = FunctionJob(job, base.ai_title)
                by_list[self._function_list_key(base.industry_id)].append(
                    (key, base.industry_id, entry)
                )
        await asyncio.gather(
            *(self._functions_of_list(runner, members, states) for members in by_list.values())
        )

    def _function_list_key(self, industry_id: int) -> tuple[int, ...]:
        key = self._list_keys.get(industry_id)
        if key is None:
            key = tuple(f.id for f in self._taxonomy.functions_for(industry_id))
            self._list_keys[industry_id] = key
        return key

    def _industry_name(self, industry_id: int) -> str:
        industry = self._taxonomy.industry(industry_id)
        return industry.name if industry else str(industry_id)

    async def _functions_of_list(
        self,
        runner: StageRunner,
        members: list[tuple[str, int, FunctionJob]],
        states: dict[str, _JobState],
    ) -> None:
        members = sorted(members, key=lambda member: member[1])  # one industry's jobs together
        industry_of = {key: industry_id for key, industry_id, _ in members}
        functions = self._taxonomy.functions_for(members[0][1])
        single = len(set(industry_of.values())) == 1
        shared_name = self._industry_name(members[0][1]) if single else ""
        entries = [
            (key, entry if single else replace(entry, industry=self._industry_name(industry_id)))
            for key, industry_id, entry in members
        ]
        max_chars = self._settings.max_description_chars
        request: StageRequest[FunctionJob] = StageRequest(
            Stage.FUNCTION,
            self._prompts.function,
            lambda batch: function_prompt(shared_name, functions, batch, max_chars),
            function_check(self._taxonomy, industry_of),
        )
        results = await runner.run(request, entries, self._settings.function_batch_size)
        for key, result in results.items():
            states[key].function = result.item
            states[key].error = _stage_error("job function", result)

    async def _stage_searchable(
        self,
        runner: StageRunner,
        keyed: Sequence[tuple[str, JobPosting]],
        states: dict[str, _JobState],
    ) -> None:
        # every enriched job: any of them may be published (auto, by a reviewer or a feed's
        # bypass), and a published job needs its search text before it reaches Xano
        entries = [
            (key, _searchable_job(job, base))
            for key, job in keyed
            if (base := states[key].base) is not None and states[key].error is None
        ]
        if not entries:
            return
        max_chars = self._settings.max_description_chars
        request: StageRequest[SearchableJob] = StageRequest(
            Stage.SEARCHABLE,
            self._prompts.searchable,
            lambda batch: searchable_prompt(batch, max_chars),
            searchable_check,
        )
        results = await runner.run(request, entries, self._settings.batch_size)
        for key, result in results.items():
            item: SearchableItem | None = result.item
            base = states[key].base
            assert base is not None  # only jobs with a stage-1 answer were asked
            if item is None:
                # the job stays enriched and is indexed on its stage-1 keywords for now; its
                # enrichment is not cached (`EnrichmentOutcome.complete`), so its next run or
                # replay asks again: a job published meanwhile (by a reviewer, say) still
                # reaches Xano with search text
                log.warning("searchable text failed for %s: %s", key, result.error)
                states[key].incomplete = f"searchable text: {result.error}"
                states[key].searchable_text = stage_one_keywords(base)
            else:
                states[key].searchable_text = item.searchable_text

    def _outcome(self, state: _JobState, ledger: Ledger, key: str) -> EnrichmentOutcome:
        usage = self._priced(ledger.account(key))
        total = overall(usage)
        enrichment = None
        if state.error is None and state.base is not None:
            enrichment = build_enrichment(
                self._taxonomy, state.base, state.function, state.searchable_text
            )
        return EnrichmentOutcome(
            enrichment=enrichment,
            error=state.error if enrichment is None else None,
            incomplete=state.incomplete if enrichment is not None else None,
            llm_calls=total.calls,
            input_tokens=total.input,
            output_tokens=total.output,
            usage=usage,
        )

    def _priced(self, usage: dict[str, StageUsage]) -> dict[str, StageUsage]:
        price: Price = self._price
        return {
            stage: used.model_copy(update={"cost_usd": price.cost_usd(used)})
            for stage, used in usage.items()
        }


def shared_budget_gate(settings: GeminiSettings, db: Connections) -> CallGate:
    """The gate of an enricher replica: its requests and tokens per minute are the whole
    deployment's (GEMINI_RPM, GEMINI_TPM), booked in PostgreSQL; its concurrency is its own."""
    return CallGate.shared(
        db,
        budget_scope(settings),
        settings.max_concurrency,
        settings.requests_per_minute,
        settings.tokens_per_minute,
        # a booking whose replica died in flight counts until the call's deadline had passed
        hold_s=settings.request_timeout_s + 5.0,
    )


def budget_scope(settings: GeminiSettings) -> str:
    """Google counts a project's quota per model; the endpoint keeps an emulator's apart."""
    return f"{settings.model}@{settings.base_url or 'google'}"


def _stage_error(stage_name: str, result: ItemOutcome) -> str | None:
    return None if result.error is None else f"{stage_name}: {result.error}"


def _searchable_job(job: JobPosting, base: EnrichItem) -> SearchableJob:
    return SearchableJob(job, base.ai_title, base.tags, base.search_terms, base.skills)


def _http_options(settings: GeminiSettings) -> types.HttpOptions:
    # the SDK's own retries are turned off: this backend retries with its budget and backoff
    return types.HttpOptions(
        base_url=settings.base_url, retry_options=types.HttpRetryOptions(attempts=1)
    )


def _version_of(
    model: str, prompts: SystemPrompts, taxonomy: Taxonomy, profile: AudienceProfile
) -> str:
    schemas = "".join(schema.model_dump_json() for schema in RESPONSE_SCHEMAS.values())
    digest = hashlib.sha256(f"{prompts.fingerprint()}|{schemas}".encode()).hexdigest()[:10]
    return f"gemini:{model}:prompts-{digest}:taxonomy-{taxonomy.version}:profile-{profile.version}"


__all__ = ["GeminiBackend", "GeminiSettings", "budget_scope", "shared_budget_gate"]

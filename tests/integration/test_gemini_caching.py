"""Explicit context caching through the real google-genai client against the emulator's
cachedContents endpoints: the stage-1 system prompt (over the caching minimum) is cached
once and named by every stage-1 request; the short stage-2/3 prompts, a refused or failed
create, and a cache gone mid-run fall back to inline prompts (implicit caching), and every
request still works."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from typing import Any, TypeAlias

import aiohttp
import pytest
from google import genai
from google.genai import errors, types

from emulators.gemini import RunningEmulator, create_app, serve
from schemas.profile import AudienceProfile, load_profile
from schemas.taxonomy import Taxonomy, load_taxonomy
from services.enricher.backends.gemini.backend import GeminiBackend, GeminiSettings
from services.enricher.backends.gemini.budget import CallGate
from services.enricher.backends.gemini.caching import RETRY_CREATE_AFTER_S, ContextCaches
from services.enricher.backends.gemini.settings import DEFAULT_MODEL
from tests.integration.test_gemini_backend import RecordingSleep, StubOffline, arm, jobs

MODEL = DEFAULT_MODEL


@pytest.fixture(scope="module")
def taxonomy() -> Taxonomy:
    return load_taxonomy()


@pytest.fixture(scope="module")
def profile() -> AudienceProfile:
    return load_profile()


@pytest.fixture
async def emulator(taxonomy: Taxonomy) -> AsyncIterator[RunningEmulator]:
    async with serve(create_app(StubOffline(taxonomy))) as running:
        yield running


@pytest.fixture
def sleeps() -> RecordingSleep:
    return RecordingSleep()


MakeBackend: TypeAlias = Callable[..., GeminiBackend]


@pytest.fixture
async def make_backend(
    emulator: RunningEmulator, taxonomy: Taxonomy, profile: AudienceProfile, sleeps: RecordingSleep
) -> AsyncIterator[MakeBackend]:
    backends: list[GeminiBackend] = []

    def make(**overrides: Any) -> GeminiBackend:
        settings = GeminiSettings(
            api_key="test-key",
            base_url=emulator.base_url,
            batch_size=1,
            max_attempts=3,
            backoff_base_s=0.01,
            request_timeout_s=5.0,
        )
        backend = GeminiBackend(
            replace(settings, **overrides),
            taxonomy,
            profile,
            gate=CallGate.create(4, 1000, 10_000_000),
            sleep=sleeps,
        )
        backends.append(backend)
        return backend

    yield make
    for backend in backends:
        await backend.aclose()


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def by_stage(emulator: RunningEmulator, stage: str) -> list[dict[str, Any]]:
    return [r for r in emulator.state.requests if r["stage"] == stage]


def client_for(emulator: RunningEmulator) -> genai.Client:
    options = types.HttpOptions(
        base_url=emulator.base_url, retry_options=types.HttpRetryOptions(attempts=1)
    )
    return genai.Client(api_key="test-key", http_options=options)


async def test_the_stage_one_prompt_is_cached_once_and_named_by_every_stage_one_request(
    make_backend: MakeBackend, emulator: RunningEmulator
) -> None:
    backend = make_backend()
    # four one-job batches at once: one create, not four
    outcomes = await backend.enrich(jobs("a engineer", "b nurse", "c engineer", "d nurse"))
    assert all(o.complete for o in outcomes), [o.error for o in outcomes]

    caches = emulator.state.caches.live()
    assert len(caches) == 1 and emulator.state.counters["cache_creates"] == 1
    cache = caches[0]
    assert cache.system_text == backend.system_prompts.enrich
    assert cache.model == f"models/{MODEL}"

    stage_one = by_stage(emulator, "enriched_jobs")
    assert len(stage_one) == 4
    assert {r["cached_content"] for r in stage_one} == {cache.name}
    assert {r["system_sha256"] for r in stage_one} == {sha(backend.system_prompts.enrich)}
    # the short stage-2/3 prompts are under the minimum: inline, implicit caching only
    later = by_stage(emulator, "selections") + by_stage(emulator, "searchable_jobs")
    assert later and all(r["cached_content"] is None for r in later)
    # cached tokens from the first request on, reported in usageMetadata
    assert emulator.state.counters["cached_tokens"] >= 4 * cache.tokens

    # the cache's storage is billed by the hour: closing the backend deletes it
    await backend.aclose()
    assert emulator.state.caches.live() == [] and emulator.state.counters["cache_deletes"] == 1


async def test_answers_are_the_same_with_and_without_an_explicit_cache(
    make_backend: MakeBackend,
) -> None:
    titles = ("software engineer", "registered nurse", "line cook")
    cached = await make_backend().enrich(jobs(*titles))
    inline = await make_backend(context_cache=False).enrich(jobs(*titles))
    assert [o.enrichment for o in cached] == [o.enrichment for o in inline]


async def test_caching_off_sends_every_prompt_inline(
    make_backend: MakeBackend, emulator: RunningEmulator
) -> None:
    outcomes = await make_backend(context_cache=False).enrich(jobs("a engineer", "b engineer"))

    assert all(o.complete for o in outcomes)
    assert emulator.state.counters["cache_creates"] == 0
    assert all(r["cached_content"] is None for r in emulator.state.requests)
    assert emulator.state.counters["cached_tokens"] > 0  # implicit caching still hits


async def test_a_create_the_service_refuses_falls_back_to_implicit_caching(
    make_backend: MakeBackend, emulator: RunningEmulator, sleeps: RecordingSleep
) -> None:
    await arm(emulator, kind="cache_refused", times=None)
    outcomes = await make_backend().enrich(jobs("a engineer", "b engineer", "c engineer"))

    assert all(o.complete for o in outcomes), [o.error for o in outcomes]
    # tried once, not before every request; the prompts went inline and nothing was retried
    assert emulator.state.counters["cache_creates"] == 1
    assert emulator.state.counters["fault_cache_refused"] == 1
    assert all(r["cached_content"] is None for r in emulator.state.requests)
    assert sleeps.delays == []
    assert emulator.state.counters["cached_tokens"] > 0  # implicit caching on repeats


async def test_a_prompt_under_the_services_minimum_falls_back_too(
    taxonomy: Taxonomy, profile: AudienceProfile
) -> None:
    # the service counts tokens its own way: it may find the prompt too small after all
    async with serve(create_app(StubOffline(taxonomy), cache_min_tokens=10**6)) as emulator:
        settings = GeminiSettings(api_key="k", base_url=emulator.base_url, batch_size=1)
        backend = GeminiBackend(settings, taxonomy, profile, gate=CallGate.create(4, 1000, 10**7))
        try:
            outcomes = await backend.enrich(jobs("a engineer", "b engineer"))
        finally:
            await backend.aclose()
        counters = emulator.state.counters
    assert all(o.complete for o in outcomes)
    assert counters["cache_creates"] == 1 and counters["cache_status_400"] == 1
    assert all(r["cached_content"] is None for r in emulator.state.requests)


async def test_a_prompt_the_service_finds_too_small_is_never_offered_again(
    taxonomy: Taxonomy,
) -> None:
    clock = FakeClock()
    async with serve(create_app(StubOffline(taxonomy), cache_min_tokens=10**6)) as emulator:
        client = client_for(emulator)
        caches = ContextCaches(client, MODEL, min_tokens=10, clock=clock)
        try:
            assert await caches.name_for("You classify jobs. " * 100) is None
            clock.now += 10 * RETRY_CREATE_AFTER_S
            assert await caches.name_for("You classify jobs. " * 100) is None
        finally:
            await caches.aclose()
            await client.aio.aclose()
        assert emulator.state.counters["cache_creates"] == 1


async def test_a_cache_gone_mid_run_is_replaced_and_no_request_fails(
    make_backend: MakeBackend, emulator: RunningEmulator, sleeps: RecordingSleep
) -> None:
    backend = make_backend()
    await backend.enrich(jobs("a engineer"))
    first = emulator.state.caches.live()[0].name
    async with (
        aiohttp.ClientSession() as http,
        http.delete(f"{emulator.base_url}/__admin/caches") as evicted,
    ):
        assert (await evicted.json())["evicted"] == 1

    outcomes = await backend.enrich(jobs("b engineer"))
    assert outcomes[0].complete
    # the request naming the evicted cache got Gemini's 403 and went inline at once, with
    # no retry; the next one names a new cache
    assert emulator.state.counters["status_403"] == 1 and sleeps.delays == []
    names = [r["cached_content"] for r in by_stage(emulator, "enriched_jobs")]
    assert names == [first, None]
    await backend.enrich(jobs("c engineer"))
    second = by_stage(emulator, "enriched_jobs")[-1]["cached_content"]
    assert second is not None and second != first
    assert emulator.state.counters["cache_creates"] == 2


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def test_a_failed_create_is_tried_again_later_and_a_cache_renewed_before_expiry(
    emulator: RunningEmulator,
) -> None:
    clock = FakeClock()
    client = client_for(emulator)
    caches = ContextCaches(client, MODEL, ttl_s=1000, min_tokens=10, clock=clock)
    system = "You classify jobs. " * 1000
    try:
        await arm(emulator, kind="cache_refused")
        assert await caches.name_for(system) is None
        clock.now += RETRY_CREATE_AFTER_S - 1
        assert await caches.name_for(system) is None  # not hammered
        assert emulator.state.counters["cache_creates"] == 1

        clock.now += 2
        first = await caches.name_for(system)
        assert first is not None and await caches.name_for(system) == first

        clock.now += 900  # nine tenths of the TTL: renewed before the service drops it
        second = await caches.name_for(system)
        assert second is not None and second != first
        assert await caches.name_for("short") is None  # under the minimum: never created
        assert emulator.state.counters["cache_creates"] == 3
    finally:
        await caches.aclose()
        await client.aio.aclose()
    # both created caches are deleted on close, the renewed one too
    assert emulator.state.caches.live() == [] and emulator.state.counters["cache_deletes"] == 2


async def test_the_emulator_enforces_the_services_caching_rules(emulator: RunningEmulator) -> None:
    client = client_for(emulator)
    system = "You classify jobs. " * 1000
    schema = {"type": "OBJECT", "properties": {"searchable_jobs": {"type": "ARRAY"}}}
    try:
        cache = await client.aio.caches.create(
            model=MODEL,
            config=types.CreateCachedContentConfig(system_instruction=system, ttl="60s"),
        )
        assert cache.name and cache.usage_metadata and cache.usage_metadata.total_token_count
        assert cache.expire_time is not None
        fetched = await client.aio.caches.get(name=cache.name)
        assert fetched.name == cache.name
        updated = await client.aio.caches.update(
            name=cache.name, config=types.UpdateCachedContentConfig(ttl="7200s")
        )
        assert updated.expire_time and updated.expire_time > cache.expire_time

        jobs_prompt = '--- JOBS ---\n{"id":"J1","ai_title":"Data Engineer"}\n--- END JOBS ---'
        answer = await client.aio.models.generate_content(
            model=MODEL,
            contents=jobs_prompt,
            config=types.GenerateContentConfig(
                cached_content=cache.name,
                response_mime_type="application/json",
                response_schema=schema,
            ),
        )
        usage = answer.usage_metadata
        assert usage and usage.cached_content_token_count == cache.usage_metadata.total_token_count

        # a request naming a cache must not set a system instruction too
        with pytest.raises(errors.ClientError) as both:
            await client.aio.models.generate_content(
                model=MODEL,
                contents=jobs_prompt,
                config=types.GenerateContentConfig(
                    cached_content=cache.name,
                    system_instruction="again",
                    response_mime_type="application/json",
                    response_schema=schema,
                ),
            )
        assert both.value.code == 400 and "CachedContent can not be used" in str(both.value)
        # nor use another model than the cache's
        with pytest.raises(errors.ClientError) as other_model:
            await client.aio.models.generate_content(
                model="gemini-3.5-flash",
                contents=jobs_prompt,
                config=types.GenerateContentConfig(
                    cached_content=cache.name,
                    response_mime_type="application/json",
                    response_schema=schema,
                ),
            )
        assert other_model.value.code == 400

        await client.aio.caches.delete(name=cache.name)
        with pytest.raises(errors.ClientError) as gone:
            await client.aio.caches.get(name=cache.name)
        assert gone.value.code == 403 and "CachedContent not found" in str(gone.value)
        with pytest.raises(errors.ClientError) as too_small:
            await client.aio.caches.create(
                model=MODEL, config=types.CreateCachedContentConfig(system_instruction="tiny")
            )
        assert too_small.value.code == 400 and "Cached content is too small" in str(too_small.value)
    finally:
        await client.aio.aclose()


def test_settings_read_the_caching_switch_and_ttl() -> None:
    settings = GeminiSettings.from_env(
        {"GEMINI_CONTEXT_CACHE": "false", "GEMINI_CONTEXT_CACHE_TTL_S": "900"}
    )
    assert settings.context_cache is False and settings.context_cache_ttl_s == 900
    assert GeminiSettings.from_env({}).context_cache is True

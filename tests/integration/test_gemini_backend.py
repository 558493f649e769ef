"""The Gemini backend drives the real google-genai client against the emulator on loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import replace
from typing import Any, TypeAlias

import aiohttp
import pytest

from emulators.gemini import RunningEmulator, create_app, serve
from schemas.profile import AudienceProfile, load_profile
from schemas.records import Enrichment, JobPosting, Salary, SalaryPeriod
from schemas.taxonomy import Taxonomy, load_taxonomy
from services.enricher.backends.base import EnrichmentOutcome
from services.enricher.backends.gemini.backend import GeminiBackend, GeminiSettings
from services.enricher.backends.gemini.budget import CallGate
from services.enricher.backends.gemini.retry import GeminiUnavailableError
from services.shared.failures import is_retriable

SOFTWARE = 4  # LinkedIn "Software Development"
HOSPITALS = 2081  # LinkedIn "Hospitals"


class StubOffline:
    """A deterministic stand-in for the offline backend: the title decides everything."""

    version = "stub"

    def __init__(self, taxonomy: Taxonomy) -> None:
        self._taxonomy = taxonomy

    async def enrich(self, jobs: Sequence[JobPosting]) -> list[EnrichmentOutcome]:
        return [EnrichmentOutcome(self._enrichment(job)) for job in jobs]

    def _enrichment(self, job: JobPosting) -> Enrichment:
        nurse = "nurse" in job.title.lower()
        industry = self._taxonomy.industries[HOSPITALS if nurse else SOFTWARE]
        function = next(iter(self._taxonomy.functions_for(industry.id)))
        return Enrichment(
            ai_title=job.title.title(),
            ai_description=f"{job.title} at {job.company_name}.",
            tags=("tag-a", "tag-b"),
            skills=("python",),
            salary=Salary(min=100, max=120, period=SalaryPeriod.YEARLY, currency="usd"),
            sector_id=industry.sector_id,
            industry_group_id=industry.group_id,
            industry_id=industry.id,
            confidence=30.0 if "cook" in job.title.lower() else 92.0,
            job_function_id=function.id,
            job_function_reasoning="stub",
        )

    async def aclose(self) -> None:
        return None


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


class RecordingSleep:
    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


@pytest.fixture
def sleeps() -> RecordingSleep:
    return RecordingSleep()


MakeBackend: TypeAlias = Callable[
    ..., GeminiBackend
]  # settings overrides -> a backend closed after


@pytest.fixture
async def make_backend(
    emulator: RunningEmulator,
    taxonomy: Taxonomy,
    profile: AudienceProfile,
    sleeps: RecordingSleep,
) -> AsyncIterator[MakeBackend]:
    backends: list[GeminiBackend] = []

    def make(**overrides: Any) -> GeminiBackend:
        settings = GeminiSettings(
            api_key="test-key",
            base_url=emulator.base_url,
            batch_size=3,
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
            rand=lambda: 0.5,
        )
        backends.append(backend)
        return backend

    yield make
    for backend in backends:
        await backend.aclose()


def jobs(*titles: str) -> list[JobPosting]:
    return [
        JobPosting(title=title, company_name="Acme", description_html=f"We hire a {title}. " * 5)
        for title in titles
    ]


async def arm(emulator: RunningEmulator, **fault: Any) -> None:
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{emulator.base_url}/__admin/faults", json=fault) as response,
    ):
        assert response.status == 200, await response.text()


def enrich_requests(emulator: RunningEmulator) -> list[dict[str, Any]]:
    return [r for r in emulator.state.requests if r["stage"] == "enriched_jobs"]


async def test_happy_path_enriches_every_job_with_taxonomy_names(
    make_backend: MakeBackend, emulator: RunningEmulator
) -> None:
    backend = make_backend()
    outcomes = await backend.enrich(jobs("software engineer", "registered nurse", "line cook"))

    assert [o.error for o in outcomes] == [None, None, None]
    engineer, nurse, cook = (o.enrichment for o in outcomes)
    assert engineer is not None and nurse is not None and cook is not None
    assert (engineer.ai_title, engineer.industry) == ("Software Engineer", "Software Development")
    assert nurse.industry == "Hospitals" and nurse.sector == "Hospitals and Health Care"
    assert engineer.job_function and engineer.job_function_id is not None
    assert engineer.salary == Salary(min=100, max=120, period=SalaryPeriod.YEARLY, currency="USD")
    # stage 3 for every enriched job: a reviewer or a feed's bypass may publish any of them
    assert engineer.searchable_text and "python" in engineer.searchable_text
    assert cook.confidence < 50 and cook.searchable_text
    assert all(o.complete for o in outcomes)


async def test_tokens_and_calls_per_job_add_up_to_what_the_api_reported(
    make_backend: MakeBackend, emulator: RunningEmulator
) -> None:
    outcomes = await make_backend().enrich(jobs("a engineer", "b engineer", "c nurse", "d cook"))

    counters = emulator.state.counters
    assert sum(o.input_tokens for o in outcomes) == counters["prompt_tokens"]
    assert sum(o.output_tokens for o in outcomes) == counters["candidates_tokens"]
    assert sum(o.llm_calls for o in outcomes) == counters["requests"]
    assert all(o.input_tokens > 0 and o.output_tokens > 0 for o in outcomes)


async def test_system_prompt_is_byte_identical_across_batch_sizes_and_gets_cached(
    make_backend: MakeBackend, emulator: RunningEmulator
) -> None:
    await make_backend(batch_size=2).enrich(jobs("a engineer", "b engineer", "c engineer"))

    stage_one = enrich_requests(emulator)
    assert sorted(len(r["ids"]) for r in stage_one) == [1, 2]
    assert len({r["system_sha256"] for r in stage_one}) == 1
    assert emulator.state.counters["cached_tokens"] > 0


async def test_rate_limit_honours_the_retry_hint_then_succeeds(
    make_backend: MakeBackend, emulator: RunningEmulator, sleeps: RecordingSleep
) -> None:
    await arm(emulator, kind="rate_limit", stage="enriched_jobs", retry_delay_s=0.25)
    outcomes = await make_backend().enrich(jobs("software engineer"))

    assert outcomes[0].succeeded
    assert sleeps.delays == [0.25]  # the hint beats the 0.01 s backoff
    assert len(enrich_requests(emulator)) == 2
    assert emulator.state.counters["fault_rate_limit"] == 1
    assert outcomes[0].llm_calls == emulator.state.counters["requests"]


async def test_persistent_503_after_bounded_attempts_pauses_instead_of_failing_the_jobs(
    make_backend: MakeBackend, emulator: RunningEmulator, sleeps: RecordingSleep
) -> None:
    # Gemini down is an outage, not the jobs' fault: the enricher's stage pauses and tries
    # the batch again later (services.shared.agents); no job is marked failed.
    await arm(emulator, kind="unavailable", times=None)
    with pytest.raises(GeminiUnavailableError) as raised:
        await make_backend(max_attempts=3).enrich(jobs("a engineer", "b engineer"))

    reason = str(raised.value)
    assert "503" in reason and "after 3 attempts" in reason and reason.startswith("enriched_jobs")
    assert is_retriable(raised.value)
    assert len(enrich_requests(emulator)) == 3
    assert sleeps.delays == pytest.approx([0.0075, 0.015])  # exponential, jitter fixed at 0.5


async def test_503_once_is_retried(make_backend: MakeBackend, emulator: RunningEmulator) -> None:
    await arm(emulator, kind="unavailable")
    outcomes = await make_backend().enrich(jobs("a engineer"))

    assert outcomes[0].succeeded and outcomes[0].llm_calls >= 2


async def test_slow_answer_times_out_and_the_retry_succeeds(
    make_backend: MakeBackend, emulator: RunningEmulator
) -> None:
    await arm(emulator, kind="slow", delay_s=0.5, stage="enriched_jobs")
    outcomes = await make_backend(request_timeout_s=0.1).enrich(jobs("a engineer"))

    assert outcomes[0].succeeded
    assert len(enrich_requests(emulator)) == 2


async def test_always_slow_pauses_with_a_timeout_reason(
    make_backend: MakeBackend, emulator: RunningEmulator
) -> None:
    await arm(emulator, kind="slow", delay_s=0.4, times=None)
    with pytest.raises(GeminiUnavailableError, match="timed out"):
        await make_backend(request_timeout_s=0.1, max_attempts=2).enrich(jobs("a engineer"))


async def test_malformed_json_is_retried_then_fails_with_a_reason(
    make_backend: MakeBackend, emulator: RunningEmulator
) -> None:
    await arm(emulator, kind="malformed_json", times=None)
    outcomes = await make_backend(max_attempts=2).enrich(jobs("a engineer", "b engineer"))

    assert all(o.error and "malformed response" in o.error for o in outcomes)
    assert len(enrich_requests(emulator)) == 2


async def test_malformed_json_once_recovers(
    make_backend: MakeBackend, emulator: RunningEmulator
) -> None:
    await arm(emulator, kind="malformed_json")
    outcomes = await make_backend().enrich(jobs("a engineer", "b engineer"))

    assert all(o.succeeded for o in outcomes)


async def test_missing_item_is_retried_alone_and_the_rest_kept(
    make_backend: MakeBackend, emulator: RunningEmulator
) -> None:
    await arm(emulator, kind="drop_items", count=1, stage="enriched_jobs")
    outcomes = await make_backend().enrich(jobs("a engineer", "b engineer", "c engineer"))

    assert all(o.succeeded for o in outcomes)
    assert [r["ids"] for r in enrich_requests(emulator)] == [["J1", "J2", "J3"], ["J3"]]


async def test_unknown_id_never_lands_on_another_job(
    make_backend: MakeBackend, emulator: RunningEmulator
) -> None:
    await arm(emulator, kind="unknown_id", title_contains="beta", stage="enriched_jobs")
    outcomes = await make_backend().enrich(jobs("alpha engineer", "beta nurse", "gamma engineer"))

    assert [r["ids"] for r in enrich_requests(emulator)] == [["J1", "J2", "J3"], ["J2"]]
    nurse = outcomes[1].enrichment
    assert nurse is not None and nurse.industry == "Hospitals"


async def test_persistently_bad_taxonomy_id_fails_only_that_job(
    make_backend: MakeBackend, emulator: RunningEmulator
) -> None:
    await arm(emulator, kind="bad_ids", title_contains="beta", stage="enriched_jobs", times=None)
    outcomes = await make_backend().enrich(jobs("alpha engineer", "beta engineer", "gamma nurse"))

    assert [o.succeeded for o in outcomes] == [True, False, True]
    assert outcomes[1].error == (
        "enrichment: unknown industry_id 999999999; retried alone: unknown industry_id 999999999"
    )
    assert [r["ids"] for r in enrich_requests(emulator)] == [["J1", "J2", "J3"], ["J2"]]


async def test_bad_job_function_id_is_caught_by_validation(
    make_backend: MakeBackend, emulator: RunningEmulator
) -> None:
    await arm(emulator, kind="bad_ids", stage="selections", times=None)
    outcomes = await make_backend().enrich(jobs("alpha engineer"))

    assert outcomes[0].error is not None
    assert "job function: job_function_id 999999999 is not allowed" in outcomes[0].error


async def test_token_limit_splits_the_batch_until_it_fits(
    make_backend: MakeBackend, emulator: RunningEmulator
) -> None:
    await arm(emulator, kind="token_limit", max_items=1, times=None)
    outcomes = await make_backend(batch_size=4).enrich(jobs("a eng", "b eng", "c eng", "d eng"))

    assert all(o.succeeded for o in outcomes)
    sizes = sorted(len(r["ids"]) for r in enrich_requests(emulator))
    assert sizes == [1, 1, 1, 1, 2, 2, 4]


async def test_single_job_over_the_token_limit_fails_with_that_reason(
    make_backend: MakeBackend, emulator: RunningEmulator
) -> None:
    await arm(emulator, kind="token_limit", max_items=0, times=None)
    outcomes = await make_backend().enrich(jobs("a engineer", "b engineer"))

    assert all(o.error and "exceeds the model's token limit" in o.error for o in outcomes)


async def test_truncated_output_is_split_like_a_token_limit(
    make_backend: MakeBackend, emulator: RunningEmulator
) -> None:
    await arm(emulator, kind="truncated", stage="enriched_jobs")
    outcomes = await make_backend().enrich(jobs("a engineer", "b engineer"))

    assert all(o.succeeded for o in outcomes)
    assert [len(r["ids"]) for r in enrich_requests(emulator)] == [2, 1, 1]


async def test_stage_two_shares_prompts_between_industries_with_the_same_functions(
    make_backend: MakeBackend, emulator: RunningEmulator
) -> None:
    # the bundled taxonomy lets every industry use every function: one list, one prompt
    await make_backend(batch_size=10).enrich(jobs("a engineer", "b nurse", "c engineer", "d nurse"))

    selections = [r for r in emulator.state.requests if r["stage"] == "selections"]
    assert [sorted(r["ids"]) for r in selections] == [["J1", "J2", "J3", "J4"]]


async def test_stage_two_prompts_carry_only_the_functions_each_industry_allows(
    emulator: RunningEmulator, taxonomy: Taxonomy, profile: AudienceProfile
) -> None:
    functions = sorted(taxonomy.functions)
    narrowed = replace(
        taxonomy, allowed={SOFTWARE: frozenset(functions[:5]), HOSPITALS: frozenset(functions[5:9])}
    )
    settings = GeminiSettings(api_key="k", base_url=emulator.base_url, batch_size=10)
    backend = GeminiBackend(settings, narrowed, profile, gate=CallGate.create(4, 1000, 10**7))
    try:
        outcomes = await backend.enrich(jobs("a engineer", "b nurse", "c engineer", "d nurse"))
    finally:
        await backend.aclose()

    selections = [r for r in emulator.state.requests if r["stage"] == "selections"]
    assert sorted(r["ids"] for r in selections) == [["J1", "J3"], ["J2", "J4"]]
    chosen = [o.enrichment.job_function_id for o in outcomes if o.enrichment]
    assert chosen[0] in functions[:5] and chosen[1] in functions[5:9]


async def test_a_refused_api_key_is_not_retried(
    taxonomy: Taxonomy, profile: AudienceProfile, sleeps: RecordingSleep
) -> None:
    async with serve(create_app(StubOffline(taxonomy), api_key="right")) as emulator:
        settings = GeminiSettings(api_key="wrong", base_url=emulator.base_url, max_attempts=3)
        backend = GeminiBackend(settings, taxonomy, profile, sleep=sleeps)
        try:
            outcomes = await backend.enrich(jobs("a engineer"))
        finally:
            await backend.aclose()

    assert outcomes[0].error is not None and "403" in outcomes[0].error
    assert emulator.state.counters["status_403"] == 1 and sleeps.delays == []


async def test_failed_searchable_text_keeps_the_job_enriched(
    make_backend: MakeBackend, emulator: RunningEmulator
) -> None:
    await arm(emulator, kind="malformed_json", stage="searchable_jobs", times=None)
    outcomes = await make_backend(max_attempts=1).enrich(jobs("a engineer"))

    enrichment = outcomes[0].enrichment
    assert enrichment is not None and enrichment.job_function  # stages 1 and 2 still count
    # indexed on its stage-1 keywords for now…
    keywords = [enrichment.ai_title, *enrichment.tags, *enrichment.search_terms]
    assert (
        enrichment.searchable_text and enrichment.searchable_text.split(", ")[:3] == (keywords[:3])
    )
    # …but the enrichment is not whole, so it is never cached as a success
    assert not outcomes[0].complete
    assert outcomes[0].incomplete and outcomes[0].incomplete.startswith("searchable text: ")


async def test_version_names_model_taxonomy_and_profile(make_backend: MakeBackend) -> None:
    lite = make_backend()
    other = make_backend(model="gemini-3.1-flash-lite")
    assert lite.version.startswith("gemini:gemini-3.5-flash-lite:prompts-")
    assert "taxonomy-v1-" in lite.version and "profile-morning-brew-v1" in lite.version
    assert other.version != lite.version
    assert make_backend(batch_size=50).version == lite.version  # batching is not content

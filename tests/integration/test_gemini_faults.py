"""What the real Gemini service does and the backend must survive, each through the real
google-genai client against the emulator, with its outcome named: retried, split, paused,
or failed with a reason (a failed job goes to manual review with that reason; see
test_gemini_refusals_stack.py for the whole way)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from typing import Any, TypeAlias

import aiohttp
import pytest

from emulators.gemini import RunningEmulator, create_app, serve
from schemas import topics
from schemas.codec import CODEC
from schemas.profile import AudienceProfile, load_profile
from schemas.records import JobPosting, RawJob, Record
from schemas.taxonomy import Taxonomy, load_taxonomy
from schemas.topics import TopicSpec
from services.enricher.backends.gemini.backend import GeminiBackend, GeminiSettings
from services.enricher.backends.gemini.budget import CallGate
from services.enricher.backends.gemini.retry import (
    PER_MINUTE_WINDOW_S,
    GeminiUnavailableError,
    QuotaExhaustedError,
    QuotaHold,
)
from services.shared.agents import Batch, BatchBody, Delivery
from services.shared.failures import is_retriable
from services.shared.health import Stage
from tests.integration.test_gemini_backend import (
    RecordingSleep,
    StubOffline,
    arm,
    enrich_requests,
    jobs,
)


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


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


MakeBackend: TypeAlias = Callable[..., GeminiBackend]


@pytest.fixture
async def make_backend(
    emulator: RunningEmulator,
    taxonomy: Taxonomy,
    profile: AudienceProfile,
    sleeps: RecordingSleep,
    clock: FakeClock,
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
            hold=QuotaHold(clock),
        )
        backends.append(backend)
        return backend

    yield make
    for backend in backends:
        await backend.aclose()


# --- refusals: split until the job is alone, then it fails with Gemini's reason ---------


@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        ({"kind": "blocked_prompt"}, "prompt blocked by Gemini (blockReason SAFETY)"),
        (
            {"kind": "blocked_prompt", "block_reason": "PROHIBITED_CONTENT"},
            "prompt blocked by Gemini (blockReason PROHIBITED_CONTENT)",
        ),
        ({"kind": "safety"}, "answer stopped by Gemini (finishReason SAFETY)"),
        ({"kind": "recitation"}, "answer stopped by Gemini (finishReason RECITATION)"),
    ],
)
async def test_a_refused_job_is_split_out_and_fails_alone_with_the_reason(
    make_backend: MakeBackend,
    emulator: RunningEmulator,
    sleeps: RecordingSleep,
    fault: dict[str, Any],
    reason: str,
) -> None:
    await arm(emulator, **fault, title_contains="beta", stage="enriched_jobs", times=None)
    outcomes = await make_backend().enrich(jobs("alpha engineer", "beta engineer", "gamma nurse"))

    assert [o.succeeded for o in outcomes] == [True, False, True]
    assert outcomes[1].error == f"enrichment: {reason}"
    # split: the batch is halved until the refused job is alone; never retried as it was
    assert sorted(r["ids"] for r in enrich_requests(emulator)) == [
        ["J1"],
        ["J1", "J2", "J3"],
        ["J2"],
        ["J2", "J3"],
        ["J3"],
    ]
    assert sleeps.delays == []
    # no stage 2 or 3 for the refused job, and every request is charged to a job
    assert all(
        "J2" not in r["ids"] for r in emulator.state.requests if r["stage"] != "enriched_jobs"
    )
    assert sum(o.llm_calls for o in outcomes) == emulator.state.counters["requests"]


async def test_a_refusal_in_a_later_stage_fails_only_that_stage_of_that_job(
    make_backend: MakeBackend, emulator: RunningEmulator
) -> None:
    await arm(emulator, kind="safety", title_contains="beta", stage="selections", times=None)
    outcomes = await make_backend().enrich(jobs("alpha engineer", "beta engineer"))

    assert outcomes[0].succeeded
    assert outcomes[1].error == "job function: answer stopped by Gemini (finishReason SAFETY)"


async def test_a_refusal_once_is_gone_after_the_split(
    make_backend: MakeBackend, emulator: RunningEmulator
) -> None:
    # a refusal is not always deterministic (recitation): the halves are asked afresh
    await arm(emulator, kind="recitation", stage="enriched_jobs")
    outcomes = await make_backend().enrich(jobs("a engineer", "b engineer"))

    assert all(o.succeeded for o in outcomes)
    assert [len(r["ids"]) for r in enrich_requests(emulator)] == [2, 1, 1]


# --- thought parts: read past, counted as output -----------------------------------------


async def test_thought_parts_are_ignored_when_reading_the_answer_and_billed_as_output(
    make_backend: MakeBackend, emulator: RunningEmulator
) -> None:
    await arm(emulator, kind="thoughts", times=None)
    outcomes = await make_backend().enrich(jobs("software engineer", "registered nurse"))

    assert all(o.complete for o in outcomes), [o.error for o in outcomes]
    assert len(enrich_requests(emulator)) == 1  # read at the first try: no retry, no split
    counters = emulator.state.counters
    assert counters["fault_thoughts"] == counters["requests"] and counters["thoughts_tokens"] > 0
    # output and thinking are counted apart, and both are billed at the output price
    assert sum(o.output_tokens for o in outcomes) == counters["candidates_tokens"]
    thinking = sum(used.thinking for o in outcomes for used in o.usage.values())
    assert thinking == counters["thoughts_tokens"]


# --- transport and quota errors: retried, paused -----------------------------------------


@pytest.mark.parametrize(
    ("status", "content_type"),
    [(502, "text/html"), (502, "application/json"), (503, "text/plain"), (200, "text/html")],
)
async def test_a_non_json_body_is_retried(
    make_backend: MakeBackend, emulator: RunningEmulator, status: int, content_type: str
) -> None:
    # a 200 too: a proxy or captive portal answering in Gemini's place
    await arm(emulator, kind="non_json_error", status=status, content_type=content_type)
    outcomes = await make_backend().enrich(jobs("a engineer"))

    assert outcomes[0].succeeded  # retried
    assert len(enrich_requests(emulator)) == 2


@pytest.mark.parametrize("content_type", ["text/html", "application/json"])
async def test_non_json_5xx_bodies_for_good_pause_with_a_short_reason(
    make_backend: MakeBackend, emulator: RunningEmulator, content_type: str
) -> None:
    await arm(emulator, kind="non_json_error", content_type=content_type, times=None)
    with pytest.raises(GeminiUnavailableError) as raised:
        await make_backend(max_attempts=2).enrich(jobs("a engineer"))

    reason = str(raised.value)
    assert is_retriable(raised.value) and "after 2 attempts" in reason
    assert "<" not in reason and len(reason) < 500, reason  # no HTML page in the reason
    if content_type == "text/html":
        assert "HTTP 502" in reason and "That's an error." in reason
    else:
        assert "unreadable response" in reason


async def test_a_429_without_a_retry_hint_is_retried_on_the_backoff(
    make_backend: MakeBackend, emulator: RunningEmulator, sleeps: RecordingSleep
) -> None:
    await arm(emulator, kind="rate_limit", retry_delay_s=None, times=2)
    outcomes = await make_backend(max_attempts=4).enrich(jobs("a engineer"))

    assert outcomes[0].succeeded  # retried
    assert sleeps.delays == pytest.approx([0.0075, 0.015])  # exponential, no hint to honour
    assert len(enrich_requests(emulator)) == 3


async def test_a_daily_quota_pauses_every_call_until_the_quota_is_back(
    make_backend: MakeBackend, emulator: RunningEmulator, sleeps: RecordingSleep, clock: FakeClock
) -> None:
    await arm(emulator, kind="daily_quota", retry_delay_s=20_000, times=None)
    backend = make_backend(max_attempts=4)

    with pytest.raises(QuotaExhaustedError) as raised:
        await backend.enrich(jobs("a engineer", "b engineer", "c engineer"))
    # paused, not hammered: asked once, no retry waits
    assert is_retriable(raised.value) and "quota exhausted: HTTP 429" in str(raised.value)
    assert sleeps.delays == []
    first = len(enrich_requests(emulator))
    assert first == 1

    # the agent tries its batch again a few seconds later: still no call to Gemini
    clock.now += 60
    with pytest.raises(QuotaExhaustedError, match=r"no Gemini calls for 19\d\d\ds more"):
        await backend.enrich(jobs("a engineer"))
    assert len(enrich_requests(emulator)) == first

    # once the hint has passed, calls resume
    emulator.state.faults.clear()
    clock.now += 20_000
    outcomes = await backend.enrich(jobs("a engineer"))
    assert outcomes[0].succeeded


async def test_a_daily_quota_named_without_a_long_hint_pauses_until_the_quota_day_ends(
    make_backend: MakeBackend, emulator: RunningEmulator, clock: FakeClock
) -> None:
    await arm(emulator, kind="daily_quota", retry_delay_s=5, times=None)
    backend = make_backend()
    with pytest.raises(QuotaExhaustedError, match="quota exhausted"):
        await backend.enrich(jobs("a engineer"))
    clock.now += PER_MINUTE_WINDOW_S + 5  # the short hint is over, the day is not
    with pytest.raises(QuotaExhaustedError):
        await backend.enrich(jobs("a engineer"))
    assert len(enrich_requests(emulator)) == 1


async def test_a_per_minute_429_is_still_retried_not_paused(
    make_backend: MakeBackend, emulator: RunningEmulator, sleeps: RecordingSleep
) -> None:
    await arm(emulator, kind="rate_limit", retry_delay_s=PER_MINUTE_WINDOW_S)
    outcomes = await make_backend(backoff_max_s=120.0).enrich(jobs("a engineer"))

    assert outcomes[0].succeeded and sleeps.delays == [PER_MINUTE_WINDOW_S]


# --- a schema the model rejects: a clear failure, asked once ------------------------------


async def test_a_rejected_schema_fails_every_job_at_once_with_that_reason(
    make_backend: MakeBackend, emulator: RunningEmulator, sleeps: RecordingSleep
) -> None:
    await arm(emulator, kind="schema_rejected", stage="enriched_jobs", times=None)
    outcomes = await make_backend(batch_size=2).enrich(jobs("a eng", "b eng", "c eng"))

    assert all(o.error for o in outcomes)
    assert all(
        o.error
        and o.error.startswith("enrichment: Gemini rejected the response schema: HTTP 400")
        and "too many states" in o.error
        for o in outcomes
    )
    # failed, not retried and not split: one request per batch
    assert sorted(len(r["ids"]) for r in enrich_requests(emulator)) == [1, 2]
    assert sleeps.delays == []


async def test_emulator_fault_specs_for_the_new_kinds_are_checked(
    emulator: RunningEmulator,
) -> None:
    async with aiohttp.ClientSession() as http:
        bad = await http.post(
            f"{emulator.base_url}/__admin/faults",
            json={"kind": "daily_quota", "retry_delay_s": None},
        )
        assert bad.status == 400
        good = await http.post(f"{emulator.base_url}/__admin/faults", json={"kind": "daily_quota"})
        assert good.status == 200
        armed = (await good.json())["armed"][0]
    assert armed["retry_delay_s"] > PER_MINUTE_WINDOW_S * 60


async def test_the_enricher_stage_stays_paused_on_a_daily_quota_without_calling_gemini(
    make_backend: MakeBackend, emulator: RunningEmulator, clock: FakeClock
) -> None:
    """The agent around the backend: its quick retries of the batch cost no request, it is
    paused (not failing, not dead-lettering) until the quota is back, then carries on."""
    await arm(emulator, kind="daily_quota", retry_delay_s=20_000, times=None)
    backend = make_backend()
    stage = Stage("enricher", assigned=True)
    paused_reasons: list[str | None] = []

    async def handle(batch: Batch) -> None:
        outcomes = await backend.enrich(
            [record.job for _, record in batch if isinstance(record, RawJob)]
        )
        assert all(o.complete for o in outcomes)

    async def agent_sleep(delay: float) -> None:
        paused_reasons.append(stage.paused_for)
        clock.now += delay
        if len(paused_reasons) == 30:  # hours later: the quota is back
            emulator.state.faults.clear()
            clock.now += 20_000

    sender = NoSends()
    body = BatchBody("enrich", handle, sender, stage, sleep=agent_sleep)
    await body([job_message(1, "a engineer"), job_message(2, "b nurse")])

    assert len(paused_reasons) == 30 and all(
        reason and "quota exhausted" in reason for reason in paused_reasons
    )
    # one request hit the spent quota; the next went out once it was back
    assert len(enrich_requests(emulator)) == 2 and emulator.state.counters["fault_daily_quota"] == 1
    assert stage.paused_for is None and sender.sent == 0  # resumed, nothing dead-lettered


class NoSends:
    sent = 0

    async def send_now(self, spec: TopicSpec, key: str, record: Record) -> None:
        self.sent += 1


def job_message(seq: int, title: str) -> Delivery:
    posting = JobPosting(title=title, company_name="Acme", description_html=f"We hire a {title}.")
    raw = RawJob(run_id="r", feed_id=1, seq=seq, job_hash=f"h{seq}", dedupe_key="k", job=posting)
    return Delivery(topics.JOBS_RAW.name, 0, seq, b"k", CODEC.encode(raw, source="test"))

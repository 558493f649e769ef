"""The Gemini emulator: answers from the offline backend, the REST surface, admin endpoints."""

from __future__ import annotations

import asyncio
import socket
import sys
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from emulators.gemini import RunningEmulator, create_app, serve
from schemas.profile import load_profile
from schemas.records import JobPosting
from schemas.taxonomy import load_taxonomy
from services.enricher.backends.gemini.backend import GeminiBackend, GeminiSettings
from services.enricher.backends.gemini.budget import CallGate
from services.enricher.backends.offline.backend import OfflineBackend


@pytest.fixture(scope="module")
def offline() -> OfflineBackend:
    return OfflineBackend(load_taxonomy(), load_profile())


@pytest.fixture
async def emulator(offline: OfflineBackend) -> AsyncIterator[RunningEmulator]:
    async with serve(create_app(offline)) as running:
        yield running


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def generate_body(user: str) -> dict[str, Any]:
    return {
        "contents": [{"role": "user", "parts": [{"text": user}]}],
        "systemInstruction": {"parts": [{"text": "system"}]},
        "generationConfig": {
            "responseMimeType": "application/json",
            "responseSchema": {"type": "OBJECT", "properties": {"searchable_jobs": {}}},
        },
    }


JOB_LINES = (
    '--- JOBS ---\n{"id":"J1","ai_title":"Data Engineer","skills":["SQL"]}\n--- END JOBS ---'
)

JOBS = [
    JobPosting(
        title="Senior Software Engineer",
        company_name="Acme Software",
        description_html="Build our SaaS platform in Python and Go. Salary $150,000 - $180,000.",
    ),
    JobPosting(
        title="Registered Nurse - ICU",
        company_name="St. Mary Hospital",
        description_html="Provide critical patient care in our intensive care unit.",
    ),
    JobPosting(
        title="Line Cook",
        company_name="Joe's Diner",
        description_html="Prepare breakfast and lunch orders on the grill.",
    ),
]


async def test_answers_come_from_the_offline_backend(
    emulator: RunningEmulator, offline: OfflineBackend
) -> None:
    settings = GeminiSettings(api_key="k", base_url=emulator.base_url)
    backend = GeminiBackend(
        settings, load_taxonomy(), load_profile(), gate=CallGate.create(4, 100, 10**7)
    )
    try:
        via_gemini = await backend.enrich(JOBS)
    finally:
        await backend.aclose()
    direct = await offline.enrich(JOBS)

    for through, local in zip(via_gemini, direct, strict=True):
        assert through.error is None and through.enrichment and local.enrichment
        assert through.enrichment.ai_title == local.enrichment.ai_title
        assert through.enrichment.industry_id == local.enrichment.industry_id
        assert through.enrichment.confidence == local.enrichment.confidence
        assert through.enrichment.job_function and through.enrichment.searchable_text
    assert emulator.state.counters["stage_selections"] >= 1


async def test_generate_content_speaks_the_v1beta_wire_format(
    emulator: RunningEmulator, http: aiohttp.ClientSession
) -> None:
    url = f"{emulator.base_url}/v1beta/models/gemini-3.1-flash-lite:generateContent"
    async with http.post(url, json=generate_body(JOB_LINES)) as response:
        assert response.status == 200
        body = await response.json()

    candidate = body["candidates"][0]
    assert candidate["finishReason"] == "STOP"
    assert candidate["content"]["parts"][0]["text"] == (
        '{"searchable_jobs":[{"id":"J1","searchable_text":"Data Engineer, SQL"}]}'
    )
    usage = body["usageMetadata"]
    assert usage["totalTokenCount"] == usage["promptTokenCount"] + usage["candidatesTokenCount"]
    assert "cachedContentTokenCount" not in usage  # first sight of this system prompt


async def test_rate_limit_fault_carries_retry_info_and_retry_after(
    emulator: RunningEmulator, http: aiohttp.ClientSession
) -> None:
    async with http.post(
        f"{emulator.base_url}/__admin/faults",
        json={"faults": [{"kind": "rate_limit", "retry_delay_s": 3}]},
    ) as armed:
        assert armed.status == 200
    url = f"{emulator.base_url}/v1/models/m:generateContent"
    async with http.post(url, json=generate_body(JOB_LINES)) as response:
        assert response.status == 429 and response.headers["Retry-After"] == "3"
        error = (await response.json())["error"]
    assert error["status"] == "RESOURCE_EXHAUSTED"
    assert error["details"][0]["retryDelay"] == "3s"


async def test_admin_refuses_bad_faults_and_reset_clears_everything(
    emulator: RunningEmulator, http: aiohttp.ClientSession
) -> None:
    base = emulator.base_url
    async with http.post(f"{base}/__admin/faults", json={"kind": "meteor"}) as refused:
        assert refused.status == 400
    async with http.post(f"{base}/__admin/faults", json={"kind": "unavailable", "times": None}):
        pass
    async with http.post(f"{base}/v1/models/m:generateContent", json=generate_body(JOB_LINES)):
        pass
    async with http.get(f"{base}/__admin/counters") as response:
        assert (await response.json())["fault_unavailable"] == 1
    async with http.post(f"{base}/__admin/reset"):
        pass
    async with http.get(f"{base}/__admin/counters") as response:
        assert await response.json() == {}
    async with http.get(f"{base}/__admin/faults") as response:
        assert (await response.json())["faults"] == []


async def test_unknown_methods_and_bodies_get_googles_errors(
    emulator: RunningEmulator, http: aiohttp.ClientSession
) -> None:
    async with http.post(f"{emulator.base_url}/v1/models/m:countTokens", json={}) as response:
        assert response.status == 404
    url = f"{emulator.base_url}/v1/models/m:generateContent"
    async with http.post(url, data=b"{not json") as response:
        assert response.status == 400
        assert (await response.json())["error"]["status"] == "INVALID_ARGUMENT"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def test_the_command_line_entry_point_serves(http: aiohttp.ClientSession) -> None:
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "emulators.gemini", "--port", str(port)
    )
    try:
        assert await wait_healthy(http, f"http://127.0.0.1:{port}/healthz")
    finally:
        process.terminate()
        await process.wait()


async def wait_healthy(http: aiohttp.ClientSession, url: str) -> bool:
    for _ in range(200):
        try:
            async with http.get(url) as response:
                return response.status == 200
        except aiohttp.ClientConnectionError:
            await asyncio.sleep(0.05)
    return False

"""Defaults that fit the current models, as the real google-genai client sends them."""

from __future__ import annotations

import pytest

from emulators.gemini import create_app, serve
from schemas.profile import load_profile
from schemas.records import JobPosting
from schemas.taxonomy import load_taxonomy
from services.enricher.backends.gemini.backend import GeminiBackend, GeminiSettings
from services.enricher.backends.gemini.settings import DEFAULT_MODEL
from services.shared.settings import SettingsError
from tests.gemini_wiretap import Wiretap

JOB = JobPosting(
    title="Registered Nurse",
    company_name="Mercy General Hospital",
    description_html="We are hiring a registered nurse for our hospital. " * 4,
    application_url="https://example.com/apply",
)


async def _generation_configs(env: dict[str, str]) -> tuple[list[str], list[dict[str, object]]]:
    tap = Wiretap()
    async with serve(tap.install(create_app())) as emulator:
        settings = GeminiSettings.from_env(
            {"GEMINI_API_KEY": "k", "GEMINI_BASE_URL": emulator.base_url, **env}
        )
        backend = GeminiBackend(settings, load_taxonomy(), load_profile())
        try:
            outcomes = await backend.enrich([JOB])
        finally:
            await backend.aclose()
    assert outcomes[0].enrichment is not None
    configs = [tapped.body.get("generationConfig", {}) for tapped in tap.requests]
    return [tapped.model for tapped in tap.requests], configs


async def test_temperature_is_the_models_own_unless_set() -> None:
    models, configs = await _generation_configs({})
    assert configs and all("temperature" not in config for config in configs)
    assert set(models) == {DEFAULT_MODEL}

    _, configs = await _generation_configs({"GEMINI_TEMPERATURE": "0.3"})
    assert configs and all(config.get("temperature") == 0.3 for config in configs)


async def test_the_model_is_a_setting() -> None:
    models, _ = await _generation_configs({"GEMINI_MODEL": "gemini-3.1-flash-lite"})
    assert set(models) == {"gemini-3.1-flash-lite"}


def test_default_model_is_a_ga_flash_lite() -> None:
    assert DEFAULT_MODEL == "gemini-3.5-flash-lite"
    assert GeminiSettings().model == DEFAULT_MODEL and GeminiSettings().temperature is None


@pytest.mark.parametrize("value", ["warm", "-0.1", "2.5"])
def test_a_temperature_outside_the_models_range_is_refused(value: str) -> None:
    with pytest.raises(SettingsError, match=r"(?i)temperature"):
        GeminiSettings.from_env({"GEMINI_TEMPERATURE": value})

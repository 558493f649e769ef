"""The enricher's batch size follows its backend unless the operator sets one."""

from __future__ import annotations

import pytest

from services.enricher.config import EnricherSettings
from services.shared.settings import SettingsError


def test_offline_batches_are_larger_than_gemini_prompts() -> None:
    assert EnricherSettings.from_env({}).batch_size == 500
    gemini = EnricherSettings.from_env({"GEMINI_API_KEY": "key"})
    assert (gemini.backend, gemini.batch_size) == ("gemini", 20)


def test_an_explicit_batch_size_wins_for_either_backend() -> None:
    for env in ({}, {"GEMINI_API_KEY": "key"}):
        assert EnricherSettings.from_env({**env, "ENRICH_BATCH_SIZE": "7"}).batch_size == 7


def test_the_gemini_backends_settings_are_read_with_the_enrichers_from_one_environment() -> None:
    settings = EnricherSettings.from_env(
        {"GEMINI_API_KEY": "key", "GEMINI_BATCH_SIZE": "7", "GEMINI_BASE_URL": "http://emu"}
    )
    assert settings.gemini is not None
    assert (settings.gemini.api_key, settings.gemini.batch_size) == ("key", 7)
    assert settings.gemini.base_url == "http://emu"


def test_offline_reads_no_gemini_settings() -> None:
    assert EnricherSettings.from_env({"GEMINI_BATCH_SIZE": "ten"}).gemini is None


def test_a_malformed_gemini_setting_is_refused_naming_its_variable() -> None:
    with pytest.raises(SettingsError, match="GEMINI_TPM"):
        EnricherSettings.from_env({"GEMINI_API_KEY": "key", "GEMINI_TPM": "lots"})

"""The enricher's batch size follows its backend unless the operator sets one."""

from __future__ import annotations

from services.enricher.config import EnricherSettings


def test_offline_batches_are_larger_than_gemini_prompts() -> None:
    assert EnricherSettings.from_env({}).batch_size == 100
    gemini = EnricherSettings.from_env({"GEMINI_API_KEY": "key"})
    assert (gemini.backend, gemini.batch_size) == ("gemini", 20)


def test_an_explicit_batch_size_wins_for_either_backend() -> None:
    for env in ({}, {"GEMINI_API_KEY": "key"}):
        assert EnricherSettings.from_env({**env, "ENRICH_BATCH_SIZE": "7"}).batch_size == 7

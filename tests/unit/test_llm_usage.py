"""Tokens by kind from Gemini's usage metadata, the cost ceiling setting, the report's note."""

from __future__ import annotations

from collections import Counter

import pytest
from google.genai import types

from schemas.usage import LLM_PAUSED, StageUsage, combined, overall
from services.enricher.backends.gemini.engine import _answer_of
from services.enricher.config import EnricherSettings
from services.router.handlers import RunTotals, paused_note
from services.shared.settings import SettingsError


def test_thinking_tokens_are_counted_apart_from_the_answer() -> None:
    response = types.GenerateContentResponse(
        candidates=[
            types.Candidate(
                content=types.Content(
                    parts=[types.Part(text="pondering", thought=True), types.Part(text="{}")]
                ),
                finish_reason=types.FinishReason.STOP,
            )
        ],
        usage_metadata=types.GenerateContentResponseUsageMetadata(
            prompt_token_count=1200,
            cached_content_token_count=800,
            candidates_token_count=90,
            thoughts_token_count=300,
        ),
    )
    answer = _answer_of(response)
    assert answer.text == "{}"  # the thought is not part of the answer
    assert (answer.input_tokens, answer.cached_tokens) == (1200, 800)
    assert (answer.output_tokens, answer.thinking_tokens) == (90, 300)
    assert answer.total_tokens == 1590


def test_an_answer_without_usage_metadata_counts_nothing() -> None:
    answer = _answer_of(types.GenerateContentResponse(candidates=[]))
    assert answer.tokens.input == answer.tokens.thinking == answer.total_tokens == 0


def test_usage_adds_up_by_stage_and_overall() -> None:
    a = {"enrichment": StageUsage(calls=1, input=10, cached_input=4, output=2, cost_usd=0.5)}
    b = {
        "enrichment": StageUsage(calls=1, input=5, thinking=3, cost_usd=0.25),
        "job_function": StageUsage(calls=2, input=1),
    }
    total = combined([a, b])
    assert total["enrichment"] == StageUsage(
        calls=2, input=15, cached_input=4, output=2, thinking=3, cost_usd=0.75
    )
    assert overall(total).calls == 4 and overall(total).tokens == 16 + 2 + 3


ENV = {"ENRICHMENT_BACKEND": "offline"}


def test_the_cost_ceiling_is_off_unless_set() -> None:
    assert EnricherSettings.from_env(ENV).run_cost_ceiling_usd is None
    settings = EnricherSettings.from_env({**ENV, "LLM_RUN_COST_CEILING_USD": "2.5"})
    assert settings.run_cost_ceiling_usd == 2.5


@pytest.mark.parametrize("value", ["0", "-1", "lots"])
def test_a_cost_ceiling_that_is_not_a_positive_amount_is_refused(value: str) -> None:
    with pytest.raises(SettingsError, match="LLM_RUN_COST_CEILING_USD"):
        EnricherSettings.from_env({**ENV, "LLM_RUN_COST_CEILING_USD": value})


def test_the_report_names_the_pause_only_when_jobs_were_held() -> None:
    assert paused_note(RunTotals(outcomes=Counter())) == []
    reason = f"{LLM_PAUSED}the run spent $0.0002 of its $0.0001 LLM cost ceiling"
    totals = RunTotals(outcomes=Counter(), llm_paused=1, llm_paused_reason=reason)
    assert paused_note(totals) == [
        "LLM calls paused: 1 job not enriched, the run spent $0.0002 of its $0.0001 LLM cost "
        "ceiling"
    ]

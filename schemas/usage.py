"""What LLM calls used, by kind of token, and what they cost: per stage, for a job or a run.

Token kinds as Gemini bills them: `input` is every prompt token (`cached_input` of them were
served from the context cache, billed at the cached rate), `output` the answer's tokens and
`thinking` the model's thought tokens (billed as output).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from pydantic import BaseModel, ConfigDict

TOKEN_KINDS = ("input", "cached_input", "output", "thinking")

# A job the enricher did not send to the LLM because its run reached its cost ceiling
# carries an error starting with this (the router names the pause in the run's report).
LLM_PAUSED = "LLM paused: "


class StageUsage(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    calls: int = 0
    input: int = 0
    cached_input: int = 0
    output: int = 0
    thinking: int = 0
    cost_usd: float = 0.0

    def __add__(self, other: StageUsage) -> StageUsage:
        return StageUsage(
            calls=self.calls + other.calls,
            input=self.input + other.input,
            cached_input=self.cached_input + other.cached_input,
            output=self.output + other.output,
            thinking=self.thinking + other.thinking,
            cost_usd=self.cost_usd + other.cost_usd,
        )

    @property
    def tokens(self) -> int:
        return self.input + self.output + self.thinking


Usage = Mapping[str, StageUsage]  # stage name -> what its calls used


def combined(usages: Iterable[Usage]) -> dict[str, StageUsage]:
    """Stage by stage sums."""
    total: dict[str, StageUsage] = {}
    for usage in usages:
        for stage, used in usage.items():
            total[stage] = total.get(stage, StageUsage()) + used
    return total


def overall(usage: Usage) -> StageUsage:
    """All stages together."""
    return sum(usage.values(), StageUsage())

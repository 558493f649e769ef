"""The interface every enrichment backend implements, and the shape of its answers."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from schemas.records import Enrichment, JobPosting
from schemas.usage import StageUsage


@dataclass(frozen=True, slots=True)
class EnrichmentOutcome:
    """The result for one job: an enrichment, or the reason there is none."""

    enrichment: Enrichment | None
    error: str | None = None
    # why a usable enrichment is not whole (a later stage failed): it is used, never cached
    incomplete: str | None = None
    llm_calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    # by stage: tokens of each kind and their cost (schemas/usage.py); empty without an LLM
    usage: dict[str, StageUsage] = field(default_factory=dict)

    @property
    def succeeded(self) -> bool:
        return self.enrichment is not None

    @property
    def complete(self) -> bool:
        return self.enrichment is not None and self.incomplete is None


class EnrichmentBackend(Protocol):
    """Enriches jobs in batches; answers one outcome per job, in input order."""

    @property
    def version(self) -> str:
        """Identifies model, prompts, taxonomy and profile: a change re-enriches cached jobs."""
        ...

    async def enrich(self, jobs: Sequence[JobPosting]) -> list[EnrichmentOutcome]: ...

    async def aclose(self) -> None: ...

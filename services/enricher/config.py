"""Enricher settings, read once from the environment."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from services.enricher.backends.gemini.settings import GeminiSettings
from services.enricher.trust import DEFAULT_MAX_CONFIDENCE_GAP
from services.shared.settings import (
    Secret,
    SettingsError,
    StreamSettings,
    database_url,
    env_float,
    env_int,
    env_secret,
    env_str,
)

BACKENDS = ("offline", "gemini")
# Records per batch unless ENRICH_BATCH_SIZE says otherwise. A Gemini batch is a prompt: its
# size trades tokens per call against latency. An offline batch costs nothing per call, so a
# larger one spreads the batch's cache lookup, cache write and flush over more records
# (figures: bench/HISTORY.md).
DEFAULT_BATCH_SIZE = {"gemini": 20, "offline": 500}


@dataclass(frozen=True, slots=True)
class EnricherSettings:
    stream: StreamSettings
    database_url: Secret
    backend: str
    gemini: GeminiSettings | None  # the gemini backend's own settings; None when offline
    taxonomy_source: str | None
    profile_path: str | None
    batch_size: int
    batch_within_s: float
    concurrency: int
    # auto-approval needs the LLM's confidence within this many points of the offline check's
    max_confidence_gap: float = DEFAULT_MAX_CONFIDENCE_GAP
    # what one run may spend on the LLM, in US dollars; None: no ceiling
    run_cost_ceiling_usd: float | None = None
    # Batch API backfills (backfill/): prompts per batch, seconds between polls
    backfill_lines_per_batch: int = 100
    backfill_poll_s: float = 10.0

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> EnricherSettings:
        key = env_secret(env, "GEMINI_API_KEY")
        backend = env_str(env, "ENRICHMENT_BACKEND", "gemini" if key else "offline")
        if backend not in BACKENDS:
            raise SettingsError(f"ENRICHMENT_BACKEND must be one of {BACKENDS}, got {backend!r}")
        if backend == "gemini" and not key:
            raise SettingsError("ENRICHMENT_BACKEND=gemini needs GEMINI_API_KEY")
        return cls(
            stream=StreamSettings.from_env(env, default_web_port=18102),
            database_url=database_url(env),
            backend=backend,
            gemini=GeminiSettings.from_env(env) if backend == "gemini" else None,
            taxonomy_source=env.get("TAXONOMY_SOURCE") or None,
            profile_path=env.get("AUDIENCE_PROFILE") or None,
            batch_size=env_int(env, "ENRICH_BATCH_SIZE", DEFAULT_BATCH_SIZE[backend]),
            batch_within_s=env_float(env, "ENRICH_BATCH_WITHIN_S", 1.0),
            concurrency=env_int(env, "ENRICH_CONCURRENCY", 2),
            max_confidence_gap=env_float(
                env, "TRUST_MAX_CONFIDENCE_GAP", DEFAULT_MAX_CONFIDENCE_GAP
            ),
            run_cost_ceiling_usd=_cost_ceiling(env),
            backfill_lines_per_batch=env_int(env, "BACKFILL_LINES_PER_BATCH", 100),
            backfill_poll_s=env_float(env, "BACKFILL_POLL_S", 10.0),
        )


def _cost_ceiling(env: Mapping[str, str]) -> float | None:
    if not env.get("LLM_RUN_COST_CEILING_USD", "").strip():
        return None
    ceiling = env_float(env, "LLM_RUN_COST_CEILING_USD", 0.0)
    if ceiling <= 0:
        raise SettingsError(f"LLM_RUN_COST_CEILING_USD must be positive, got {ceiling}")
    return ceiling

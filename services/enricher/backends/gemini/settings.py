"""The Gemini backend's settings: one frozen object, read once from the environment."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from services.shared.settings import SettingsError, env_bool, env_float, env_int, env_str

# Google's model pages list gemini-3.5-flash-lite as the current stable (GA) Flash-Lite, built
# for high-volume classification and extraction; gemini-3.1-flash-lite is still served and
# priced (prices.toml), the 2.5 family is retiring.
DEFAULT_MODEL = "gemini-3.5-flash-lite"


_THINKING_LEVELS = frozenset({"", "MINIMAL", "LOW", "MEDIUM", "HIGH"})


@dataclass(frozen=True, slots=True)
class GeminiSettings:
    """Everything the Gemini backend needs; the api key never shows in a repr."""

    api_key: str = field(default="", repr=False)
    model: str = DEFAULT_MODEL
    base_url: str | None = None  # set to point the client at the local emulator
    batch_size: int = 10
    # stage 2 answers little per job and its prompt is mostly the shared function list:
    # larger batches split that list among more jobs
    function_batch_size: int = 25
    max_concurrency: int = 8
    requests_per_minute: int = 1000
    tokens_per_minute: int = 1_000_000
    request_timeout_s: float = 90.0
    max_attempts: int = 4
    backoff_base_s: float = 1.0
    backoff_max_s: float = 60.0
    max_description_chars: int = 6000
    # None: the model's own default (1.0 for Gemini 3, where Google warns that lower values
    # can make the model loop); set GEMINI_TEMPERATURE only to override it
    temperature: float | None = None
    thinking_level: str = ""  # MINIMAL, LOW, MEDIUM or HIGH; empty keeps the model's default
    # explicit context caching of system prompts over the model's minimum (caching.py)
    context_cache: bool = True
    context_cache_ttl_s: int = 3600
    price_table: str = ""  # a TOML file of prices per model; empty: the bundled prices.toml

    def __post_init__(self) -> None:
        _require_positive("batch_size", self.batch_size)
        _require_positive("function_batch_size", self.function_batch_size)
        _require_positive("max_concurrency", self.max_concurrency)
        _require_positive("requests_per_minute", self.requests_per_minute)
        _require_positive("tokens_per_minute", self.tokens_per_minute)
        _require_positive("max_attempts", self.max_attempts)
        _require_positive("request_timeout_s", self.request_timeout_s)
        _require_positive("context_cache_ttl_s", self.context_cache_ttl_s)
        if self.temperature is not None and not 0.0 <= self.temperature <= 2.0:
            raise SettingsError(f"temperature must be within 0..2, got {self.temperature}")
        if self.thinking_level not in _THINKING_LEVELS:
            raise SettingsError(f"thinking_level must be one of {sorted(_THINKING_LEVELS)}")

    def __repr__(self) -> str:
        masked = "***" if self.api_key else ""
        return (
            f"GeminiSettings(api_key='{masked}', model={self.model!r}, "
            f"base_url={self.base_url!r}, batch_size={self.batch_size}, "
            f"max_concurrency={self.max_concurrency}, rpm={self.requests_per_minute}, "
            f"tpm={self.tokens_per_minute})"
        )

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> GeminiSettings:
        """Reads `GEMINI_*` variables; unset ones keep their defaults."""
        return cls(
            api_key=env_str(env, "GEMINI_API_KEY", ""),
            model=env_str(env, "GEMINI_MODEL", DEFAULT_MODEL),
            base_url=env_str(env, "GEMINI_BASE_URL", "") or None,
            batch_size=env_int(env, "GEMINI_BATCH_SIZE", 10),
            function_batch_size=env_int(env, "GEMINI_FUNCTION_BATCH_SIZE", 25),
            max_concurrency=env_int(env, "GEMINI_MAX_CONCURRENCY", 8),
            requests_per_minute=env_int(env, "GEMINI_RPM", 1000),
            tokens_per_minute=env_int(env, "GEMINI_TPM", 1_000_000),
            request_timeout_s=env_float(env, "GEMINI_TIMEOUT_S", 90.0),
            max_attempts=env_int(env, "GEMINI_MAX_ATTEMPTS", 4),
            backoff_base_s=env_float(env, "GEMINI_BACKOFF_BASE_S", 1.0),
            backoff_max_s=env_float(env, "GEMINI_BACKOFF_MAX_S", 60.0),
            max_description_chars=env_int(env, "GEMINI_MAX_DESCRIPTION_CHARS", 6000),
            temperature=_optional_float(env, "GEMINI_TEMPERATURE"),
            thinking_level=env_str(env, "GEMINI_THINKING_LEVEL", "").upper(),
            context_cache=env_bool(env, "GEMINI_CONTEXT_CACHE", True),
            context_cache_ttl_s=env_int(env, "GEMINI_CONTEXT_CACHE_TTL_S", 3600),
            price_table=env_str(env, "GEMINI_PRICE_TABLE", ""),
        )


def _optional_float(env: Mapping[str, str], name: str) -> float | None:
    return env_float(env, name, 0.0) if env.get(name, "").strip() else None


def _require_positive(name: str, value: float) -> None:
    if value <= 0:
        raise SettingsError(f"{name} must be positive, got {value}")

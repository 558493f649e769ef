"""The Gemini backend's settings: one frozen object, read once from the environment."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

# The SDK's model catalogue (google-genai 3.3.0) describes gemini-3.1-flash-lite as Google's
# most cost-efficient model for high-volume simple data processing; the 2.5 family is retiring.
DEFAULT_MODEL = "gemini-3.1-flash-lite"


_THINKING_LEVELS = frozenset({"", "MINIMAL", "LOW", "MEDIUM", "HIGH"})


class GeminiSettingsError(ValueError):
    """A Gemini setting is missing or malformed; the message names the variable."""


@dataclass(frozen=True, slots=True)
class GeminiSettings:
    """Everything the Gemini backend needs; the api key never shows in a repr."""

    api_key: str = field(default="", repr=False)
    model: str = DEFAULT_MODEL
    base_url: str | None = None  # set to point the client at the local emulator
    batch_size: int = 10
    # stage 2 answers ~40 tokens per job and its prompt is mostly the shared function list:
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
    temperature: float = 0.2
    thinking_level: str = ""  # MINIMAL, LOW, MEDIUM or HIGH; empty keeps the model's default

    def __post_init__(self) -> None:
        _require_positive("batch_size", self.batch_size)
        _require_positive("function_batch_size", self.function_batch_size)
        _require_positive("max_concurrency", self.max_concurrency)
        _require_positive("requests_per_minute", self.requests_per_minute)
        _require_positive("tokens_per_minute", self.tokens_per_minute)
        _require_positive("max_attempts", self.max_attempts)
        _require_positive("request_timeout_s", self.request_timeout_s)
        if self.thinking_level not in _THINKING_LEVELS:
            raise GeminiSettingsError(f"thinking_level must be one of {sorted(_THINKING_LEVELS)}")

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
        reader = _EnvReader(env)
        return cls(
            api_key=reader.text("GEMINI_API_KEY", ""),
            model=reader.text("GEMINI_MODEL", DEFAULT_MODEL),
            base_url=reader.text("GEMINI_BASE_URL", "") or None,
            batch_size=reader.integer("GEMINI_BATCH_SIZE", 10),
            function_batch_size=reader.integer("GEMINI_FUNCTION_BATCH_SIZE", 25),
            max_concurrency=reader.integer("GEMINI_MAX_CONCURRENCY", 8),
            requests_per_minute=reader.integer("GEMINI_RPM", 1000),
            tokens_per_minute=reader.integer("GEMINI_TPM", 1_000_000),
            request_timeout_s=reader.number("GEMINI_TIMEOUT_S", 90.0),
            max_attempts=reader.integer("GEMINI_MAX_ATTEMPTS", 4),
            backoff_base_s=reader.number("GEMINI_BACKOFF_BASE_S", 1.0),
            backoff_max_s=reader.number("GEMINI_BACKOFF_MAX_S", 60.0),
            max_description_chars=reader.integer("GEMINI_MAX_DESCRIPTION_CHARS", 6000),
            temperature=reader.number("GEMINI_TEMPERATURE", 0.2),
            thinking_level=reader.text("GEMINI_THINKING_LEVEL", "").upper(),
        )


def _require_positive(name: str, value: float) -> None:
    if value <= 0:
        raise GeminiSettingsError(f"{name} must be positive, got {value}")


@dataclass(frozen=True, slots=True)
class _EnvReader:
    env: Mapping[str, str]

    def text(self, name: str, default: str) -> str:
        return self.env.get(name, "").strip() or default

    def integer(self, name: str, default: int) -> int:
        raw = self.env.get(name, "").strip()
        try:
            return int(raw) if raw else default
        except ValueError as exc:
            raise GeminiSettingsError(f"{name} must be an integer, got {raw!r}") from exc

    def number(self, name: str, default: float) -> float:
        raw = self.env.get(name, "").strip()
        try:
            return float(raw) if raw else default
        except ValueError as exc:
            raise GeminiSettingsError(f"{name} must be a number, got {raw!r}") from exc

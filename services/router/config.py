"""Router settings, read once from the environment."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

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


@dataclass(frozen=True, slots=True)
class Thresholds:
    """Confidence boundaries (0–1): below `manual_review` rejected, from `auto_approve` open."""

    manual_review: float = 0.50
    auto_approve: float = 0.86


@dataclass(frozen=True, slots=True)
class SafetyLimits:
    """When a run looks unsafe, it archives nothing; when it would archive more of a feed
    than the feed's normal variation, the archive is held for an operator (the rule is
    `handlers.allowed_archive_share`, explained in the router's README)."""

    max_enrichment_failure_rate: float = 0.5
    max_archive_share: float = 0.5  # the allowed share while a feed has too little history
    always_apply_jobs: int = 5  # a change this small is archived whatever the share
    history_runs: int = 10  # the feed's recent applied runs that show its normal variation
    min_history_runs: int = 3
    history_min_open: int = 20  # a run over fewer live jobs says little about a share
    share_floor: float = 0.2  # the allowed share, with history, stays within these
    share_cap: float = 0.9


@dataclass(frozen=True, slots=True)
class NotifySettings:
    """An optional webhook (Slack-compatible JSON) told when runs end; off without a URL."""

    webhook_url: Secret
    notify_on: str  # "all" or "failure"
    max_attempts: int

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> NotifySettings:
        notify_on = env_str(env, "NOTIFY_ON", "all")
        if notify_on not in ("all", "failure"):
            raise SettingsError(f"NOTIFY_ON must be all or failure, got {notify_on!r}")
        return cls(
            webhook_url=env_secret(env, "NOTIFY_WEBHOOK_URL"),
            notify_on=notify_on,
            max_attempts=env_int(env, "NOTIFY_MAX_ATTEMPTS", 4),
        )


@dataclass(frozen=True, slots=True)
class RouterSettings:
    stream: StreamSettings
    database_url: Secret
    thresholds: Thresholds
    safety: SafetyLimits
    batch_size: int
    batch_within_s: float
    stall_timeout_s: float
    sweep_interval_s: float
    notify: NotifySettings
    # A routing transaction waits on nothing but PostgreSQL: idle in it this long, its
    # replica is frozen or gone, and the server ends the session to free its job locks.
    idle_in_transaction_timeout_s: float

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> RouterSettings:
        return cls(
            stream=StreamSettings.from_env(env, default_web_port=18103),
            database_url=database_url(env),
            thresholds=Thresholds(
                manual_review=env_float(env, "MANUAL_REVIEW_THRESHOLD", 0.50),
                auto_approve=env_float(env, "AUTO_APPROVE_THRESHOLD", 0.86),
            ),
            safety=SafetyLimits(
                max_enrichment_failure_rate=env_float(env, "MAX_ENRICHMENT_FAILURE_RATE", 0.5),
                max_archive_share=env_float(env, "MAX_ARCHIVE_SHARE", 0.5),
                always_apply_jobs=env_int(env, "ARCHIVE_ALWAYS_APPLY_JOBS", 5),
            ),
            batch_size=env_int(env, "ROUTER_BATCH_SIZE", 500),
            batch_within_s=env_float(env, "ROUTER_BATCH_WITHIN_S", 0.5),
            stall_timeout_s=env_float(env, "RUN_STALL_TIMEOUT_S", 1800.0),
            sweep_interval_s=env_float(env, "RUN_SWEEP_INTERVAL_S", 15.0),
            notify=NotifySettings.from_env(env),
            idle_in_transaction_timeout_s=env_float(
                env, "ROUTER_IDLE_IN_TRANSACTION_TIMEOUT_S", 60.0
            ),
        )

"""Syncer settings, read once from the environment."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass

from schemas.job_tables import JOB_COLUMNS
from services.shared.settings import (
    Secret,
    SettingsError,
    StreamSettings,
    database_url,
    env_float,
    env_int,
)
from services.syncer.adapters.outbox import OutboxBackoff
from services.syncer.adapters.xano import XanoSettings
from services.syncer.payload import DEFAULT_FIELD_MAP
from services.syncer.reconcile import DeleteCap


@dataclass(frozen=True, slots=True)
class SyncerSettings:
    stream: StreamSettings
    database_url: Secret
    xano: XanoSettings
    field_map: Mapping[str, str]  # Xano payload field -> open_jobs column
    delete_cap: DeleteCap = dataclasses.field(default_factory=DeleteCap)
    outbox_backoff: OutboxBackoff = dataclasses.field(default_factory=OutboxBackoff)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> SyncerSettings:
        return cls(
            stream=StreamSettings.from_env(env, default_web_port=18104),
            database_url=database_url(env),
            xano=XanoSettings.from_env(env),
            field_map=field_map_from(env.get("XANO_FIELD_MAP", "")),
            delete_cap=delete_cap_from(env),
            outbox_backoff=OutboxBackoff(
                first_s=env_float(env, "XANO_OUTBOX_RETRY_S", OutboxBackoff().first_s),
                max_s=env_float(env, "XANO_OUTBOX_MAX_BACKOFF_S", OutboxBackoff().max_s),
            ),
        )


def delete_cap_from(env: Mapping[str, str]) -> DeleteCap:
    """XANO_MAX_DELETE_SHARE (0..1] of a feed's mirror, never below XANO_DELETE_CAP_MIN_JOBS."""
    share = env_float(env, "XANO_MAX_DELETE_SHARE", DeleteCap().share)
    if not 0.0 < share <= 1.0:
        raise SettingsError(f"XANO_MAX_DELETE_SHARE must be in (0, 1], got {share}")
    min_jobs = env_int(env, "XANO_DELETE_CAP_MIN_JOBS", DeleteCap().min_jobs)
    if min_jobs < 0:
        raise SettingsError(f"XANO_DELETE_CAP_MIN_JOBS must be >= 0, got {min_jobs}")
    return DeleteCap(share=share, min_jobs=min_jobs)


def field_map_from(raw: str) -> Mapping[str, str]:
    """The default payload mapping, changed by a JSON object {"payload field": "column"}.

    A column of null drops the field; only columns of the job tables are accepted.
    """
    if not raw.strip():
        return DEFAULT_FIELD_MAP
    try:
        changes = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise SettingsError(f"XANO_FIELD_MAP is not JSON: {exc}") from exc
    if not isinstance(changes, dict):
        raise SettingsError("XANO_FIELD_MAP must be a JSON object")
    merged = dict(DEFAULT_FIELD_MAP)
    for field, column in changes.items():
        if column is None:
            merged.pop(field, None)
        elif column not in JOB_COLUMNS:
            raise SettingsError(f"XANO_FIELD_MAP: {field!r} maps to unknown column {column!r}")
        else:
            merged[field] = column
    return merged

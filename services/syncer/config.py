"""Syncer settings, read once from the environment."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

from schemas.job_tables import JOB_COLUMNS
from services.shared.settings import Secret, SettingsError, StreamSettings, database_url
from services.syncer.adapters.xano import XanoSettings
from services.syncer.payload import DEFAULT_FIELD_MAP


@dataclass(frozen=True, slots=True)
class SyncerSettings:
    stream: StreamSettings
    database_url: Secret
    xano: XanoSettings
    field_map: Mapping[str, str]  # Xano payload field -> open_jobs column

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> SyncerSettings:
        return cls(
            stream=StreamSettings.from_env(env, default_web_port=18104),
            database_url=database_url(env),
            xano=XanoSettings.from_env(env),
            field_map=field_map_from(env.get("XANO_FIELD_MAP", "")),
        )


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

"""Syncer settings, read once from the environment."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from services.shared.settings import Secret, StreamSettings, database_url
from services.syncer.adapters.xano import XanoSettings


@dataclass(frozen=True, slots=True)
class SyncerSettings:
    stream: StreamSettings
    database_url: Secret
    xano: XanoSettings

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> SyncerSettings:
        return cls(
            stream=StreamSettings.from_env(env, default_web_port=18104),
            database_url=database_url(env),
            xano=XanoSettings.from_env(env),
        )

"""What the enricher depends on, as protocols; `app.py` wires the adapters that implement
them (a backend of `backends/`, `services.shared.database.Database`)."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import Protocol

from services.enricher.backends.base import EnrichmentBackend, EnrichmentOutcome
from services.shared.database import Conn
from services.shared.retry import Sleep

__all__ = ["Connections", "EnrichmentBackend", "EnrichmentOutcome", "Sleep"]


class Connections(Protocol):
    """A borrowed PostgreSQL connection (the enrichment cache lives there)."""

    def connection(self) -> AbstractAsyncContextManager[Conn]: ...

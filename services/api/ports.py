"""What the API depends on, as protocols; `app.py` wires the adapters that implement them
(`services.shared.database.Database`, `services.api.adapters.kafka.Publisher` and
`broker_reachable`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Protocol

from schemas.records import Record
from schemas.topics import TopicSpec
from services.shared.database import Conn
from services.shared.retry import Sleep

__all__ = ["BrokerProbe", "Connections", "Publisher", "Sleep"]


class Publisher(Protocol):
    """Records onto topics: `publish` returns once the broker has acknowledged the record."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def publish(self, spec: TopicSpec, record: Record, key: str) -> None: ...


class Connections(Protocol):
    """PostgreSQL: opened at start-up (refusing an old schema), borrowed per step, closed."""

    async def open(self) -> None: ...

    def connection(self) -> AbstractAsyncContextManager[Conn]: ...

    async def close(self) -> None: ...


BrokerProbe = Callable[[], Awaitable[bool]]
"""True when the broker answers (readiness)."""

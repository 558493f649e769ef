"""What the router depends on, as protocols; `app.py` wires the adapters that implement them
(`services.shared.publisher.Publisher`, `services.shared.database.Database`)."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import Protocol

from schemas.records import Record
from schemas.topics import TopicSpec
from services.shared.database import Conn


class Publisher(Protocol):
    """Records onto topics: `send` batches, `flush` waits for the acks, `send_now` both."""

    async def send(self, spec: TopicSpec, key: str, record: Record) -> None: ...

    async def flush(self) -> None: ...

    async def send_now(self, spec: TopicSpec, key: str, record: Record) -> None: ...


class Connections(Protocol):
    """PostgreSQL: a connection borrowed for a block (each part of a batch borrows its own)."""

    def connection(self) -> AbstractAsyncContextManager[Conn]: ...

"""Everything jobstream asks of Faust beyond its documented surface, in one place.

Faust runs the service shell only: the web server, timers, the producer and the worker's
lifecycle. Records are consumed by `services.shared.consumer`, not by Faust's streams, so
Faust must neither join a consumer group nor wait for tables: producer-only mode does both.
A Faust upgrade that changes any of this fails `tests/unit/test_faust_compat.py`.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

import faust

from services.shared.durability import DURABLE_PRODUCER

FAUST_VERSION = "0.15.3"  # the version this module was written against


def shell_only(app: faust.App) -> None:
    """No Faust consumer, agents or tables: the web server, producer and timers only."""
    app.producer_only = True


def idempotent_producer(app: faust.App) -> None:
    """The app's producer waits for all in-sync replicas and never writes a retry twice.

    Faust passes `enable_idempotence` to aiokafka only inside a transaction (exactly-once
    processing, which we do not use), through the producer's `_settings_extra`.
    """
    producer = app.producer
    producer._settings_extra = lambda: dict(DURABLE_PRODUCER)  # type: ignore[attr-defined]


class AppProducer:
    """The app's producer as a `publisher.Producer`."""

    def __init__(self, app: faust.App) -> None:
        self._app = app

    async def send(
        self, topic: str, key: bytes, value: bytes, partition: int | None
    ) -> Awaitable[Any]:
        """Hands one message to the app's producer; the future settles when the broker acks."""
        fut: Awaitable[Any] = await self._app.producer.send(
            topic, key, value, partition, None, None
        )
        return fut

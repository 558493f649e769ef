"""Publishing records to Kafka with aiokafka: one producer for the process, acks from all."""

from __future__ import annotations

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient

from schemas.codec import CODEC
from schemas.records import Record
from schemas.topics import TopicSpec
from services.shared.durability import DURABLE_PRODUCER

SOURCE = "api"


class Publisher:
    """Started with the web app, stopped with it; `publish` waits for the broker's ack."""

    def __init__(self, bootstrap_servers: str) -> None:
        self._bootstrap = bootstrap_servers
        self._producer: AIOKafkaProducer | None = None

    async def start(self) -> None:
        producer = AIOKafkaProducer(
            bootstrap_servers=self._bootstrap, request_timeout_ms=10_000, **DURABLE_PRODUCER
        )
        await producer.start()
        self._producer = producer

    async def stop(self) -> None:
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None

    async def publish(self, spec: TopicSpec, record: Record, key: str) -> None:
        if self._producer is None:
            raise RuntimeError("the publisher is not started")
        await self._producer.send_and_wait(
            spec.name, value=CODEC.encode(record, source=SOURCE), key=key.encode()
        )


async def broker_reachable(bootstrap_servers: str, timeout_s: float = 3.0) -> bool:
    """True when the broker answers a metadata request within the timeout."""
    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap_servers, request_timeout_ms=int(timeout_s * 1000)
    )
    try:
        await admin.start()
        await admin.list_topics()
    except Exception:
        return False
    finally:
        await admin.close()
    return True

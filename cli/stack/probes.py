"""Does a component answer? Real requests only: a Kafka metadata call, a PostgreSQL SELECT 1."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from dataclasses import dataclass

import asyncpg
from aiokafka.conn import create_conn
from aiokafka.protocol.metadata import MetadataRequest


@dataclass(frozen=True, slots=True)
class Probe:
    answers: bool
    detail: str


def port_accepts(port: int, host: str = "127.0.0.1", timeout_s: float = 0.5) -> bool:
    """True when something listens on host:port (ours or anyone's)."""
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False


async def _ask_one_broker(address: str) -> list[str]:
    """Ask this broker over its own connection: a cluster client routes a request to any
    node it knows, so one dead peer would make a live broker look down."""
    host, port = address.rsplit(":", 1)
    connection = await create_conn(host, int(port), request_timeout_ms=5_000)
    try:
        metadata = await connection.send(MetadataRequest([]))
    finally:
        connection.close()
    return [topic[1] for topic in metadata.topics]


async def _list_topic_names(addresses: list[str]) -> list[str]:
    """The first listed broker that answers; the last error when none does."""
    for address in addresses[:-1]:
        with contextlib.suppress(Exception):  # the next broker may answer
            return await _ask_one_broker(address)
    return await _ask_one_broker(addresses[-1])


async def probe_kafka(bootstrap: str, timeout_s: float = 10.0) -> Probe:
    """bootstrap is one broker or a comma-separated list; the list answers if any does."""
    addresses = [address.strip() for address in bootstrap.split(",") if address.strip()]
    if not any(port_accepts(int(address.rsplit(":", 1)[1])) for address in addresses):
        return Probe(False, "nothing listens")
    try:
        names = await asyncio.wait_for(_list_topic_names(addresses), timeout_s)
    except Exception as error:  # any failure means "does not answer"
        return Probe(False, f"metadata request failed: {type(error).__name__}: {error}")
    return Probe(True, f"metadata ok, {len(names)} topics")


async def probe_postgres(dsn: str, timeout_s: float = 5.0) -> Probe:
    try:
        connection = await asyncpg.connect(dsn, timeout=timeout_s)
    except Exception as error:  # any failure means "does not answer"
        return Probe(False, f"connect failed: {type(error).__name__}: {error}")
    try:
        one = await connection.fetchval("SELECT 1", timeout=timeout_s)
    finally:
        await connection.close()
    return Probe(one == 1, "SELECT 1 ok" if one == 1 else f"SELECT 1 returned {one!r}")

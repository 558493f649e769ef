"""Does a component answer? Real requests only: a Kafka metadata call, a PostgreSQL SELECT 1."""

from __future__ import annotations

import asyncio
import socket
from dataclasses import dataclass

import asyncpg

from services.shared.topic_admin import admin_client


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


async def _list_topic_names(bootstrap: str) -> list[str]:
    async with admin_client(bootstrap, timeout_ms=5_000) as admin:
        names: list[str] = await admin.list_topics()
    return names


async def probe_kafka(bootstrap: str, timeout_s: float = 10.0) -> Probe:
    if not port_accepts(int(bootstrap.rsplit(":", 1)[1])):
        return Probe(False, "nothing listens")
    try:
        names = await asyncio.wait_for(_list_topic_names(bootstrap), timeout_s)
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

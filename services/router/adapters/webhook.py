"""Posts JSON to a webhook, with bounded retries on connection errors, 429 and 5xx."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

import aiohttp
import orjson

from services.shared.retry import Backoff, Sleep

log = logging.getLogger(__name__)


async def post_json(
    url: str,
    body: Mapping[str, Any],
    *,
    attempts: int = 4,
    first_delay_s: float = 1.0,
    timeout_s: float = 10.0,
    sleep: Sleep = asyncio.sleep,
) -> bool:
    """True once the webhook accepted the body (2xx); False after the last attempt failed."""
    delays = Backoff(first_delay_s, first_delay_s * 2.0**attempts).delays()  # doubling, no cap
    timeout = aiohttp.ClientTimeout(total=timeout_s)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        for attempt in range(1, attempts + 1):
            failure, retryable = await _post_once(session, url, orjson.dumps(body))
            if failure is None:
                return True
            if not retryable:
                log.error("webhook refused the notification: %s", failure)
                return False
            if attempt < attempts:
                log.warning("webhook attempt %d/%d failed: %s", attempt, attempts, failure)
                await sleep(next(delays))
            else:
                log.error("webhook failed after %d attempts: %s", attempts, failure)
    return False


async def _post_once(
    session: aiohttp.ClientSession, url: str, data: bytes
) -> tuple[str | None, bool]:
    """(None, _) on success; otherwise why, and whether trying again can help."""
    try:
        headers = {"Content-Type": "application/json"}
        async with session.post(url, data=data, headers=headers) as answer:
            if 200 <= answer.status < 300:
                return None, False
            retryable = answer.status == 429 or answer.status >= 500
            return f"HTTP {answer.status}", retryable
    except (aiohttp.ClientError, TimeoutError) as exc:
        return f"{type(exc).__name__}: {exc}", True

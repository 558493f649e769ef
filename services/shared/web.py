"""The pages every streaming service serves: `/healthz`, `/readyz` and `/metrics`."""

from __future__ import annotations

import os
from typing import Any

import faust

from services.shared import metrics
from services.shared.health import STAGES


def add_pages(app: faust.App, service: str, replica: str) -> None:
    @app.page("/healthz")
    async def healthz(web: Any, request: Any) -> Any:
        # The pid lets a supervisor tell its own process from another one on the same port.
        return web.json(
            {"status": "ok", "service": service, "replica": replica, "pid": os.getpid()}
        )

    @app.page("/readyz")
    async def readyz(web: Any, request: Any) -> Any:
        """503 until every stage holds its partitions, and while any stage is paused."""
        ready = STAGES.ready
        body = {
            "ready": ready,
            "service": service,
            "replica": replica,
            "pid": os.getpid(),
            "stages": STAGES.describe(),
        }
        return web.json(body, status=200 if ready else 503)

    @app.page("/metrics")
    async def prometheus(web: Any, request: Any) -> Any:
        body, content_type = metrics.exposition()
        # aiohttp refuses a charset inside content_type=, so the header carries it whole.
        return web.bytes(body, headers={"Content-Type": content_type})

"""Running the Gemini emulator in-process on loopback, for tests and the local stack."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from aiohttp import web

from emulators.gemini.app import BATCHES_KEY, STATE_KEY, EmulatorState
from emulators.gemini.batches import BatchService


@dataclass(frozen=True, slots=True)
class RunningEmulator:
    base_url: str
    app: web.Application

    @property
    def state(self) -> EmulatorState:
        return self.app[STATE_KEY]

    @property
    def batches(self) -> BatchService:
        return self.app[BATCHES_KEY]


@asynccontextmanager
async def serve(
    app: web.Application, host: str = "127.0.0.1", port: int = 0
) -> AsyncIterator[RunningEmulator]:
    """Serves `app` (from `create_app`) until the block ends; port 0 picks a free port."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    try:
        bound_port = runner.addresses[0][1]
        yield RunningEmulator(f"http://{host}:{bound_port}", app)
    finally:
        await runner.cleanup()

"""Runs the emulator inside the current event loop, for tests and embedding."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from aiohttp import web

from emulators.xano.app import EmulatorState, create_app, state_of
from emulators.xano.settings import EmulatorSettings


@dataclass(frozen=True, slots=True)
class RunningEmulator:
    root_url: str  # where /__admin lives
    app: web.Application

    @property
    def base_url(self) -> str:
        """The API base a client is configured with (root plus the base path)."""
        return self.root_url + self.state.settings.base_path.rstrip("/")

    @property
    def state(self) -> EmulatorState:
        return state_of(self.app)


@asynccontextmanager
async def serve(settings: EmulatorSettings, port: int = 0) -> AsyncIterator[RunningEmulator]:
    """Serves the emulator on 127.0.0.1 (a free port by default) until the block exits."""
    app = create_app(settings)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", port)
        await site.start()
        host, bound_port = runner.addresses[0][:2]
        yield RunningEmulator(root_url=f"http://{host}:{bound_port}", app=app)
    finally:
        await runner.cleanup()

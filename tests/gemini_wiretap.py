"""What reached the Gemini emulator, as the wire carried it: each generateContent request's
arrival time, model and JSON body, recorded by a middleware in front of the emulator's
handlers (the emulator's own log keeps neither the time nor the generation config)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True, slots=True)
class Tapped:
    at: float  # time.monotonic() on arrival
    model: str
    body: dict[str, Any]
    status: int
    answered_at: float  # time.monotonic() once the answer was ready


@dataclass(slots=True)
class Wiretap:
    requests: list[Tapped] = field(default_factory=list)

    def install(self, app: web.Application) -> web.Application:
        """Adds the recorder to `app` (before it is served) and returns it."""
        app.middlewares.append(self._middleware)
        return app

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path.endswith(":generateContent"):
            at = time.monotonic()
            model = request.path.rsplit("/", 1)[-1].split(":", 1)[0]
            body = orjson.loads(await request.read())
            response = await handler(request)
            self.requests.append(Tapped(at, model, body, response.status, time.monotonic()))
            return response
        return await handler(request)

    def most_in_any_window(self, window_s: float) -> int:
        """The most requests that arrived within any `window_s` seconds (half-open)."""
        times = sorted(tapped.at for tapped in self.requests)
        most, start = 0, 0
        for end, at in enumerate(times):
            while at - times[start] >= window_s:
                start += 1
            most = max(most, end - start + 1)
        return most

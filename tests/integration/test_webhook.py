"""The notification webhook client against a real HTTP server on loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from services.router.adapters.webhook import post_json

pytestmark = pytest.mark.integration


@dataclass
class Hook:
    """Answers with the statuses queued in `plan`, then 200; counts the attachments received."""

    url: str = ""
    plan: list[int] = field(default_factory=list)
    received: list[int] = field(default_factory=list)


@pytest.fixture
async def hook() -> AsyncIterator[Hook]:
    state = Hook()

    async def receive(request: web.Request) -> web.Response:
        body = await request.json()
        state.received.append(len(body["attachments"]))
        return web.Response(status=state.plan.pop(0) if state.plan else 200)

    app = web.Application()
    app.router.add_post("/hook", receive)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    state.url = str(server.make_url("/hook"))
    yield state
    await server.close()


async def test_a_5xx_is_retried_until_the_webhook_takes_the_message(hook: Hook) -> None:
    hook.plan.extend([500, 503])
    assert await post_json(hook.url, {"attachments": [{}]}, attempts=4, first_delay_s=0.01)
    assert hook.received == [1, 1, 1]


async def test_a_refusal_is_not_retried(hook: Hook) -> None:
    hook.plan.append(400)
    assert not await post_json(hook.url, {"attachments": []}, attempts=4, first_delay_s=0.01)
    assert hook.received == [0]


async def test_an_unreachable_webhook_gives_up_after_bounded_attempts() -> None:
    ok = await post_json(
        "http://127.0.0.1:9/hook", {"attachments": []}, attempts=3, first_delay_s=0.01
    )
    assert not ok


async def test_the_waits_between_attempts_double_and_use_the_injected_sleep(hook: Hook) -> None:
    hook.plan.extend([500, 503, 429])
    waited: list[float] = []

    async def sleep(seconds: float) -> None:
        waited.append(seconds)

    body: dict[str, list[dict[str, str]]] = {"attachments": [{}]}
    assert await post_json(hook.url, body, attempts=4, first_delay_s=2.0, sleep=sleep)
    assert waited == [2.0, 4.0, 8.0]  # and no real second went by
    assert hook.received == [1, 1, 1, 1]

"""Fixtures the Xano-side integration tests share: a service Database on the test stack and a
fresh Xano emulator per test (a module that needs another kind defines its own)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from cli.stack import StackInfo
from emulators.xano.server import RunningEmulator, serve
from emulators.xano.settings import EmulatorSettings
from services.shared.database import Database
from services.shared.settings import Secret


@pytest.fixture
async def database(stack: StackInfo) -> AsyncIterator[Database]:
    db = Database(Secret(stack.dsn))
    yield db
    await db.close()


@pytest.fixture
async def emulator() -> AsyncIterator[RunningEmulator]:
    async with serve(EmulatorSettings()) as running:
        yield running

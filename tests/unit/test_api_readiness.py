"""The API's readiness over its ports: each dependency is reported on its own, and a database
that cannot hand out a connection reads as not ready rather than failing the probe."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager

from schemas.records import Record
from schemas.topics import TopicSpec
from services.api.config import ApiSettings
from services.api.service import ControlPlane
from services.shared.database import Conn


class _Stopped:
    """A publisher the readiness check must not need."""

    async def start(self) -> None:
        raise AssertionError("readiness started the publisher")

    async def stop(self) -> None: ...

    async def publish(self, spec: TopicSpec, record: Record, key: str) -> None:
        raise AssertionError("readiness published")


class _Refused(AbstractAsyncContextManager[Conn]):
    async def __aenter__(self) -> Conn:
        raise OSError("connection refused")

    async def __aexit__(self, *_: object) -> None: ...


class _Unreachable:
    """A database that hands out no connection."""

    async def open(self) -> None: ...

    def connection(self) -> AbstractAsyncContextManager[Conn]:
        return _Refused()

    async def close(self) -> None: ...


def _plane(broker_up: bool) -> ControlPlane:
    async def broker() -> bool:
        return broker_up

    return ControlPlane(ApiSettings.from_env({}), _Unreachable(), _Stopped(), broker)


async def test_an_unreachable_database_is_reported_not_ready_beside_the_broker() -> None:
    assert await _plane(broker_up=True).readiness() == {"database": False, "broker": True}
    assert await _plane(broker_up=False).readiness() == {"database": False, "broker": False}

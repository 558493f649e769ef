"""Retriable or poison: an unavailable dependency is waited out, anything else may be the
record's fault."""

from __future__ import annotations

import aiohttp
import asyncpg.exceptions as pg
import pytest
from aiokafka.errors import (
    KafkaConnectionError,
    KafkaTimeoutError,
    NotLeaderForPartitionError,
    RecordTooLargeError,
    RequestTimedOutError,
)
from pydantic import BaseModel, ValidationError

from schemas.codec import DecodeError
from services.shared.failures import DependencyUnavailableError, is_retriable


class _Strict(BaseModel):
    n: int


def _validation_error() -> ValidationError:
    try:
        _Strict.model_validate({"n": "not a number"})
    except ValidationError as exc:
        return exc
    raise AssertionError("validated")


def _raised_from(cause: BaseException) -> Exception:
    try:
        try:
            raise cause
        except BaseException as inner:
            raise RuntimeError("routing a batch failed") from inner
    except RuntimeError as outer:
        return outer


RETRIABLE: list[BaseException] = [
    ConnectionRefusedError(111, "Connect call failed"),
    ConnectionResetError(104, "Connection reset by peer"),
    TimeoutError(),
    TimeoutError(),
    OSError(113, "No route to host"),
    pg.CannotConnectNowError("the database system is starting up"),
    pg.ConnectionDoesNotExistError("connection was closed in the middle of operation"),
    pg.AdminShutdownError("terminating connection due to administrator command"),
    pg.TooManyConnectionsError("sorry, too many clients already"),
    pg.SerializationError("could not serialize access due to concurrent update"),
    pg.DeadlockDetectedError("deadlock detected"),
    pg.IdleInTransactionSessionTimeoutError(
        "terminating connection due to idle-in-transaction timeout"
    ),
    pg.QueryCanceledError("canceling statement due to statement timeout"),
    pg.InterfaceError("connection is closed"),
    pg.InterfaceError(
        "cannot call Connection.fetchval(): connection has been released back to the pool"
    ),
    KafkaConnectionError("Unable to bootstrap from 127.0.0.1:9092"),
    KafkaTimeoutError(),
    RequestTimedOutError(),
    NotLeaderForPartitionError(),
    aiohttp.ServerDisconnectedError(),
    aiohttp.ServerTimeoutError(),
    DependencyUnavailableError("Xano answered 503 after 5 attempts"),
    _raised_from(ConnectionRefusedError(111, "refused")),
]

POISON: list[BaseException] = [
    ValueError("no location"),
    KeyError("job_hash"),
    TypeError("EnrichedJob does not belong on jobs.raw"),
    DecodeError("malformed", "not an envelope"),
    _validation_error(),
    pg.UniqueViolationError("duplicate key value"),
    pg.InvalidTextRepresentationError("invalid input syntax for type integer"),
    pg.CheckViolationError("violates check constraint"),
    pg.InterfaceError("cannot perform operation: another operation is in progress"),
    RecordTooLargeError(),
    _raised_from(ValueError("bad record")),
]


@pytest.mark.parametrize("error", RETRIABLE, ids=lambda e: f"{type(e).__name__}:{e}"[:60])
def test_an_unavailable_dependency_is_retriable(error: BaseException) -> None:
    assert is_retriable(error)


@pytest.mark.parametrize("error", POISON, ids=lambda e: f"{type(e).__name__}:{e}"[:60])
def test_a_failure_of_the_records_own_is_not(error: BaseException) -> None:
    assert not is_retriable(error)


def test_a_cycle_of_causes_ends() -> None:
    first, second = ValueError("a"), ValueError("b")
    first.__cause__, second.__cause__ = second, first
    assert not is_retriable(first)

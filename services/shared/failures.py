"""Retriable or poison: what an agent does when handling a record fails.

A retriable failure is the world's fault (a dependency down, slow or busy): the agent pauses
and tries the same records again for as long as it takes, and nothing is dead-lettered.
Anything else may be the record's fault: it is tried alone, and dead-lettered if it fails
again there (see `services.shared.agents`).
"""

from __future__ import annotations

from collections.abc import Iterator

import aiohttp
import asyncpg.exceptions as pg
from aiokafka.errors import KafkaTimeoutError, NoBrokersAvailable

# Each of these says "try again later", never "this record is bad". OSError covers refused
# and reset connections and (since Python 3.11) TimeoutError and asyncio.TimeoutError.
_RETRIABLE_TYPES: tuple[type[BaseException], ...] = (
    OSError,
    pg.PostgresConnectionError,  # ConnectionDoesNotExistError, ConnectionFailureError, ...
    pg.OperatorInterventionError,  # CannotConnectNowError, AdminShutdown, QueryCanceled
    pg.InsufficientResourcesError,  # TooManyConnectionsError, disk full
    pg.TransactionRollbackError,  # SerializationError, DeadlockDetectedError
    pg.IdleInTransactionSessionTimeoutError,  # the server ended a session it found stalled
    aiohttp.ClientConnectionError,  # ServerDisconnected, ClientConnectorError, timeouts
    KafkaTimeoutError,  # a send the broker did not acknowledge in time
    NoBrokersAvailable,
)

# asyncpg raises its InterfaceError for a connection that went away under a query too; and a
# pool detaches a connection the server closed between two statements from its user.
_RETRIABLE_INTERFACE_MESSAGES = (
    "connection is closed",
    "pool is closing",
    "connection was closed",
    "connection has been released back to the pool",
)

_MAX_CHAIN = 10


class DependencyUnavailableError(Exception):
    """Raised by a service whose dependency answered "not now" (a 5xx or 429 after retries)."""

    retriable = True


def is_retriable(error: BaseException) -> bool:
    """True when `error`, or an error it was raised from, says a dependency is unavailable.

    Errors may also declare themselves with a true `retriable` attribute (aiokafka's broker
    errors do, and so does `DependencyUnavailableError`).
    """
    return any(_says_retriable(link) for link in _chain(error))


def _says_retriable(error: BaseException) -> bool:
    if getattr(error, "retriable", False) is True or isinstance(error, _RETRIABLE_TYPES):
        return True
    if isinstance(error, pg.InterfaceError):
        text = str(error).lower()
        return any(message in text for message in _RETRIABLE_INTERFACE_MESSAGES)
    return False


def _chain(error: BaseException) -> Iterator[BaseException]:
    """The error and the ones it was raised from or during, without looping for ever."""
    seen: set[int] = set()
    link: BaseException | None = error
    while link is not None and id(link) not in seen and len(seen) < _MAX_CHAIN:
        seen.add(id(link))
        yield link
        link = link.__cause__ or link.__context__


def describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"

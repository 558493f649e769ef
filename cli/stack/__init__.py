"""The local stack (real Kafka + PostgreSQL, no Docker) as a small Python API.

Typical use from tests or the demo::

    config = StackConfig.from_env()
    info = await ensure_up(config)      # info.bootstrap, info.dsn
    ...
    await shut_down(config)
"""

from cli.stack.config import ConfigError, StackConfig
from cli.stack.lifecycle import (
    ComponentStatus,
    StackError,
    StackInfo,
    ensure_up,
    shut_down,
    status,
)

__all__ = [
    "ComponentStatus",
    "ConfigError",
    "StackConfig",
    "StackError",
    "StackInfo",
    "ensure_up",
    "shut_down",
    "status",
]

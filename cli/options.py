"""Command-line options shared by commands that talk to the local stack."""

from __future__ import annotations

import argparse
import dataclasses
import os
from pathlib import Path

from cli.base import CommandError
from cli.stack import ConfigError, StackConfig


def add_stack_options(parser: argparse.ArgumentParser) -> None:
    """--state-dir/--kafka-port/--pg-port, each overriding its JOBSTREAM_* variable."""
    group = parser.add_argument_group("stack location (default: JOBSTREAM_* environment)")
    group.add_argument("--state-dir", type=Path, help="data, logs and pids (JOBSTREAM_STATE_DIR)")
    group.add_argument("--kafka-port", type=int, help="broker port (JOBSTREAM_KAFKA_PORT, 19092)")
    group.add_argument("--pg-port", type=int, help="PostgreSQL port (JOBSTREAM_PG_PORT, 15432)")


def stack_config(args: argparse.Namespace) -> StackConfig:
    """The environment's stack config with any command-line overrides applied."""
    try:
        config = StackConfig.from_env()
    except ConfigError as error:
        raise CommandError(str(error)) from error
    overrides: dict[str, object] = {}
    if getattr(args, "state_dir", None) is not None:
        overrides["state_dir"] = args.state_dir.expanduser().absolute()
    if getattr(args, "kafka_port", None) is not None:
        overrides["kafka_port"] = args.kafka_port
        if "JOBSTREAM_KAFKA_CONTROLLER_PORT" not in os.environ:
            overrides["kafka_controller_port"] = args.kafka_port + 1
    if getattr(args, "pg_port", None) is not None:
        overrides["pg_port"] = args.pg_port
    config = _replaced(config, overrides)
    return _replaced(config, {"brokers": _broker_count(args, config)})


def _broker_count(args: argparse.Namespace, config: StackConfig) -> int:
    """--brokers, else JOBSTREAM_KAFKA_BROKERS, else what `stack up` last ran in the state dir."""
    if getattr(args, "brokers", None) is not None:
        return int(args.brokers)
    if os.environ.get("JOBSTREAM_KAFKA_BROKERS", "").strip():
        return config.brokers
    return config.saved_brokers()


def _replaced(config: StackConfig, overrides: dict[str, object]) -> StackConfig:
    updated = dataclasses.replace(config, **overrides)  # type: ignore[arg-type]
    try:
        updated.validate()
    except ConfigError as error:
        raise CommandError(str(error)) from error
    return updated

"""`jobstream migrate`: apply pending SQL migrations to the database."""

from __future__ import annotations

import argparse
import asyncio
import os

import asyncpg

from cli.base import EXIT_OK, CommandError, SubParsers
from cli.stack import StackConfig
from services.shared.postgres import apply_migrations


def register(subparsers: SubParsers) -> None:
    parser = subparsers.add_parser(
        "migrate",
        help="apply pending database migrations",
        description="Apply services/shared/migrations/NNNN_*.sql not yet recorded, in order.",
    )
    parser.add_argument(
        "--dsn", default=None, help="default: DATABASE_URL, else the local stack's database"
    )
    parser.set_defaults(handler=_migrate)


def _migrate(args: argparse.Namespace) -> int:
    dsn = args.dsn or os.environ.get("DATABASE_URL") or StackConfig.from_env().dsn
    try:
        applied = asyncio.run(apply_migrations(dsn))
    except (OSError, asyncpg.PostgresError) as error:
        raise CommandError(f"migration failed: {type(error).__name__}: {error}") from error
    print(f"applied: {', '.join(applied)}" if applied else "database is up to date")
    return EXIT_OK

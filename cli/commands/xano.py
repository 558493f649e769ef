"""`jobstream xano audit|resync|confirm-deletes FEED`: look at and repair a feed's Xano mirror.

These talk to PostgreSQL and Xano directly (not through the API), with the syncer's own code:
an audit writes nothing; a resync is the syncer's reconcile, under the feed's lock, through
the same rate-limited client and delete cap.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import os
from collections.abc import Awaitable, Callable, Mapping
from typing import TypeVar

import asyncpg
from rich.console import Console
from rich.table import Table

from cli.base import EXIT_FAILURE, EXIT_OK, CommandError, SubParsers, command_group
from cli.pipeline import XANO_TOKEN, PipelineConfig
from cli.stack import StackConfig
from schemas.status import SyncStatus
from services.shared.database import Database, SchemaOutdatedError
from services.shared.settings import Secret, SettingsError
from services.syncer.adapters import mirror_repository as mirror
from services.syncer.adapters.xano import XanoClient, XanoError, XanoSettings
from services.syncer.audit import Audit, audit_feed
from services.syncer.config import delete_cap_from, field_map_from
from services.syncer.reconcile import DeleteCap
from services.syncer.service import Syncer, SyncOutcome

T = TypeVar("T")
EXAMPLES_SHOWN = 5


def register(subparsers: SubParsers) -> None:
    actions = command_group(
        subparsers,
        "xano",
        "audit or resync a feed's Xano records, or confirm deletes past the cap",
        (
            "A feed's Xano records against its open_jobs. Uses DATABASE_URL and XANO_API_URL / "
            "XANO_API_KEY (and the syncer's XANO_* settings) when set, else the local stack."
        ),
    )
    audit = actions.add_parser(
        "audit",
        help="compare the feed's Xano records with open_jobs (writes nothing)",
        description="Missing, extra, stale, duplicated and foreign records. Exit 1 if any "
        "difference a resync would repair was found.",
    )
    audit.add_argument("--json", action="store_true", help="print every hash as JSON")
    audit.set_defaults(handler=_audit)
    resync = actions.add_parser(
        "resync",
        help="make the feed's Xano records equal open_jobs now (the syncer's reconcile)",
        description="Runs the reconcile under the feed's lock and the delete cap. Exit 1 "
        "unless the feed ends in sync.",
    )
    resync.add_argument(
        "--confirm-deletes",
        action="store_true",
        help="allow this resync to delete past the cap (XANO_MAX_DELETE_SHARE)",
    )
    resync.add_argument("--json", action="store_true", help="print the outcome as JSON")
    resync.set_defaults(handler=_resync)
    confirm = actions.add_parser(
        "confirm-deletes",
        help="let the feed's next reconcile delete past the cap",
        description="Records an operator's confirmation; the next reconcile of the feed that "
        "needs it uses it up. Without --max it covers any number of deletes.",
    )
    confirm.add_argument("--max", type=int, default=None, help="the most deletes it allows")
    confirm.add_argument("--by", default=getpass.getuser(), help="who confirms ($USER)")
    confirm.add_argument("--valid-hours", type=float, default=24.0, help="expiry (default 24)")
    confirm.set_defaults(handler=_confirm)
    for action in (audit, resync, confirm):
        action.add_argument("feed_id", type=int, help="the feed")
        action.add_argument("--dsn", help="default: DATABASE_URL, else the local stack's")
    for action in (audit, resync):
        action.add_argument("--xano-url", help="default: XANO_API_URL, else the local emulator")


# -- the actions ----------------------------------------------------------------------------


def _audit(args: argparse.Namespace) -> int:
    async def run(db: Database) -> Audit:
        async with XanoClient(_xano_settings(args)) as client:
            return await audit_feed(db, client, args.feed_id, _field_map())

    found = _run(args, run)
    if args.json:
        print(json.dumps(found.as_json(), indent=2))
    else:
        _print_audit(found)
    return EXIT_OK if found.in_sync else EXIT_FAILURE


def _resync(args: argparse.Namespace) -> int:
    async def run(db: Database) -> SyncOutcome:
        if args.confirm_deletes:
            async with db.connection() as conn:
                await mirror.confirm_deletes(
                    conn, args.feed_id, max_deletes=None, by=_operator(), valid_hours=1.0
                )
        try:
            async with XanoClient(_xano_settings(args)) as client:
                syncer = Syncer(db, client, _field_map(), delete_cap=_delete_cap())
                return await syncer.reconcile(args.feed_id)
        finally:
            if args.confirm_deletes:  # this resync's word only: never left for a later one
                async with db.connection() as conn:
                    await mirror.withdraw_delete_confirmation(conn, args.feed_id)

    outcome = _run(args, run)
    if args.json:
        print(json.dumps({"feed_id": args.feed_id, **outcome.as_report()}, indent=2))
    else:
        _print_outcome(args.feed_id, outcome)
    return EXIT_OK if outcome.status is SyncStatus.SYNCED else EXIT_FAILURE


def _confirm(args: argparse.Namespace) -> int:
    if args.max is not None and args.max < 0:
        raise CommandError("--max must be 0 or more")

    async def run(db: Database) -> None:
        async with db.connection() as conn:
            await mirror.confirm_deletes(
                conn, args.feed_id, max_deletes=args.max, by=args.by, valid_hours=args.valid_hours
            )

    _run(args, run)
    limit = "any number of" if args.max is None else f"up to {args.max:,}"
    print(
        f"feed {args.feed_id}: its next reconcile may delete {limit} Xano records past the cap "
        f"(confirmed by {args.by}, valid {args.valid_hours:g} h)"
    )
    return EXIT_OK


# -- settings -------------------------------------------------------------------------------


def _dsn(args: argparse.Namespace) -> str:
    return str(args.dsn or os.environ.get("DATABASE_URL") or StackConfig.from_env().dsn)


def _xano_settings(args: argparse.Namespace) -> XanoSettings:
    """The syncer's Xano settings; the local emulator and its token unless told otherwise."""
    env: dict[str, str] = dict(os.environ)
    if args.xano_url:
        env["XANO_API_URL"] = args.xano_url
    elif "XANO_API_URL" not in env:
        env["XANO_API_URL"] = PipelineConfig.from_env(StackConfig.from_env()).xano_base_url
        env.setdefault("XANO_API_KEY", XANO_TOKEN)
    try:
        return XanoSettings.from_env(env)
    except SettingsError as error:
        raise CommandError(str(error)) from error


def _field_map() -> Mapping[str, str]:
    try:
        return field_map_from(os.environ.get("XANO_FIELD_MAP", ""))
    except SettingsError as error:
        raise CommandError(str(error)) from error


def _delete_cap() -> DeleteCap:
    try:
        return delete_cap_from(os.environ)
    except SettingsError as error:
        raise CommandError(str(error)) from error


def _operator() -> str:
    return f"{getpass.getuser()} (jobstream xano resync --confirm-deletes)"


def _run(args: argparse.Namespace, work: Callable[[Database], Awaitable[T]]) -> T:
    async def main() -> T:
        db = Database(Secret(_dsn(args)))
        try:
            return await work(db)
        finally:
            await db.close()

    try:
        return asyncio.run(main())
    except XanoError as error:
        raise CommandError(f"Xano: {error}") from error
    except SchemaOutdatedError as error:
        raise CommandError(str(error)) from error
    except (OSError, asyncpg.PostgresError) as error:
        raise CommandError(f"database: {type(error).__name__}: {error}") from error


# -- output ---------------------------------------------------------------------------------


def _print_audit(found: Audit) -> None:
    console = Console(width=160)
    verdict = "in sync" if found.in_sync else "out of sync"
    console.print(
        f"feed {found.feed_id}: {found.open_jobs:,} open jobs, {found.mirrored:,} records in "
        f"Xano: {verdict}"
    )
    table = Table()
    for column in ("records", "count", "examples", "a resync"):
        table.add_column(column, overflow="fold")
    foreign = tuple(f"{h} (feed {f})" for h, f in found.foreign)
    rows = (
        ("missing", found.missing, "adds them"),
        ("extra", found.extra, "deletes them (within the cap)"),
        ("stale", found.stale, "updates them"),
        ("duplicated", found.duplicated, "keeps one copy"),
        ("foreign", foreign, "leaves them alone"),
    )
    for name, hashes, action in rows:
        examples = ", ".join(hashes[:EXAMPLES_SHOWN]) + (
            " …" if len(hashes) > EXAMPLES_SHOWN else ""
        )
        table.add_row(name, f"{len(hashes):,}", examples, action if hashes else "")
    console.print(table)


def _print_outcome(feed_id: int, outcome: SyncOutcome) -> None:
    print(
        f"feed {feed_id}: {outcome.status}: {outcome.added:,} added, {outcome.updated:,} "
        f"updated, {outcome.deleted:,} deleted, {outcome.failed:,} failed"
    )
    for error in outcome.errors:
        print(f"  {error}")

"""`jobstream jobs show HASH`: where a job is, which feed owns its row, and its sources."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
from typing import Any

from rich.console import Console
from rich.table import Table

from cli import control
from cli.base import EXIT_FAILURE, EXIT_OK, SubParsers, command_group
from cli.stack import StackConfig
from schemas.job_tables import TABLES


def register(subparsers: SubParsers) -> None:
    actions = command_group(
        subparsers,
        "jobs",
        "look at one job: its table, its owner and its sources",
        "Reads PostgreSQL (DATABASE_URL, else the local stack). Writes nothing.",
    )
    show = actions.add_parser(
        "show",
        help="a job's place, owner feed and sources (the feeds that list it)",
        description="The table the job is in, the feed that owns its row (its fields are "
        "the ones on the board), and every feed that lists it: external id, apply URL, first "
        "and last seen run, what its last listing did, the run that dropped it. Exit 1 if no "
        "such job.",
    )
    show.add_argument("job_hash", help="the job's content hash")
    show.add_argument("--json", action="store_true", help="print JSON")
    show.add_argument("--dsn", help="default: DATABASE_URL, else the local stack's")
    show.set_defaults(handler=_show)


async def _read(dsn: str, job_hash: str) -> dict[str, Any] | None:
    conn = await control.connect(dsn)
    try:
        for table in TABLES.values():
            row = await conn.fetchrow(
                f"SELECT j.job_hash, j.feed_id, f.name AS feed_name, j.title, j.company_name, "
                f"j.status, j.route_reason FROM {table} j LEFT JOIN feeds f ON f.id = j.feed_id "
                "WHERE j.job_hash = $1",
                job_hash,
            )
            if row is not None:
                break
        else:
            return None
        sources = await conn.fetch(
            "SELECT s.feed_id, f.name AS feed_name, s.external_job_id, s.application_url, "
            "s.first_seen_run, s.last_seen_run, s.last_change, s.dropped_run "
            "FROM job_sources s LEFT JOIN feeds f ON f.id = s.feed_id "
            "WHERE s.job_hash = $1 ORDER BY s.created_at, s.feed_id",
            job_hash,
        )
    finally:
        await conn.close()
    return dict(row) | {"table": table, "sources": [dict(s) for s in sources]}


def _show(args: argparse.Namespace) -> int:
    dsn = str(args.dsn or os.environ.get("DATABASE_URL") or StackConfig.from_env().dsn)
    job = asyncio.run(_read(dsn, args.job_hash))
    if job is None:
        print(f"no job {args.job_hash}")
        return EXIT_FAILURE
    if args.json:
        print(json.dumps(job, default=str))
        return EXIT_OK
    console = Console()
    console.print(
        f"{job['title']} at {job['company_name']}: {job['table']} ({job['status']}, "
        f"{job['route_reason']}); owner feed {job['feed_id']} {job['feed_name'] or ''}"
    )
    table = Table("feed", "external id", "apply URL", "first seen", "last seen", "last listing",
                  "dropped by", title="sources")  # fmt: skip
    for s in job["sources"]:
        table.add_row(
            f"{s['feed_id']} {s['feed_name'] or ''}", s["external_job_id"] or "",
            s["application_url"] or "", s["first_seen_run"], s["last_seen_run"],
            s["last_change"], s["dropped_run"] or "listed",
        )  # fmt: skip
    console.print(table)
    return EXIT_OK

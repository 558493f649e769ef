"""`jobstream demo`: the sample feed end to end on the local stack, then its run report."""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import urllib.request

import asyncpg
from rich.console import Console
from rich.table import Table

from cli import control, pipeline
from cli.base import EXIT_FAILURE, EXIT_OK, SubParsers
from cli.stack import StackConfig, ensure_up
from cli.stack.config import PROJECT_ROOT
from schemas.records import RunStatus
from schemas.report import REPORT_COUNTS, ExecutionReport
from services.api import accounts
from services.api.adapters import accounts_repository

SAMPLE_FEED = PROJECT_ROOT / "examples" / "feeds" / "sample-feed.xml"
SAMPLE_MAPPING = PROJECT_ROOT / "examples" / "feeds" / "sample-mapping.json"
DEMO_ADMIN = "admin"


def register(subparsers: SubParsers) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="run the sample feed through the whole pipeline and print its report",
        description=(
            "Starts the local stack (Kafka, PostgreSQL), the Xano emulator and the four "
            "services if they are not running, runs examples/feeds/sample-feed.xml end to end "
            "with the offline enricher, and prints the run report."
        ),
    )
    parser.add_argument("--timeout", type=float, default=180.0, help="seconds to wait (180)")
    parser.set_defaults(handler=_demo)


def _demo(args: argparse.Namespace) -> int:
    console = Console()
    stack = StackConfig.from_env()
    console.print("[bold]1/4[/] starting the local stack (Kafka, PostgreSQL)…")
    info = asyncio.run(ensure_up(stack))
    console.print("[bold]2/4[/] starting the Xano emulator and the four services…")
    config = pipeline.PipelineConfig.from_env(stack)
    pipeline.start(config)
    console.print("[bold]3/4[/] running the sample feed…")
    report, counts = asyncio.run(_run_sample(info.bootstrap, info.dsn, args.timeout))
    console.print("[bold]4/4[/] done.\n")
    _print_report(console, report, counts, _xano_records(config, report.feed_id))
    _print_console_login(console, config.api_url, asyncio.run(ensure_demo_admin(info.dsn)))
    console.print(
        "\nThe stack keeps running. Stop everything with [bold]make stack-down[/] "
        "(or [bold]jobstream stack down[/])."
    )
    return EXIT_OK if report.run_status is not RunStatus.FAILURE else EXIT_FAILURE


async def _run_sample(
    bootstrap: str, dsn: str, timeout_s: float
) -> tuple[ExecutionReport, dict[str, int]]:
    mapping = json.loads(SAMPLE_MAPPING.read_text())
    feed_id = await control.ensure_feed(
        dsn, name="sample", source_url=str(SAMPLE_FEED), mapping=mapping, company_name="Sample"
    )
    run_id = await control.request_run(bootstrap, feed_id)
    report = await control.wait_for_report(dsn, run_id, timeout_s=timeout_s, synced=True)
    return report, await control.table_counts(dsn, feed_id)


async def ensure_demo_admin(dsn: str) -> str | None:
    """Creates the console's first admin with a fresh password; None when it exists already."""
    conn = await asyncpg.connect(dsn)
    try:
        if await conn.fetchval("SELECT 1 FROM users WHERE username = $1", DEMO_ADMIN):
            return None
        password = secrets.token_urlsafe(12)
        try:
            await accounts_repository.create_user(
                conn, DEMO_ADMIN, accounts.hash_password(password), "admin"
            )
        except asyncpg.UniqueViolationError:  # another demo made it a moment ago
            return None
        return password
    finally:
        await conn.close()


def _print_console_login(console: Console, api_url: str, password: str | None) -> None:
    console.print(f"\nThe operator console: [bold]{api_url}/console/review[/]")
    if password is None:
        console.print(
            f"  user [bold]{DEMO_ADMIN}[/] exists already; set a new password with "
            f"[bold]jobstream users password {DEMO_ADMIN}[/]"
        )
    else:
        console.print(f"  user [bold]{DEMO_ADMIN}[/], password [bold]{password}[/] (shown once)")
    console.print(
        "  more accounts: [bold]jobstream users add NAME --role viewer|reviewer|admin[/]; "
        "API docs at /docs"
    )


def _xano_records(config: pipeline.PipelineConfig, feed_id: int) -> int:
    url = f"http://127.0.0.1:{config.xano_port}/__admin/records?feed_id={feed_id}"
    with urllib.request.urlopen(url, timeout=5) as answer:
        body = json.load(answer)
    return len(body["records"] if isinstance(body, dict) else body)


def _print_report(
    console: Console, report: ExecutionReport, counts: dict[str, int], xano: int
) -> None:
    heading = f"Run {report.run_id} of feed {report.feed_id}: {report.run_status}"
    console.print(heading, soft_wrap=True)  # not a table title, which wraps at the table's width
    table = Table()
    table.add_column("what")
    table.add_column("count", justify="right")
    for label, value in REPORT_COUNTS:
        table.add_row(label, str(value(report)))
    table.add_row("duration (s)", f"{report.duration_seconds or 0:.2f}")
    console.print(table)
    console.print(f"run {report.run_id}")
    where = ", ".join(f"{name} {n}" for name, n in counts.items())
    console.print(f"PostgreSQL (this feed): {where}")
    console.print(f"Xano emulator records for this feed: {xano} (Xano sync: {report.xano_status})")
    if report.error_summary:
        console.print(f"[yellow]notes:[/] {'; '.join(report.error_summary)}")

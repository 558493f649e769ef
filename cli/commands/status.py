"""`jobstream status FEED`: the feed's last run, its report or its live progress."""

from __future__ import annotations

import argparse
from typing import Any

from rich.console import Console
from rich.table import Table

from cli.api_client import ApiClient, add_api_options
from cli.base import EXIT_FAILURE, EXIT_OK, SubParsers
from schemas.records import RunStatus
from schemas.report import REPORT_COUNTS, ExecutionReport


def register(subparsers: SubParsers) -> None:
    parser = subparsers.add_parser(
        "status",
        help="the feed's last run: its report, or its progress while it runs",
        description="Show the last run of a feed. Exit code 1 when that run failed.",
    )
    parser.add_argument("feed", type=int, help="feed id")
    add_api_options(parser)
    parser.set_defaults(handler=_status)


def _status(args: argparse.Namespace) -> int:
    view = ApiClient.from_args(args).get(f"/execution-status/{args.feed}")
    console = Console()
    print_run(console, view)
    for held in view.get("held_archives", []):
        if held["run_id"] != view["run"]["run_id"]:  # the last run's hold is shown above
            console.print(
                f"[bold yellow]archive held: {held['held']} jobs, confirm or discard[/] "
                f"(run {held['run_id']})",
                soft_wrap=True,
            )
    return EXIT_FAILURE if view["progress"]["status"] == RunStatus.FAILURE else EXIT_OK


def print_run(console: Console, view: dict[str, Any]) -> None:
    """The report table of a finished run, or the per-stage progress of a running one."""
    run, progress = view["run"], view["progress"]
    report = ExecutionReport.from_json(view["report"]) if view["report"] else None
    # a line of its own: a table title wraps at the table's width, splitting the status off
    heading = f"Run {run['run_id']} of feed {run['feed_id']}: {progress['status']}"
    console.print(heading, soft_wrap=True)
    table = Table()
    table.add_column("what")
    table.add_column("count", justify="right")
    if report is not None and progress["finished"]:
        for label, value in REPORT_COUNTS:
            table.add_row(label, str(value(report)))
        if report.duration_seconds is not None:
            table.add_row("duration (s)", f"{report.duration_seconds:.2f}")
        table.add_row("Xano sync", str(report.xano_status or "pending"))
    else:
        stages = progress["stages"]
        emitted = stages["ingest"]["emitted"]
        table.add_row("records emitted", "reading the feed" if emitted is None else str(emitted))
        table.add_row("records with an outcome", str(stages["route"]["outcomes"]))
        for outcome, count in stages["route"]["by_outcome"].items():
            table.add_row(f"  {outcome}", str(count))
    console.print(table)
    archive = progress.get("archive") or {}
    if archive.get("message"):
        console.print(f"[bold yellow]{archive['message']}[/]:", soft_wrap=True)
        for action in ("confirm-archive", "discard-archive"):
            console.print(f"  jobstream runs {action} {run['run_id']}", soft_wrap=True)
    if progress.get("waiting_for"):
        console.print(f"[cyan]waiting for:[/] {progress['waiting_for']}", soft_wrap=True)
    if report and report.error_summary:
        console.print(f"[yellow]notes:[/] {'; '.join(map(str, report.error_summary))}")
    if run.get("failure_reason"):
        console.print(f"[red]failure:[/] {run['failure_reason']}")

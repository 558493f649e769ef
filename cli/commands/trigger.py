"""`jobstream trigger FEED [--wait]`: request a run; with --wait, follow it stage by stage.

Exit codes with --wait: 0 when the run ends SUCCESS or PARTIAL, 1 for FAILURE (or when it
does not finish in time). Without --wait: 0 once the run is requested.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    TaskID,
    TextColumn,
)
from rich.table import Column

from cli.api_client import ApiCallError, ApiClient, add_api_options
from cli.base import EXIT_FAILURE, EXIT_OK, CommandError, SubParsers
from cli.commands.status import print_run
from schemas.records import RunStatus

POLL_S = 0.5


def register(subparsers: SubParsers) -> None:
    parser = subparsers.add_parser(
        "trigger",
        help="request a run of a feed (--wait: follow it to its report)",
        description=(
            "Request a run of FEED. With --wait, show a progress bar per stage until the run "
            "completes, then its report; exit 0 for SUCCESS or PARTIAL, 1 for FAILURE. If the "
            "feed already has a run in progress, --wait follows that run instead."
        ),
    )
    parser.add_argument("feed", type=int, help="feed id")
    parser.add_argument("--wait", action="store_true", help="follow the run to its report")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds to wait (600)")
    parser.add_argument(
        "--sync-timeout", type=float, default=60.0, help="seconds to wait for Xano (60)"
    )
    add_api_options(parser)
    parser.set_defaults(handler=_trigger)


def _trigger(args: argparse.Namespace) -> int:
    client = ApiClient.from_args(args)
    console = Console()
    try:
        run_id = client.post(f"/trigger-feed/{args.feed}")["run_id"]
        console.print(f"run {run_id} of feed {args.feed} requested")
    except ApiCallError as error:
        running = error.body.get("run_id")
        if error.status != 409 or not running or not args.wait:
            raise
        run_id = running
        console.print(f"feed {args.feed} already has run {run_id} in progress: following it")
    if not args.wait:
        return EXIT_OK
    view = follow(client, console, run_id, timeout_s=args.timeout, sync_timeout_s=args.sync_timeout)
    print_run(console, view)
    return EXIT_FAILURE if view["progress"]["status"] == RunStatus.FAILURE else EXIT_OK


def follow(
    client: ApiClient, console: Console, run_id: str, *, timeout_s: float, sync_timeout_s: float
) -> dict[str, Any]:
    """Polls the run, drawing one bar per stage, until it has finished and reached Xano."""
    deadline = time.monotonic() + timeout_s
    finished_at: float | None = None
    with Progress(*_columns(), console=console, transient=False) as bars:
        tasks = _Stages(bars)
        while True:
            view = client.get(f"/runs/{run_id}")
            tasks.show(view["progress"])
            progress = view["progress"]
            if progress["finished"]:
                finished_at = finished_at or time.monotonic()
                synced = progress["stages"]["sync"]["done"]
                if synced or time.monotonic() - finished_at > sync_timeout_s:
                    return dict(view)
            if time.monotonic() > deadline:
                raise CommandError(f"run {run_id} did not finish in {timeout_s:.0f} s")
            time.sleep(POLL_S)


def _columns() -> tuple[ProgressColumn, ...]:
    # Fixed widths: a long note is cut rather than squeezing the stage names and bars.
    return (
        TextColumn("{task.description}", table_column=Column(min_width=12, no_wrap=True)),
        BarColumn(bar_width=24),
        MofNCompleteColumn(table_column=Column(min_width=7, no_wrap=True)),
        TextColumn(
            "{task.fields[note]}",
            table_column=Column(no_wrap=True, overflow="ellipsis", max_width=40),
        ),
    )


class _Stages:
    """The three bars: reading the feed, records with an outcome, the Xano sync."""

    def __init__(self, bars: Progress) -> None:
        self._bars = bars
        self.ingest: TaskID = bars.add_task("read feed", total=None, note="")
        self.route: TaskID = bars.add_task("route", total=None, note="")
        self.sync: TaskID = bars.add_task("sync to Xano", total=1, note="")

    def show(self, progress: dict[str, Any]) -> None:
        stages = progress["stages"]
        emitted = stages["ingest"]["emitted"]
        if emitted is not None:
            self._bars.update(
                self.ingest, total=max(emitted, 1), completed=max(emitted, 1),
                note=f"{emitted} records",
            )  # fmt: skip
        route = stages["route"]
        outcomes = ", ".join(f"{k} {v}" for k, v in route["by_outcome"].items())
        total = None if emitted is None else max(emitted, 1)
        done = route["outcomes"] if emitted else (1 if route["done"] else 0)
        self._bars.update(self.route, total=total, completed=done, note=outcomes)
        sync = stages["sync"]
        self._bars.update(
            self.sync, completed=1 if sync["done"] else 0, note=sync["xano_status"] or ""
        )
        if progress["finished"]:
            self._bars.update(self.route, note=f"{progress['status']}: {outcomes}")

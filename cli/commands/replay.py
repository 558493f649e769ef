"""`jobstream replay`: reprocess a past run from a stage on, without fetching the feed again."""

from __future__ import annotations

import argparse
import asyncio
import os
from datetime import datetime

from cli import replay
from cli.base import EXIT_OK, CommandError, SubParsers
from cli.commands.users import audit_from_cli
from cli.options import stack_config


def register(subparsers: SubParsers) -> None:
    parser = subparsers.add_parser(
        "replay",
        help="reprocess a past run from the enrich or route stage on",
        description=(
            "Republishes a completed run's retained records from jobs.deduped (--stage enrich) "
            "or jobs.enriched (--stage route) as a new run with reason 'replay', so that stage "
            "and everything after it run again, without fetching the feed. Works while the "
            "services run; replaying twice makes two runs, both harmless. Waits while the "
            "feed has a run in progress (triggers wait for the replay likewise); a replay "
            "never archives jobs."
        ),
    )
    parser.add_argument("--stage", required=True, choices=[s.value for s in replay.Stage])
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--run", help="the run to replay")
    which.add_argument("--feed", type=int, help="replay this feed's latest completed run")
    parser.add_argument(
        "--since", type=datetime.fromisoformat, help="with --feed: only runs started since (ISO)"
    )
    parser.add_argument(
        "--refresh", action="store_true", help="bypass the enrichment cache (enrich stage)"
    )
    parser.add_argument(
        "--wait",
        type=float,
        default=1800.0,
        help="seconds to wait while the feed has a run in progress (default 1800)",
    )
    parser.set_defaults(handler=_replay)


def _replay(args: argparse.Namespace) -> int:
    config = stack_config(args)
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS") or config.bootstrap
    dsn = os.environ.get("DATABASE_URL") or config.dsn
    try:
        run_id = asyncio.run(_run(bootstrap, dsn, args))
    except replay.ReplayError as error:
        raise CommandError(str(error)) from error
    print(f"replay started as run {run_id}")
    return EXIT_OK


async def _run(bootstrap: str, dsn: str, args: argparse.Namespace) -> str:
    past = await replay.find_run(dsn, run_id=args.run, feed_id=args.feed, since=args.since)
    waiting: set[str] = set()

    def tell(running: str) -> None:
        if running not in waiting:
            waiting.add(running)
            print(f"feed {past.feed_id} has run {running} in progress: waiting for it to end")

    run_id = await replay.replay(
        bootstrap, dsn, past, replay.Stage(args.stage), refresh=args.refresh,
        wait_s=args.wait, on_wait=tell,
    )  # fmt: skip
    detail = {"stage": args.stage, "refresh": args.refresh, "new_run_id": run_id}
    await audit_from_cli(dsn, "run.replay", f"run:{past.run_id}", detail)
    return run_id

"""`jobstream backfill`: enrich a feed's (or every feed's) open and review jobs again."""

from __future__ import annotations

import argparse
import asyncio
import os
import uuid
from datetime import UTC, datetime

import asyncpg

from cli import replay
from cli.base import EXIT_OK, CommandError, SubParsers
from cli.commands.users import audit_from_cli
from cli.options import add_stack_options, stack_config
from schemas.records import DedupedJob, IngestFinished
from services.enricher import backfill
from services.enricher.backfill import store
from services.enricher.config import EnricherSettings
from services.shared.settings import SettingsError


def register(subparsers: SubParsers) -> None:
    parser = subparsers.add_parser(
        "backfill",
        help="enrich every open and review job again (after a taxonomy, profile or prompt change)",
        description=(
            "Enriches the feed's (--feed) or every feed's (--all) open and manual-review jobs "
            "again, bypassing the enrichment cache, and routes the results as a run of each "
            "feed (reason 'replay': it never archives). Without --batch-api the jobs go "
            "through the running enricher (online calls). With --batch-api they go through "
            "Gemini's Batch API at half price: the state is in PostgreSQL and this command "
            "drives it to its end; if it is killed, `jobstream backfill --resume ID` (or "
            "`python -m services.enricher.backfill`) carries on without sending any request "
            "twice. Reads the enricher's settings (GEMINI_*, TAXONOMY_SOURCE, AUDIENCE_PROFILE) "
            "from the environment."
        ),
    )
    add_stack_options(parser)
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--feed", type=int, help="this feed's open and review jobs")
    which.add_argument("--all", action="store_true", help="every feed's open and review jobs")
    which.add_argument("--resume", type=int, metavar="ID", help="drive backfill ID to its end")
    parser.add_argument(
        "--stage", choices=["enrich"], default="enrich", help="the stage to redo (enrich)"
    )
    parser.add_argument(
        "--batch-api", action="store_true", help="through Gemini's Batch API (half price)"
    )
    parser.add_argument(
        "--wait",
        type=float,
        default=1800.0,
        help="without --batch-api: seconds to wait while a feed has a run in progress",
    )
    parser.set_defaults(handler=_backfill)


def _backfill(args: argparse.Namespace) -> int:
    config = stack_config(args)
    env = {
        **os.environ,
        "DATABASE_URL": os.environ.get("DATABASE_URL") or config.dsn,
        "KAFKA_BOOTSTRAP_SERVERS": os.environ.get("KAFKA_BOOTSTRAP_SERVERS") or config.bootstrap,
    }
    try:
        settings = EnricherSettings.from_env(env)
        if args.resume is not None or args.batch_api:
            plan = backfill.plan_for(settings)
    except SettingsError as error:
        raise CommandError(str(error)) from error
    feed_id = None if args.all else args.feed
    if args.resume is not None:
        backfill_id = args.resume
        if asyncio.run(backfill.status(settings.database_url.value, backfill_id)) is None:
            raise CommandError(f"there is no backfill {backfill_id}")
    elif args.batch_api:
        backfill_id = asyncio.run(backfill.create(settings, feed_id, batch_api=True))
        print(f"backfill {backfill_id} started through the Batch API")
    else:
        runs = asyncio.run(_online(settings, feed_id, args.wait))
        for feed, run_id, jobs in runs:
            print(f"feed {feed}: {jobs} jobs sent to the enricher as run {run_id}")
        return EXIT_OK
    try:
        driven = asyncio.run(backfill.drive(settings, backfill_id, plan))
    except Exception as error:  # its state is in PostgreSQL: nothing done is lost
        raise CommandError(
            f"backfill {backfill_id} stopped ({error}); `jobstream backfill --resume "
            f"{backfill_id}` carries on, and so does any enricher with the gemini backend"
        ) from error
    if not driven:
        print(f"backfill {backfill_id} is driven by another process (an enricher): waiting")
        asyncio.run(backfill.wait_completed(settings.database_url.value, backfill_id, plan.poll_s))
    asyncio.run(
        audit_from_cli(
            settings.database_url.value,
            "backfill",
            f"backfill:{backfill_id}",
            {"feed_id": feed_id, "batch_api": True},
        )
    )
    print(f"backfill {backfill_id} completed")
    return EXIT_OK


async def _online(
    settings: EnricherSettings, feed_id: int | None, wait_s: float
) -> list[tuple[int, str, int]]:
    """Each feed's live jobs as a new run into `jobs.deduped` (refresh: the cache is
    bypassed), taking the feed's run lock as `jobstream replay` does."""
    dsn = settings.database_url.value
    conn = await asyncpg.connect(dsn)
    try:
        live = await store.live_jobs(conn, feed_id)
    finally:
        await conn.close()
    by_feed: dict[int, list[replay.Keyed]] = {}
    for live_job in live:
        jobs = by_feed.setdefault(live_job.feed_id, [])
        record = DedupedJob(
            run_id="",
            feed_id=live_job.feed_id,
            seq=len(jobs) + 1,
            job_hash=live_job.job_hash,
            job=live_job.posting,
            refresh=True,
        )
        jobs.append(replay.Keyed(live_job.job_hash.encode(), record))
    started = []
    for feed, jobs in sorted(by_feed.items()):
        past = replay.PastRun(
            "",
            feed,
            datetime.now(UTC),
            len(jobs),
            IngestFinished(run_id="", feed_id=feed, emitted=len(jobs), parsed=len(jobs)),
        )
        run_id = await _start(settings, past, jobs, wait_s)
        await audit_from_cli(dsn, "backfill", f"feed:{feed}", {"run_id": run_id, "jobs": len(jobs)})
        started.append((feed, run_id, len(jobs)))
    return started


async def _start(
    settings: EnricherSettings, past: replay.PastRun, jobs: list[replay.Keyed], wait_s: float
) -> str:
    dsn, bootstrap = settings.database_url.value, settings.stream.bootstrap_servers
    run_id = str(uuid.uuid4())
    fresh = replay.rerun(jobs, run_id, refresh=True)
    try:
        await replay.claim_feed(dsn, past.feed_id, run_id, wait_s=wait_s)
    except replay.ReplayError as error:
        raise CommandError(str(error)) from error
    try:
        await replay.publish(
            bootstrap, replay.SOURCE_TOPIC[replay.Stage.ENRICH], past, run_id, fresh
        )
    except BaseException:
        await replay.release_unstarted(dsn, run_id)
        raise
    return run_id

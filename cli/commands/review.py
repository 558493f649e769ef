"""`jobstream review list|approve|reject`: the manual review queue, through the API."""

from __future__ import annotations

import argparse
import getpass

from rich.console import Console
from rich.table import Table

from cli.api_client import ApiClient, add_api_options, segment
from cli.base import EXIT_OK, SubParsers, command_group


def register(subparsers: SubParsers) -> None:
    actions = command_group(
        subparsers,
        "review",
        "list, approve or reject jobs waiting for manual review",
        "The manual review queue. An approved job goes to Xano at once.",
    )
    listing = actions.add_parser("list", help="jobs waiting, oldest first")
    listing.add_argument("--feed", type=int, help="only this feed's jobs")
    listing.add_argument("--limit", type=int, default=50)
    listing.add_argument("--offset", type=int, default=0)
    listing.set_defaults(handler=_list)
    approve = actions.add_parser("approve", help="approve a job: open_jobs and Xano")
    approve.add_argument("job_hash")
    approve.set_defaults(handler=_approve)
    reject = actions.add_parser("reject", help="reject a job with a reason")
    reject.add_argument("job_hash")
    reject.add_argument("--reason", required=True, help="why (kept with the job)")
    reject.set_defaults(handler=_reject)
    for action in (approve, reject):
        action.add_argument("--reviewer", default=getpass.getuser(), help="who decides ($USER)")
    for action in (listing, approve, reject):
        add_api_options(action)


def _list(args: argparse.Namespace) -> int:
    answer = ApiClient.from_args(args).get(
        "/review", feed_id=args.feed, limit=args.limit, offset=args.offset
    )
    shown = len(answer["jobs"])
    table = Table(title=f"manual review: {shown} of {answer['total']}")
    for column in ("job_hash", "feed", "title", "company", "confidence", "why"):
        table.add_column(column, overflow="fold")
    for job in answer["jobs"]:
        score = job["ai_confidence_score"]
        table.add_row(
            job["job_hash"], str(job["feed_id"]), job["title"], job["company_name"],
            "-" if score is None else f"{score:.2f}", job["route_reason"],
        )  # fmt: skip
    Console().print(table)
    return EXIT_OK


def _approve(args: argparse.Namespace) -> int:
    path = f"/review/{segment(args.job_hash)}/approve"
    answer = ApiClient.from_args(args).post(path, {"reviewer": args.reviewer})
    where = "sent to Xano" if answer["published"] else "Xano gets it at the next sync"
    print(f"approved {args.job_hash} (feed {answer['feed_id']}): in open_jobs, {where}")
    return EXIT_OK


def _reject(args: argparse.Namespace) -> int:
    path = f"/review/{segment(args.job_hash)}/reject"
    body = {"reviewer": args.reviewer, "reason": args.reason}
    answer = ApiClient.from_args(args).post(path, body)
    print(f"rejected {args.job_hash} (feed {answer['feed_id']}): {answer['reason']}")
    return EXIT_OK

"""`jobstream runs show|confirm-archive|discard-archive|fail`: one run, and the operator's
answers to a held archive or a run that cannot complete, through the API."""

from __future__ import annotations

import argparse
import getpass
import time
from typing import Any

from rich.console import Console

from cli.api_client import ApiClient, add_api_options, segment
from cli.base import EXIT_FAILURE, EXIT_OK, CommandError, SubParsers, command_group
from cli.commands.status import print_run
from schemas.records import RunStatus
from schemas.status import ArchiveState

POLL_S = 0.5


def register(subparsers: SubParsers) -> None:
    actions = command_group(
        subparsers,
        "runs",
        "show a run; confirm or discard its held archive; fail a run that is stuck",
        (
            "A run that would archive more of its feed than the feed's normal variation "
            "holds the archive: `confirm-archive` applies it (the jobs leave open_jobs and "
            "Xano), `discard-archive` keeps the jobs. `fail` closes a run that cannot "
            "complete as a FAILURE, so its feed can run again."
        ),
    )
    show = actions.add_parser("show", help="the run's report, progress and archive")
    show.set_defaults(handler=_show)
    confirm = actions.add_parser("confirm-archive", help="apply the run's held archive")
    confirm.set_defaults(handler=_confirm)
    discard = actions.add_parser("discard-archive", help="drop the run's held archive")
    discard.set_defaults(handler=_discard)
    fail = actions.add_parser("fail", help="close a run that cannot complete as a FAILURE")
    fail.add_argument("--reason", default="failed by an operator", help="why (in the report)")
    fail.set_defaults(handler=_fail)
    for action in (confirm, discard, fail):
        action.add_argument("--by", default=getpass.getuser(), help="who decides ($USER)")
        action.add_argument(
            "--wait", type=float, default=60.0, help="seconds to wait for the router (0: none)"
        )
    for action in (show, confirm, discard, fail):
        action.add_argument("run", help="the run's id")
        add_api_options(action)


def _show(args: argparse.Namespace) -> int:
    view = ApiClient.from_args(args).get(f"/runs/{segment(args.run)}")
    print_run(Console(), view)
    return EXIT_FAILURE if view["progress"]["status"] == RunStatus.FAILURE else EXIT_OK


def _confirm(args: argparse.Namespace) -> int:
    return _decide(args, "confirm-archive")


def _discard(args: argparse.Namespace) -> int:
    return _decide(args, "discard-archive")


def _decide(args: argparse.Namespace, action: str) -> int:
    client = ApiClient.from_args(args)
    answer = client.post(f"/runs/{segment(args.run)}/{action}", {"by": args.by})
    print(f"{action} of run {args.run} (feed {answer['feed_id']}) requested")
    if args.wait <= 0:
        return EXIT_OK
    view = _wait(
        client,
        args.run,
        args.wait,
        lambda v: v["progress"]["archive"]["state"] != ArchiveState.HELD,
    )
    archive = view["progress"]["archive"]
    if archive["state"] == ArchiveState.CONFIRMED:
        print(f"archive applied: {archive['archived']} jobs archived; Xano follows")
    elif archive["state"] == ArchiveState.DISCARDED:
        print(f"archive discarded: the {archive['held']} jobs stay")
    else:
        print(f"archive {archive['state']}: {archive['reason']}")
        return EXIT_FAILURE
    return EXIT_OK


def _fail(args: argparse.Namespace) -> int:
    client = ApiClient.from_args(args)
    body = {"by": args.by, "reason": args.reason}
    answer = client.post(f"/runs/{segment(args.run)}/fail", body)
    print(f"failure of run {args.run} (feed {answer['feed_id']}) requested")
    if args.wait > 0:
        view = _wait(client, args.run, args.wait, lambda v: v["progress"]["finished"])
        print(f"run {args.run}: {view['progress']['status']}: {view['run']['failure_reason']}")
    return EXIT_OK


def _wait(client: ApiClient, run_id: str, timeout_s: float, done: Any) -> dict[str, Any]:
    """Polls the run until `done(view)`; the router acts on the request within seconds."""
    deadline = time.monotonic() + timeout_s
    while True:
        view: dict[str, Any] = client.get(f"/runs/{segment(run_id)}")
        if done(view):
            return view
        if time.monotonic() > deadline:
            raise CommandError(
                f"the router has not acted on run {run_id} within {timeout_s:.0f} s; "
                "is the pipeline running? (`jobstream runs show` tells later)"
            )
        time.sleep(POLL_S)

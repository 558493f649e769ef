"""`jobstream feeds add|list|show`: register partner feeds and look at them, through the API."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from cli.api_client import ApiClient, add_api_options
from cli.base import EXIT_OK, CommandError, SubParsers, command_group
from services.ingestor.feeds.mapping import MappingError, load_mapping
from services.shared.redact import redact_url


def register(subparsers: SubParsers) -> None:
    actions = command_group(
        subparsers, "feeds", "register, list and show feeds", "Partner feeds (via the API)."
    )
    add = actions.add_parser("add", help="register a feed", description="Register a feed.")
    add.add_argument("name", help="a name people recognise")
    add.add_argument("source_url", help="http(s):// or file:// URL, or an absolute path")
    add.add_argument("--format", default="auto", choices=("auto", "xml", "csv", "json"))
    add.add_argument("--mapping", type=Path, help="JSON file: field name -> source element")
    add.add_argument("--company", help="company name for feeds of a single employer")
    add.add_argument("--partner-id", type=int, help="the partner's id")
    add.add_argument("--every", type=int, metavar="MINUTES", help="schedule a run every MINUTES")
    add.add_argument("--bypass-filters", action="store_true", help="approve every job")
    add.set_defaults(handler=_add)
    listing = actions.add_parser("list", help="list feeds")
    listing.add_argument("--limit", type=int, default=100)
    listing.set_defaults(handler=_list)
    show = actions.add_parser("show", help="one feed, all its fields")
    show.add_argument("feed", type=int, help="feed id")
    show.set_defaults(handler=_show)
    for action in (add, listing, show):
        add_api_options(action)


def _feed_body(args: argparse.Namespace) -> dict[str, Any]:
    body: dict[str, Any] = {"name": args.name, "source_url": args.source_url}
    body["format"] = args.format
    if args.mapping is not None:
        try:
            body["mapping"] = json.loads(args.mapping.read_text())
        except (OSError, ValueError) as error:
            raise CommandError(f"cannot read the mapping {args.mapping}: {error}") from error
        try:
            load_mapping(body["mapping"])  # the reader's own loader, before the API sees it
        except MappingError as error:
            raise CommandError(f"invalid mapping {args.mapping}: {error}") from error
    optional = {
        "company_name": args.company,
        "partner_id": args.partner_id,
        "check_frequency_minutes": args.every,
    }
    body.update({k: v for k, v in optional.items() if v is not None})
    if args.bypass_filters:
        body["bypass_filters"] = True
    return body


def _add(args: argparse.Namespace) -> int:
    feed = ApiClient.from_args(args).post("/feeds", _feed_body(args))
    print(f"feed {feed['id']} registered: {feed['name']} ({redact_url(feed['source_url'])})")
    return EXIT_OK


def _list(args: argparse.Namespace) -> int:
    answer = ApiClient.from_args(args).get("/feeds", limit=args.limit)
    table = Table(title="feeds")
    for column in ("id", "name", "active", "every (min)", "last run", "runs", "source"):
        table.add_column(column)
    for feed in answer["feeds"]:
        table.add_row(
            str(feed["id"]), feed["name"], "yes" if feed["is_active"] else "no",
            str(feed["check_frequency_minutes"] or "-"), feed["last_run_status"] or "-",
            str(feed["runs_count"]), redact_url(feed["source_url"]),
        )  # fmt: skip
    Console().print(table)
    return EXIT_OK


def _show(args: argparse.Namespace) -> int:
    feed = ApiClient.from_args(args).get(f"/feeds/{args.feed}")
    table = Table(title=f"feed {feed['id']}", show_header=False)
    table.add_column("field")
    table.add_column("value")
    for name, value in feed.items():
        table.add_row(name, json.dumps(value) if isinstance(value, dict) else str(value))
    Console().print(table)
    return EXIT_OK

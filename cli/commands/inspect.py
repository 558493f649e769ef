"""`jobstream inspect FILE`: parse a feed without running it, show the mapped jobs and the skips."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from cli.base import EXIT_FAILURE, EXIT_OK, CommandError, SubParsers
from schemas.identity import job_hash
from schemas.taxonomy import load_taxonomy
from services.enricher.preview import (
    BackendChoice,
    EnrichedRecord,
    as_json,
    backend_for,
    preview,
)
from services.ingestor.config import feed_settings_from_env
from services.ingestor.feeds import (
    FeedInspection,
    FeedSettings,
    FetchError,
    MappingError,
    inspect_feed,
    load_mapping,
)
from services.shared.database import Database
from services.shared.settings import Secret, SettingsError


def register(subparsers: SubParsers) -> None:
    parser = subparsers.add_parser(
        "inspect",
        help="parse a feed file or URL and show what jobstream would make of it",
        description=(
            "Parses a feed (path, file:// or http(s) URL; XML, CSV or JSON; .gz and .zip too) "
            "with its mapping, and prints the mapped records and every skipped record with its "
            "reason and position. Nothing is published or stored. Exit 1 if the feed could not be "
            "read whole (failed or truncated), or has no record element it can find."
        ),
    )
    parser.add_argument("source", help="feed path or URL")
    parser.add_argument("--mapping", type=Path, help="a mapping JSON file, as stored on a feed")
    parser.add_argument("--limit", type=int, default=20, help="records to show (default 20)")
    parser.add_argument("--json", action="store_true", help="print JSON lines instead of a table")
    parser.add_argument(
        "--enrich", action="store_true",
        help="also enrich the records (taxonomy ids and names, SOC code, confidence, reasons)",
    )  # fmt: skip
    parser.add_argument(
        "--backend", choices=("offline", "gemini"), default=None,
        help="enrichment backend (default: ENRICHMENT_BACKEND, else offline)",
    )  # fmt: skip
    parser.set_defaults(handler=_inspect)


def _inspect(args: argparse.Namespace) -> int:
    mapping = _mapping(args.mapping)
    enriched: list[EnrichedRecord] = []
    try:
        if args.enrich:
            inspection, enriched = asyncio.run(_enriched(args, mapping))
        else:
            inspection = inspect_feed(
                args.source, mapping=mapping, settings=_settings(args.source), limit=args.limit
            )
    except MappingError as error:
        raise CommandError(f"bad mapping: {error}") from error
    except FetchError as error:
        raise CommandError(f"could not read {args.source}: {error}") from error
    stats = inspection.stats
    if stats.fetch_status == "failed" and not inspection.records:
        raise CommandError(f"could not read {args.source}: {stats.error}")
    if args.json:
        _print_json(inspection, enriched if args.enrich else None)
    else:
        _print_tables(inspection)
        if args.enrich:
            _print_enriched(enriched)
    return EXIT_FAILURE if inspection.stats.fetch_status != "ok" else EXIT_OK


def _settings(source: str) -> FeedSettings:
    """The ingestor's settings from the environment; the file the operator names may be read."""
    settings = feed_settings_from_env(os.environ)
    parts = urllib.parse.urlsplit(source)
    if parts.scheme.lower() in ("http", "https"):
        return settings
    path = Path(urllib.request.url2pathname(parts.path) if parts.scheme == "file" else source)
    return dataclasses.replace(settings, local_dirs=(*settings.local_dirs, path.parent))


def _mapping(path: Path | None) -> dict[str, Any] | None:
    if path is None:
        return None
    try:
        loaded = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise CommandError(f"cannot read the mapping {path}: {error}") from error
    if not isinstance(loaded, dict):
        raise CommandError(f"the mapping {path} must be a JSON object")
    try:
        load_mapping(loaded)
    except MappingError as error:
        raise CommandError(f"bad mapping: {error}") from error
    return loaded


async def _enriched(
    args: argparse.Namespace, mapping: dict[str, Any] | None
) -> tuple[FeedInspection, list[EnrichedRecord]]:
    taxonomy = load_taxonomy()
    choice = BackendChoice.from_env(os.environ, args.backend)
    db = await _budget_database(choice)
    try:
        try:
            backend = backend_for(choice, taxonomy, db)
        except (ValueError, SettingsError) as error:
            raise CommandError(str(error)) from error
        try:
            return await preview(
                args.source,
                mapping,
                limit=args.limit,
                backend=backend,
                taxonomy=taxonomy,
                settings=_settings(args.source),
            )
        finally:
            await backend.aclose()
    finally:
        if db is not None:
            await db.close()


async def _budget_database(choice: BackendChoice) -> Database | None:
    """With the gemini backend and DATABASE_URL, the deployment's database, whose one
    requests/tokens budget the preview books in like every enricher replica; None otherwise
    (the preview then keeps to GEMINI_RPM / GEMINI_TPM on its own)."""
    dsn = os.environ.get("DATABASE_URL", "").strip()
    if choice.name != "gemini" or not dsn:
        return None
    db = Database(Secret(dsn), max_size=2)
    try:
        await db.open()
    except Exception as error:
        raise CommandError(
            f"cannot reach the database for the shared Gemini budget: {error}"
        ) from error
    return db


def _print_enriched(records: list[EnrichedRecord]) -> None:
    table = Table(title="enriched records")
    for column in ("#", "ai title", "sector", "industry", "job function", "SOC", "conf.", "why"):
        table.add_column(column, overflow="fold")
    for record in records:
        found = record.enrichment
        if found is None:
            table.add_row(str(record.position), f"[red]failed:[/] {record.error}", *[""] * 6)
            continue
        table.add_row(
            str(record.position), found.ai_title, f"{found.sector} ({found.sector_id})",
            f"{found.industry} ({found.industry_id})",
            f"{found.job_function} ({found.job_function_id})", record.soc_code or "",
            f"{found.confidence / 100:.2f}", "; ".join(found.confidence_reasons),
        )  # fmt: skip
    Console(width=200).print(table)


def _print_json(inspection: FeedInspection, enriched: list[EnrichedRecord] | None) -> None:
    if enriched is not None:
        for item in enriched:
            print(json.dumps(as_json(item)))
    for record in inspection.records if enriched is None else ():
        job = record.job.model_dump(mode="json")
        line = {"position": record.position, "job_hash": job_hash(record.job), "job": job}
        print(json.dumps(line))
    for skipped in inspection.skipped:
        line = {"position": skipped.position, "line": skipped.line, "skipped": skipped.reason}
        if skipped.salvaged:
            line["salvaged"] = skipped.salvaged  # what could still be read of the lost record
        print(json.dumps(line))


def _print_tables(inspection: FeedInspection) -> None:
    console = Console(width=160)
    stats = inspection.stats
    console.print(
        f"dialect {stats.dialect}, encoding {stats.encoding}: {stats.parsed} parsed, "
        f"{stats.malformed} skipped, {stats.closed} closed, fetch {stats.fetch_status}"
        + (f" ({stats.error})" if stats.error else "")
    )
    jobs = Table(title="mapped records")
    for column in ("#", "title", "company", "type", "locations", "posted", "closed"):
        jobs.add_column(column)
    for record in inspection.records:
        job = record.job
        places = "; ".join(
            ", ".join(p for p in (loc.city, loc.state, loc.country) if p) for loc in job.locations
        )
        posted = job.posted_at.isoformat() if job.posted_at else ""
        jobs.add_row(
            str(record.position), job.title, job.company_name, job.employment_type.value,
            places, posted, job.closed_reason or "",
        )  # fmt: skip
    console.print(jobs)
    if inspection.skipped:
        skips = Table(title="skipped records")
        for column in ("#", "line", "reason"):
            skips.add_column(column)
        for item in inspection.skipped:
            skips.add_row(str(item.position), str(item.line or ""), item.reason)
        console.print(skips)
    for warning in stats.warnings:
        console.print(f"[yellow]warning:[/] {warning}")

"""`jobstream dlq list|show|redrive`: look at dead letters and put them back after a fix."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
from collections.abc import Sequence

from cli import dlq
from cli.base import EXIT_OK, CommandError, Handler, SubParsers, command_group
from cli.options import add_stack_options, stack_config
from schemas.codec import CODEC, DecodeError


def register(subparsers: SubParsers) -> None:
    actions = command_group(
        subparsers,
        "dlq",
        "list, show or re-drive dead letters",
        (
            "Dead letters are messages a service could not process (undecodable, or failing "
            "alone for a reason of their own), kept whole with the reason on <topic>.dlq. "
            "After fixing the cause, `redrive` puts them back on their source topic; a letter "
            "is re-driven once, however often redrive runs."
        ),
    )
    _add(actions, "list", _list, "one line per dead letter: where from, run, reason")
    _add(actions, "show", _show, "each dead letter in full, with the record it held")
    _add(actions, "redrive", _redrive, "put dead letters back on their source topic")


def _add(actions: SubParsers, name: str, handler: Handler, summary: str) -> None:
    parser = actions.add_parser(name, help=summary, description=summary)
    parser.add_argument("--topic", help="a source topic (jobs.enriched) or its .dlq topic")
    parser.add_argument("--run", help="only the letters of this run")
    add_stack_options(parser)
    parser.set_defaults(handler=handler)


def _letters(args: argparse.Namespace) -> tuple[str, str, list[dlq.Letter]]:
    config = stack_config(args)
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS") or config.bootstrap
    dsn = os.environ.get("DATABASE_URL") or config.dsn
    try:
        letters = asyncio.run(dlq.read_letters(bootstrap, dsn, topic=args.topic, run_id=args.run))
    except dlq.DlqError as error:
        raise CommandError(str(error)) from error
    return bootstrap, dsn, letters


def _list(args: argparse.Namespace) -> int:
    _, _, letters = _letters(args)
    print(format_letters(letters))
    return EXIT_OK


def format_letters(letters: Sequence[dlq.Letter]) -> str:
    rows = [("DEAD LETTER", "FROM", "RECORD", "RUN", "REDRIVEN", "REASON")]
    for letter in letters:
        dead = letter.letter
        rows.append(
            (
                f"{letter.dlq_topic}@{letter.dlq_offset}",
                f"{dead.topic}[{dead.partition}]@{dead.offset}",
                letter.record_type or "(undecodable)",
                letter.run_id or "-",
                "yes" if letter.redriven else "no",
                dead.error.splitlines()[0][:80] if dead.error else "",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(row[:5], widths, strict=True)) + "  " + row[5]
        for row in rows
    ]
    lines.append(f"{len(letters)} dead letter(s)")
    return "\n".join(lines)


def _show(args: argparse.Namespace) -> int:
    _, _, letters = _letters(args)
    for letter in letters:
        print(json.dumps(describe(letter), indent=2, default=str))
    return EXIT_OK


def describe(letter: dlq.Letter) -> dict[str, object]:
    dead = letter.letter
    try:
        record: object = CODEC.decode(dead.raw).model_dump(mode="json")
    except DecodeError as error:
        record = {"undecodable": str(error), "raw": dead.raw[:2000].decode(errors="replace")}
    return {
        "dead_letter": f"{letter.dlq_topic}@{letter.dlq_offset}",
        "from": {"topic": dead.topic, "partition": dead.partition, "offset": dead.offset},
        "key": dead.key.decode(errors="replace") if dead.key else None,
        "run_id": letter.run_id,
        "redriven": letter.redriven,
        "error": dead.error,
        "record": record,
    }


def _redrive(args: argparse.Namespace) -> int:
    bootstrap, dsn, letters = _letters(args)
    sent = asyncio.run(dlq.redrive(bootstrap, dsn, letters))
    for letter in sent:
        dead = letter.letter
        print(f"re-drove {letter.dlq_topic}@{letter.dlq_offset} to {dead.topic}[{dead.partition}]")
    skipped = len(letters) - len(sent)
    print(f"{len(sent)} re-driven, {skipped} already re-driven before")
    return EXIT_OK

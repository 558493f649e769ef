"""Entry point of the `jobstream` console script: builds the parser and dispatches."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from cli.base import EXIT_FAILURE, EXIT_USAGE, CommandError, Handler, SubParsers
from cli.commands import (
    backfill,
    demo,
    dlq,
    feeds,
    inspect,
    jobs,
    migrate,
    replay,
    review,
    runs,
    stack,
    status,
    topics,
    trigger,
    users,
    xano,
)

# Each command module exposes `register(subparsers)`; add new commands here, one line each.
COMMANDS: tuple[Callable[[SubParsers], None], ...] = (
    stack.register,
    topics.register,
    migrate.register,
    demo.register,
    feeds.register,
    trigger.register,
    status.register,
    runs.register,
    review.register,
    replay.register,
    backfill.register,
    inspect.register,
    jobs.register,
    xano.register,
    dlq.register,
    users.register,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="jobstream",
        description="Operate jobstream: the local stack, topics, migrations and the pipeline.",
    )
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND")
    for register in COMMANDS:
        register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Handler | None = getattr(args, "handler", None)
    if handler is None:
        # A command group without its subcommand, or nothing at all: show what exists.
        (getattr(args, "group_parser", None) or parser).print_help(sys.stderr)
        return EXIT_USAGE
    try:
        return handler(args)
    except CommandError as error:
        print(f"jobstream: {error}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())

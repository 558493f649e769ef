"""What every command module shares: exit codes, the user-facing error, typing aliases."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TypeAlias

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2

# argparse's subparsers action is only generic for type checkers, hence the string.
SubParsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"
Handler: TypeAlias = Callable[[argparse.Namespace], int]


class CommandError(Exception):
    """A failure the user can act on; main prints it without a traceback and exits 1."""


def command_group(subparsers: SubParsers, name: str, summary: str, description: str) -> SubParsers:
    """A command of actions (`jobstream NAME ACTION`): its parser, which prints its own help
    when no action is given, and the subparsers its actions are added to."""
    parser = subparsers.add_parser(name, help=summary, description=description)
    parser.set_defaults(group_parser=parser)
    return parser.add_subparsers(title="actions", metavar="ACTION")

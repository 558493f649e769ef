"""`jobstream users add|list|disable|enable|set-role|password|token`: console accounts.

Works on the database directly (once `jobstream migrate` has run): the first admin exists
before anyone can log in to the API. Passwords are read without echo (or one line from stdin with
`--password-stdin`) and only their argon2id hash is stored.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import sys
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import asyncpg

from cli.base import EXIT_OK, CommandError, SubParsers, command_group
from cli.stack import StackConfig
from services.api import accounts
from services.api.adapters import accounts_repository as repo
from services.shared.postgres import SchemaOutdatedError, require_schema, set_json_codecs

T = TypeVar("T")


def register(subparsers: SubParsers) -> None:
    actions = command_group(
        subparsers,
        "users",
        "console accounts: add, list, disable, set a role, issue an API token",
        "Accounts of the operator console and the API (roles: viewer, reviewer, "
        "admin). The shared API_TOKEN stays the admin token for scripts.",
    )

    add = actions.add_parser("add", help="create a user")
    add.add_argument("username")
    add.add_argument("--role", choices=accounts.ROLES, default="viewer")
    _password_option(add)
    add.set_defaults(handler=_add)

    listing = actions.add_parser("list", help="every user with role and state")
    listing.set_defaults(handler=_list)

    switches = []
    for name, active, text in (("disable", False, "refuse the user's logins and tokens at once"),
                               ("enable", True, "let a disabled user back in")):  # fmt: skip
        switch = actions.add_parser(name, help=text)
        switch.add_argument("username")
        switch.set_defaults(handler=_set_active(active))
        switches.append(switch)

    role = actions.add_parser("set-role", help="change a user's role")
    role.add_argument("username")
    role.add_argument("role", choices=accounts.ROLES)
    role.set_defaults(handler=_set_role)

    password = actions.add_parser("password", help="set a user's password")
    password.add_argument("username")
    _password_option(password)
    password.set_defaults(handler=_set_password)

    token = actions.add_parser("token", help="issue an API token (printed once, stored hashed)")
    token.add_argument("username")
    token.add_argument("--label", default="", help="what the token is for")
    token.set_defaults(handler=_token)

    for action in (add, listing, role, password, token, *switches):
        action.add_argument(
            "--dsn", default=None, help="default: DATABASE_URL, else the local stack's database"
        )


def _password_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--password-stdin", action="store_true", help="read the password from stdin's first line"
    )


def _read_password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass("password: ")
        if getpass.getpass("again: ") != password:
            raise CommandError("the passwords differ")
    try:
        return accounts.check_password(password)
    except ValueError as error:
        raise CommandError(str(error)) from error


def _run(args: argparse.Namespace, work: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
    dsn = args.dsn or os.environ.get("DATABASE_URL") or StackConfig.from_env().dsn

    async def session() -> T:
        conn = await asyncpg.connect(dsn)
        try:
            await require_schema(conn)
            await set_json_codecs(conn)
            return await work(conn)
        finally:
            await conn.close()

    try:
        return asyncio.run(session())
    except SchemaOutdatedError as error:
        raise CommandError(str(error)) from error
    except (OSError, asyncpg.PostgresError) as error:
        raise CommandError(f"database: {type(error).__name__}: {error}") from error


def _actor() -> str:
    return f"cli:{getpass.getuser()}"


async def audit_from_cli(dsn: str, action: str, target: str, detail: dict[str, Any]) -> None:
    """A change made from the command line, in the audit log under the OS user's name."""
    conn = await asyncpg.connect(dsn)
    try:
        await set_json_codecs(conn)
        await repo.audit(conn, _actor(), action, target, detail)
    finally:
        await conn.close()


def _checked_name(raw: str) -> str:
    try:
        return accounts.check_username(raw)
    except ValueError as error:
        raise CommandError(str(error)) from error


def _add(args: argparse.Namespace) -> int:
    username = _checked_name(args.username)
    password_hash = accounts.hash_password(_read_password(args))

    async def work(conn: asyncpg.Connection) -> None:
        try:
            await repo.create_user(conn, username, password_hash, args.role)
        except asyncpg.UniqueViolationError as error:
            raise CommandError(f"user {username} exists already") from error
        await repo.audit(conn, _actor(), "user.add", f"user:{username}", {"role": args.role})

    _run(args, work)
    print(f"added {username} ({args.role})")
    return EXIT_OK


def _list(args: argparse.Namespace) -> int:
    users = _run(args, repo.list_users)
    for user in users:
        state = "active" if user.is_active else "disabled"
        print(f"{user.username:<24} {user.role:<9} {state:<9} {user.created_at:%Y-%m-%d}")
    if not users:
        print("no users yet: jobstream users add NAME --role admin")
    return EXIT_OK


def _must(found: bool, username: str) -> None:
    if not found:
        raise CommandError(f"no user {username}")


def _set_active(active: bool) -> Callable[[argparse.Namespace], int]:
    def handler(args: argparse.Namespace) -> int:
        async def work(conn: asyncpg.Connection) -> None:
            _must(await repo.set_active(conn, args.username, active), args.username)
            action = "user.enable" if active else "user.disable"
            await repo.audit(conn, _actor(), action, f"user:{args.username}", {})

        _run(args, work)
        print(f"{args.username} {'enabled' if active else 'disabled'}")
        return EXIT_OK

    return handler


def _set_role(args: argparse.Namespace) -> int:
    async def work(conn: asyncpg.Connection) -> None:
        _must(await repo.set_role(conn, args.username, args.role), args.username)
        detail = {"role": args.role}
        await repo.audit(conn, _actor(), "user.set_role", f"user:{args.username}", detail)

    _run(args, work)
    print(f"{args.username} is now {args.role}")
    return EXIT_OK


def _set_password(args: argparse.Namespace) -> int:
    password_hash = accounts.hash_password(_read_password(args))

    async def work(conn: asyncpg.Connection) -> None:
        _must(await repo.set_password(conn, args.username, password_hash), args.username)
        await repo.audit(conn, _actor(), "user.password", f"user:{args.username}", {})

    _run(args, work)
    print(f"password of {args.username} changed")
    return EXIT_OK


def _token(args: argparse.Namespace) -> int:
    token = accounts.new_token()

    async def work(conn: asyncpg.Connection) -> None:
        found = await repo.add_token(conn, args.username, accounts.digest(token), args.label)
        _must(found, args.username)
        detail = {"label": args.label}
        await repo.audit(conn, _actor(), "user.token", f"user:{args.username}", detail)

    _run(args, work)
    print(token)
    return EXIT_OK

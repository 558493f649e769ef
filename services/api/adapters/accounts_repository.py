"""Users, their API tokens and browser sessions, failed logins and the audit log."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from typing import Any

from services.api.accounts import Principal, Role, check_role
from services.shared.database import Conn


@dataclass(frozen=True, slots=True, kw_only=True)
class User:
    """A console account as listed (never its password hash)."""

    id: int
    username: str
    role: Role
    is_active: bool
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditEntry:
    """One line of the audit log: who did what to which target."""

    id: int
    at: datetime
    username: str
    action: str
    target: str
    detail: dict[str, object]


_USER_VIEW = ", ".join(f.name for f in fields(User))
_AUDIT_VIEW = ", ".join(f.name for f in fields(AuditEntry))


async def create_user(conn: Conn, username: str, password_hash: str, role: Role) -> int:
    """The new user's id; raises asyncpg's UniqueViolationError when the name is taken."""
    value = await conn.fetchval(
        "INSERT INTO users (username, password_hash, role) VALUES ($1, $2, $3) RETURNING id",
        username,
        password_hash,
        role,
    )
    return int(value)


async def list_users(conn: Conn) -> list[User]:
    rows = await conn.fetch(f"SELECT {_USER_VIEW} FROM users ORDER BY username")
    return [User(**dict(r)) for r in rows]


async def user_for_login(conn: Conn, username: str) -> tuple[int, str, Role, bool] | None:
    """(id, password hash, role, active) of the user, or None."""
    row = await conn.fetchrow(
        "SELECT id, password_hash, role, is_active FROM users WHERE username = $1", username
    )
    if row is None:
        return None
    return int(row["id"]), str(row["password_hash"]), check_role(row["role"]), row["is_active"]


async def set_active(conn: Conn, username: str, active: bool) -> bool:
    """Disabling also ends the user's sessions; tokens stop because lookups need is_active."""
    user_id = await conn.fetchval(
        "UPDATE users SET is_active = $2, updated_at = now() WHERE username = $1 RETURNING id",
        username,
        active,
    )
    if user_id is not None and not active:
        await conn.execute("DELETE FROM console_sessions WHERE user_id = $1", user_id)
    return user_id is not None


async def set_role(conn: Conn, username: str, role: Role) -> bool:
    user_id = await conn.fetchval(
        "UPDATE users SET role = $2, updated_at = now() WHERE username = $1 RETURNING id",
        username,
        role,
    )
    return user_id is not None


async def set_password(conn: Conn, username: str, password_hash: str) -> bool:
    user_id = await conn.fetchval(
        "UPDATE users SET password_hash = $2, updated_at = now() WHERE username = $1 RETURNING id",
        username,
        password_hash,
    )
    return user_id is not None


async def add_token(conn: Conn, username: str, token_sha256: str, label: str) -> bool:
    user_id = await conn.fetchval("SELECT id FROM users WHERE username = $1", username)
    if user_id is None:
        return False
    await conn.execute(
        "INSERT INTO api_tokens (user_id, token_sha256, label) VALUES ($1, $2, $3)",
        user_id,
        token_sha256,
        label,
    )
    return True


async def principal_by_token(conn: Conn, token_sha256: str) -> Principal | None:
    row = await conn.fetchrow(
        "SELECT u.id, u.username, u.role FROM api_tokens t JOIN users u ON u.id = t.user_id "
        "WHERE t.token_sha256 = $1 AND u.is_active",
        token_sha256,
    )
    if row is None:
        return None
    return Principal(row["username"], check_role(row["role"]), user_id=row["id"])


# --- sessions ------------------------------------------------------------------------------


async def create_session(
    conn: Conn, id_sha256: str, user_id: int, csrf_token: str, lifetime: timedelta
) -> None:
    await conn.execute(
        "INSERT INTO console_sessions (id_sha256, user_id, csrf_token, expires_at) "
        "VALUES ($1, $2, $3, $4)",
        id_sha256,
        user_id,
        csrf_token,
        datetime.now(UTC) + lifetime,
    )


async def principal_by_session(conn: Conn, id_sha256: str) -> Principal | None:
    row = await conn.fetchrow(
        "SELECT u.id, u.username, u.role, s.csrf_token FROM console_sessions s "
        "JOIN users u ON u.id = s.user_id "
        "WHERE s.id_sha256 = $1 AND s.expires_at > now() AND u.is_active",
        id_sha256,
    )
    if row is None:
        return None
    return Principal(
        row["username"], check_role(row["role"]), user_id=row["id"], csrf_token=row["csrf_token"]
    )


async def delete_session(conn: Conn, id_sha256: str) -> None:
    await conn.execute("DELETE FROM console_sessions WHERE id_sha256 = $1", id_sha256)


# --- login rate limit ----------------------------------------------------------------------


async def record_login_failure(conn: Conn, username: str, address: str) -> None:
    await conn.execute(
        "INSERT INTO login_failures (username, address) VALUES ($1, $2)", username, address
    )


async def recent_failures(
    conn: Conn, username: str, address: str, window: timedelta
) -> tuple[int, int]:
    """Failed logins within the window: for this name, and from this address."""
    since = datetime.now(UTC) - window
    row = await conn.fetchrow(
        "SELECT (SELECT count(*) FROM login_failures WHERE username = $1 AND at > $3) AS by_name, "
        "(SELECT count(*) FROM login_failures WHERE address = $2 AND at > $3) AS by_address",
        username,
        address,
        since,
    )
    assert row is not None
    return int(row["by_name"]), int(row["by_address"])


async def prune(conn: Conn, window: timedelta) -> None:
    """Forgets expired sessions and failures older than the window (run at each login)."""
    await conn.execute("DELETE FROM console_sessions WHERE expires_at < now()")
    await conn.execute("DELETE FROM login_failures WHERE at < $1", datetime.now(UTC) - window)


# --- audit ---------------------------------------------------------------------------------


async def audit(
    conn: Conn, username: str, action: str, target: str, detail: dict[str, Any]
) -> None:
    await conn.execute(
        "INSERT INTO audit_log (username, action, target, detail) VALUES ($1, $2, $3, $4)",
        username,
        action,
        target,
        detail,
    )


async def audit_page(
    conn: Conn, *, limit: int, before_id: int | None, target: str | None = None
) -> list[AuditEntry]:
    """Newest first, keyset by id."""
    rows = await conn.fetch(
        f"SELECT {_AUDIT_VIEW} FROM audit_log "
        "WHERE ($1::bigint IS NULL OR id < $1) AND ($2::text IS NULL OR target = $2) "
        "ORDER BY id DESC LIMIT $3",
        before_id,
        target,
        limit,
    )
    return [AuditEntry(**dict(r)) for r in rows]

"""Accounts: roles, password hashing, API tokens and the principal a request acts as.

Pure logic (no I/O); the SQL is in `adapters/accounts_repository.py`.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from typing import Literal

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

Role = Literal["viewer", "reviewer", "admin"]
ROLES: tuple[Role, ...] = ("viewer", "reviewer", "admin")
_RANK = {role: rank for rank, role in enumerate(ROLES)}

# The shared API_TOKEN acts as this admin, so scripts keep working and the audit says so.
SCRIPT_USER = "api-token"
USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
MIN_PASSWORD = 10
TOKEN_PREFIX = "jst_"  # noqa: S105 - a prefix that makes leaked tokens recognisable

_HASHER = PasswordHasher()  # argon2id with the library's recommended costs


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a request acts as: a user (by token or session) or the script admin."""

    username: str
    role: Role
    user_id: int | None = None  # None for the API_TOKEN admin
    csrf_token: str | None = None  # set for browser sessions only

    def can(self, needed: Role) -> bool:
        return _RANK[self.role] >= _RANK[needed]

    @property
    def is_session(self) -> bool:
        return self.csrf_token is not None


def check_role(raw: str) -> Role:
    for role in ROLES:
        if raw == role:
            return role
    raise ValueError(f"role must be one of {', '.join(ROLES)}, got {raw!r}")


def check_username(raw: str) -> str:
    if not USERNAME.match(raw):
        raise ValueError(
            "a username is 1 to 64 letters, digits or . _ @ -, starting with a letter or digit"
        )
    return raw


def check_password(raw: str) -> str:
    if len(raw) < MIN_PASSWORD:
        raise ValueError(f"a password needs at least {MIN_PASSWORD} characters")
    return raw


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def verify_password(stored_hash: str, password: str) -> bool:
    try:
        return _HASHER.verify(stored_hash, password)
    except (VerificationError, InvalidHashError):
        return False


# A dummy hash verified when the user does not exist, so timing does not reveal usernames.
DUMMY_HASH = hash_password(secrets.token_urlsafe(16))


def new_token() -> str:
    """An API token or session id: 32 random bytes, URL-safe."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def digest(token: str) -> str:
    """What the database keeps of a token or session id: its SHA-256, hex."""
    return hashlib.sha256(token.encode()).hexdigest()

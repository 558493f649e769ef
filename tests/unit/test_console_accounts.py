"""Accounts' pure logic: roles, password hashes, token digests, cursors, cookie flags."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from services.api import accounts, console
from services.api.adapters.console_repository import Cursor
from services.api.errors import BadRequestError


def test_roles_are_ordered_viewer_reviewer_admin() -> None:
    viewer = accounts.Principal("v", "viewer")
    admin = accounts.Principal("a", "admin")
    assert viewer.can("viewer") and not viewer.can("reviewer")
    assert admin.can("reviewer") and admin.can("admin")
    assert accounts.Principal("r", "reviewer").can("reviewer")
    with pytest.raises(ValueError, match="role must be one of"):
        accounts.check_role("root")


def test_passwords_are_argon2id_hashes_that_verify_only_the_password() -> None:
    stored = accounts.hash_password("a fine long password")
    assert stored.startswith("$argon2id$") and "a fine long password" not in stored
    assert accounts.verify_password(stored, "a fine long password")
    assert not accounts.verify_password(stored, "a fine long passwort")
    assert not accounts.verify_password("not a hash", "a fine long password")
    with pytest.raises(ValueError):
        accounts.check_password("short")


def test_tokens_are_random_and_kept_as_digests() -> None:
    first, second = accounts.new_token(), accounts.new_token()
    assert first != second and first.startswith("jst_") and len(first) > 40
    assert len(accounts.digest(first)) == 64 and first not in accounts.digest(first)


@pytest.mark.parametrize("name", ["", "-lead", "a b", "x" * 65, "semi;colon"])
def test_usernames_are_plain(name: str) -> None:
    with pytest.raises(ValueError):
        accounts.check_username(name)


@pytest.mark.parametrize(
    ("cursor", "sort"),
    [
        (Cursor(Decimal("0.7300"), "ab/+c=="), "confidence"),
        (Cursor(datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC), "x"), "date"),
    ],
)
def test_page_cursors_round_trip(cursor: Cursor, sort: str) -> None:
    assert console.decode_cursor(console.encode_cursor(cursor), sort) == cursor


@pytest.mark.parametrize("raw", ["!!", "WzFd", "bm90IGpzb24="])
def test_a_forged_cursor_is_a_bad_request(raw: str) -> None:
    with pytest.raises(BadRequestError):
        console.decode_cursor(raw, "confidence")


@pytest.mark.parametrize(
    ("target", "followed"),
    [("/console/feeds/3", "/console/feeds/3"), ("//evil.example", "/console/review"),
     ("https://evil.example", "/console/review"), ("/\\evil", "/console/review"),
     (None, "/console/review")],
)  # fmt: skip
def test_only_local_pages_are_followed(target: str | None, followed: str) -> None:
    assert console.safe_next(target) == followed


@pytest.mark.parametrize(("scheme", "secure"), [("https", True), ("http", False)])
def test_cookies_are_secure_over_tls(scheme: str, secure: bool) -> None:
    app = web.Application()
    console.setup(app)
    request = make_mocked_request("GET", "/login", app=app).clone(scheme=scheme)
    cookie = console.login_page(request, None, 200).cookies[console.LOGIN_CSRF_COOKIE]
    assert bool(cookie["secure"]) is secure
    assert cookie["httponly"] and cookie["samesite"] == "Lax"


def test_the_sanitiser_keeps_the_posting_and_drops_what_runs() -> None:
    cleaned = console.sanitise(
        '<p onclick="x()">Hi <b>there</b><script>alert(1)</script>'
        '<a href="javascript:alert(1)">a</a><img src=x onerror=alert(1)></p>'
    )
    assert "<b>there</b>" in cleaned
    for bad in ("onclick", "<script", "javascript:", "onerror"):
        assert bad not in cleaned

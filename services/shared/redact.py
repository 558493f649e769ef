"""URLs made safe to print: credentials and query values hidden, wherever a URL is shown.

A feed URL may carry a password (`https://user:pw@host/`) or a key in its query
(`?api_key=...`). Errors, reports, logs, webhook messages and API responses show the URL
through `redact_url` (one URL) or `redact_text` (free text that may quote URLs).
"""

from __future__ import annotations

import re
import urllib.parse

MASK = "***"
_URL_IN_TEXT = re.compile(r"""[A-Za-z][A-Za-z0-9+.-]*://[^\s'"<>`]+""")


def redact_url(url: str) -> str:
    """The URL with its user info and every query value masked, and no fragment."""
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return MASK  # not even parseable: show nothing of it rather than a secret
    if not parts.scheme or not parts.netloc:
        return url  # a local path: nothing secret in it
    netloc = parts.netloc
    if "@" in netloc:
        netloc = f"{MASK}@{netloc.rpartition('@')[2]}"
    query = "&".join(_masked_pair(pair) for pair in parts.query.split("&")) if parts.query else ""
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def _masked_pair(pair: str) -> str:
    key, sep, _ = pair.partition("=")
    return f"{key}={MASK}" if sep else MASK


def redact_text(text: str) -> str:
    """Free text with every URL in it redacted (error messages quote URLs)."""
    return _URL_IN_TEXT.sub(lambda match: redact_url(match.group(0)), text)


def holds_mask(url: str) -> bool:
    """True when the URL carries a masked part: it came from a redacted view, not a person."""
    parts = urllib.parse.urlsplit(url)
    userinfo = parts.netloc.rpartition("@")[0]
    values = [p.partition("=")[2] or p for p in parts.query.split("&")] if parts.query else []
    return MASK in userinfo or MASK in values

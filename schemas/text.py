"""Plain text from a job's HTML description: derived on demand, never sent on the wire."""

from __future__ import annotations

import html
import re

_TAG = re.compile(r"<[^>]*>")
_BLOCK_TAG = re.compile(r"</?(p|div|br|li|ul|ol|h[1-6]|tr|table|section)\b[^>]*>", re.I)


def html_to_text(markup: str) -> str:
    """Plain text of an HTML fragment: tags out, entities decoded, whitespace collapsed.

    Block tags become a space (so list items stay words apart); inline tags go without one.
    """
    spaced = _BLOCK_TAG.sub(" ", markup)
    # split/join is the regex `\s+` -> " " plus strip (same whitespace set), and much faster
    return " ".join(html.unescape(_TAG.sub("", spaced)).split())

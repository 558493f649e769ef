"""Clean output: what a job may carry once it leaves the enricher and when it goes to Xano.

Description HTML keeps an allow-list of formatting tags (nh3, the ammonia sanitiser), links
only to web and mail addresses; URLs sent on are http(s) only; AI-written fields are plain
text with length limits. Pure functions, used by the enricher (before a job is stored) and by
the syncer (before a payload is sent, so rows stored earlier are cleaned too).
"""

from __future__ import annotations

import html
import re
import unicodedata
from urllib.parse import urlsplit

import nh3

from schemas.records import Enrichment, JobPosting

# formatting a job description needs; nothing that runs, loads, frames or styles
ALLOWED_TAGS = frozenset(
    {
        "a", "abbr", "b", "blockquote", "br", "code", "dd", "div", "dl", "dt", "em",
        "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "li", "ol", "p", "pre", "s",
        "small", "span", "strong", "sub", "sup", "table", "tbody", "td", "th", "thead",
        "tr", "u", "ul",
    }
)  # fmt: skip
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "td": {"colspan", "rowspan"}, "th": {"colspan"}}
LINK_SCHEMES = frozenset({"http", "https", "mailto"})
WEB_SCHEMES = frozenset({"http", "https"})

# Length limits of the AI-written fields (characters); a longer value is cut at a word.
AI_TITLE_MAX = 200
AI_DESCRIPTION_MAX = 2_000
LIST_ITEM_MAX = 120
LIST_ITEMS_MAX = 12
REASONING_MAX = 1_000
SEARCHABLE_TEXT_MAX = 2_000
FEED_TEXT_MAX = 500  # a feed's title or company name, sent to Xano as plain text

_CONTROL = re.compile(
    r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2066-\u2069]"
)
# what is inside a tag's brackets when the sanitiser has been there
_TAG_INSIDE = re.compile(r"<([^<>]*)>")
_BARE_TAGS = frozenset(
    f"{slash}{tag}{end}" for tag in ALLOWED_TAGS for slash in ("", "/") for end in ("", "/", " /")
)
_CLEAN_LINK = re.compile(
    r'a(?:\s+href="(?:https?://|mailto:)[^"<>\s]*")?(?:\s+title="[^"<>]*")?'
    r'\s+rel="noopener noreferrer nofollow"'
)
_BLOCK_TAG = re.compile(r"</?(p|div|br|li|ul|ol|h[1-6]|tr|td|th|table|section)\b[^>]*>", re.I)
_MARKUP = re.compile(r"<\s*/?\s*[a-zA-Z!?][^>]*>|&(#\d+|#x[0-9a-fA-F]+|[a-zA-Z]+);")


def sanitise_html(markup: str) -> str:
    """The description with only allow-listed tags and attributes; scripts and styles go
    with their content, links get `rel="noopener noreferrer nofollow"`."""
    if not markup or is_clean_html(markup):
        return markup
    return nh3.clean(
        markup,
        tags=set(ALLOWED_TAGS),
        attributes={tag: set(names) for tag, names in ALLOWED_ATTRIBUTES.items()},
        url_schemes=set(LINK_SCHEMES),
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
    )


def is_clean_html(markup: str) -> bool:
    """Whether the markup is already what `sanitise_html` leaves (allow-listed tags, no
    attributes but a sanitised link's): a fraction of sanitising's cost, and the syncer
    meets descriptions the enricher sanitised on every reconcile."""
    tags = _TAG_INSIDE.findall(markup)
    if len(tags) != markup.count("<"):
        return False  # a "<" that opens no tag: the sanitiser escapes it
    return all(
        tag.lower() in _BARE_TAGS or _CLEAN_LINK.fullmatch(tag) is not None for tag in set(tags)
    )


def web_url(url: str | None) -> str | None:
    """The URL when it is an absolute http(s) address with a host; None otherwise
    (`javascript:`, `data:`, relative or malformed URLs never leave)."""
    if not url:
        return None
    candidate = _CONTROL.sub("", url).strip()
    if any(char.isspace() for char in candidate):
        return None
    try:
        parts = urlsplit(candidate)
        host = parts.hostname
    except ValueError:
        return None
    if parts.scheme.lower() not in WEB_SCHEMES or not host:
        return None
    return candidate


def plain_text(value: str | None, limit: int) -> str:
    """Plain text: markup and entities read as text, control characters out, whitespace
    collapsed, at most `limit` characters (cut at a word, marked with an ellipsis)."""
    if not value:
        return ""
    text = _markup_as_text(value) if _MARKUP.search(value) else value
    text = " ".join(_CONTROL.sub(" ", unicodedata.normalize("NFC", text)).split())
    if len(text) <= limit:
        return text
    head = text[: limit - 1]
    # at a word's end already, or else back to the last one (a single long word is cut)
    cut = head if text[limit - 1] == " " else head.rsplit(" ", 1)[0]
    return f"{(cut or head).rstrip()}…"


def _markup_as_text(markup: str) -> str:
    """The text a browser would show: tags out (scripts and styles with their content),
    block tags a space, entities decoded."""
    spaced = _BLOCK_TAG.sub(" ", markup)
    return html.unescape(nh3.clean(spaced, tags=set(), strip_comments=True))


def plain_list(
    values: tuple[str, ...] | list[str], item_limit: int = LIST_ITEM_MAX
) -> tuple[str, ...]:
    """Plain, non-empty items, each within `item_limit`, at most `LIST_ITEMS_MAX` of them."""
    items = (plain_text(value, item_limit) for value in values)
    return tuple(item for item in items if item)[:LIST_ITEMS_MAX]


def clean_posting(job: JobPosting) -> JobPosting:
    """The posting with its description sanitised and a non-web application URL dropped."""
    description = sanitise_html(job.description_html)
    url = web_url(job.application_url)
    if description == job.description_html and url == job.application_url:
        return job
    return job.model_copy(update={"description_html": description, "application_url": url})


def clean_enrichment(enrichment: Enrichment) -> Enrichment:
    """Every AI-written field as plain text within its limit."""
    searchable = enrichment.searchable_text
    return enrichment.model_copy(
        update={
            "ai_title": plain_text(enrichment.ai_title, AI_TITLE_MAX),
            "ai_description": plain_text(enrichment.ai_description, AI_DESCRIPTION_MAX),
            "tasks": plain_list(enrichment.tasks, LIST_ITEM_MAX * 2),
            "search_terms": plain_list(enrichment.search_terms),
            "tags": plain_list(enrichment.tags),
            "skills": plain_list(enrichment.skills),
            "industry_reasoning": plain_text(enrichment.industry_reasoning, REASONING_MAX),
            "confidence_reasons": plain_list(enrichment.confidence_reasons, REASONING_MAX),
            "job_function_reasoning": plain_text(enrichment.job_function_reasoning, REASONING_MAX),
            "searchable_text": (
                plain_text(searchable, SEARCHABLE_TEXT_MAX) or None if searchable else None
            ),
        }
    )

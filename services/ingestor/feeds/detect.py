"""Finds a feed's record element from its structure, reading only the feed's opening text.

A record element is one that repeats and whose children look like a job: a title-like and
a description-like field (the dialect presets' own names), or an element with children
whose name is one of the usual record names. Containers of records (RSS's ``<channel>``
has a title and a description too) are never records themselves. The mapping's record tag,
when it names one, wins.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

from lxml import etree

from services.ingestor.feeds.dialects import DIALECTS
from services.ingestor.feeds.repair import XmlRepairer

RECORD_TAGS = frozenset(
    {
        "job", "item", "entry", "position", "ad", "vacancy", "listing", "posting", "offer",
        "job_posting", "jobposting", "advert", "advertisement", "record", "row", "opening",
        "job_listing", "joblisting", "job_ad", "jobad", "opportunity", "role",
    }
)  # fmt: skip


def _first_steps(field_name: str) -> frozenset[str]:
    """The element names the dialect presets read a field from (first path step)."""
    return frozenset(
        path.split("/")[0]
        for dialect in DIALECTS.values()
        for path in dialect.fields[field_name]
        if not path.startswith("@")
    )


# A usual record name's start tag, any prefix and case: counted in the text itself, since the
# forgiving parse may lose broken records whole (an attribute quote left open swallows them).
_RECORD_START = re.compile(
    r"<(?:[\w.\-]+:)?(" + "|".join(sorted(RECORD_TAGS, key=len, reverse=True)) + r")(?=[\s/>])",
    re.IGNORECASE,
)

# "name" and "text" are too common to mark a job (an Atom <author> has a <name>)
TITLE_LIKE = (_first_steps("title") - {"name", "text"}) | {"positiontitle", "position"}
DESCRIPTION_LIKE = _first_steps("description")
_SEEN_NAMES = 24  # names listed in the "no record element" message


def _local(tag: str) -> str:
    return tag.rpartition("}")[2].lower()


@dataclass(slots=True)
class _Shape:
    count: int = 0
    children: set[str] = field(default_factory=set)
    parents: set[str] = field(default_factory=set)
    namespace: str | None = None


@dataclass(slots=True)
class StructureProbe:
    """Feed the feed's text; `decided` once the record element is known (or cannot be)."""

    wanted: str | None  # the mapping's record tag (lower-case local name)
    limit_chars: int
    root: str | None = None
    record: str | None = None  # lower-case local name
    record_namespace: str | None = None
    decided: bool = False
    seen: dict[str, None] = field(default_factory=dict)  # element names, in feed order
    _shapes: dict[str, _Shape] = field(default_factory=dict)
    _started: Counter[str] = field(default_factory=Counter)  # usual record names: tags seen
    _held: int = 0
    _repairer: XmlRepairer = field(default_factory=XmlRepairer)
    _parser: etree.XMLPullParser = field(
        default_factory=lambda: etree.XMLPullParser(
            events=("start", "end"),
            recover=True,
            resolve_entities=False,
            no_network=True,
            load_dtd=False,
            huge_tree=True,
            remove_comments=True,
            remove_pis=True,
            encoding="utf-8",
        )
    )

    def feed(self, text: str, *, final: bool = False) -> bool:
        """True once decided: by structure, by the limit, or at the end of the feed."""
        if self.decided:
            return True
        self._held += len(text)
        self._started.update(m.lower() for m in _RECORD_START.findall(text))
        try:
            self._parser.feed(self._repairer.feed(text, final=final).encode("utf-8"))
            if final:
                self._parser.close()
        except etree.XMLSyntaxError:
            pass  # recover mode gave up: decide on what was seen
        self._read_events()
        if not self.decided:
            self._decide(settle=final or self._held >= self.limit_chars)
        return self.decided

    def _read_events(self) -> None:
        for event, element in self._parser.read_events():
            if self.decided or not isinstance(element, etree._Element):
                continue
            tag: object = element.tag  # comments and PIs have a function here, not a name
            if not isinstance(tag, str):
                continue
            name = _local(tag)
            if event == "start":
                self._on_start(name, element)
            elif len(element):
                self._on_end(name, element)

    def _on_start(self, name: str, element: etree._Element) -> None:
        if len(self.seen) < _SEEN_NAMES:
            self.seen.setdefault(name, None)
        if self.root is None:
            self.root = name
            return
        if name == self.wanted:
            self._choose(name, etree.QName(element).namespace)

    def _on_end(self, name: str, element: etree._Element) -> None:
        shape = self._shapes.setdefault(name, _Shape(namespace=etree.QName(element).namespace))
        shape.count += 1
        parent = element.getparent()
        if parent is not None and isinstance(parent.tag, str):
            shape.parents.add(_local(parent.tag))
        if len(shape.children) < 200:
            shape.children.update(_local(c.tag) for c in element if isinstance(c.tag, str))
        for child in element:
            child.clear()  # keep the head's tree small: only names are needed

    def _decide(self, *, settle: bool) -> None:
        if self.wanted is not None:
            if settle:
                self.decided = True  # the wanted record never appeared
            return
        candidates = {
            name: shape
            for name, shape in self._shapes.items()
            if name != self.root
            and _looks_like_a_record(name, shape)
            and not _field_of_a_broken_record(name, shape, self._started)
        }
        records = {
            name: shape
            for name, shape in candidates.items()
            if not _holds_records(name, shape, candidates, self._started)
        }
        ranked = sorted(records.items(), key=lambda item: _rank(*item), reverse=True)
        if ranked and (settle or ranked[0][1].count >= 2):
            self._choose(ranked[0][0], ranked[0][1].namespace)
        elif settle:
            self._fallback()

    def _fallback(self) -> None:
        """At the limit with no whole record seen: a known record name that has started."""
        started = [name for name in self._started if name in RECORD_TAGS]
        if started:
            self._choose(started[0], None)
        self.decided = True

    def _choose(self, name: str, namespace: str | None) -> None:
        self.record = name
        self.record_namespace = namespace
        self.decided = True

    def failure_message(self) -> str:
        names = ", ".join(f"<{name}>" for name in self.seen) or "no elements at all"
        return (
            f"no record element found: the feed has {names}, but no element that repeats "
            "with a title-like and a description-like child. Name the record element in "
            'the feed\'s mapping, e.g. {"record": "job", "fields": {"title": "jobname", '
            '"description": "summary"}}'
        )


def _looks_like_a_record(name: str, shape: _Shape) -> bool:
    if name in RECORD_TAGS:
        return True
    return bool(shape.children & TITLE_LIKE) and bool(shape.children & DESCRIPTION_LIKE)


def _field_of_a_broken_record(name: str, shape: _Shape, started: Counter[str]) -> bool:
    """A field left open in a record (`<entry><url>…` never closed) swallows the record's
    other fields and looks like a record itself; but it sits in a usual record name that
    started at least as often, and that is the record."""
    if name in RECORD_TAGS:
        return False
    return any(started[parent] >= shape.count for parent in shape.parents & RECORD_TAGS)


def _holds_records(
    name: str, shape: _Shape, candidates: dict[str, _Shape], started: Counter[str]
) -> bool:
    """A container of records (RSS's <channel>) holds a candidate that repeats more often
    than it does. A record holding a candidate seen less often is no container: that is a
    broken field, which the forgiving parse turned into a record-like element. A usual
    record name never yet seen whole counts by its start tags, and must have at least twice
    as many (a record's <position> field starts once more than the records whole so far):
    the first records may all be broken while the forgiving parse still shows the
    container's title and description."""
    held = shape.children & candidates.keys()
    if any(candidates[child].count > shape.count for child in held):
        return True
    never_whole = (shape.children & RECORD_TAGS) - candidates.keys() - {name}
    return any(started[child] >= 2 * shape.count for child in never_whole)


def _rank(name: str, shape: _Shape) -> tuple[int, bool, int]:
    jobby = len(shape.children & (TITLE_LIKE | DESCRIPTION_LIKE))
    return shape.count, name in RECORD_TAGS, jobby

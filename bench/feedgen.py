"""Deterministic Indeed-style feeds (`<source><job>`, CDATA, ~2.5 KB HTML descriptions).

The same `(jobs, seed)` always gives the same bytes. Besides ordinary jobs the feed holds,
shortly after their original (as real feeds list a role's postings together):

* exact duplicates: the original record again (another reference number only), so the
  same content hash and the same location: pass 1 must call them `duplicate`;
* multi-location duplicates: the same role in another city; half of them say the city in
  the description ("This position is based in Denver, CO."), so only the location-aware
  near-duplicate rule can merge them; pass 1 must call them `merged` into the original;
* siblings: same title, company and job type as an earlier job but another description,
  which must be kept (they make precision measurable).

`write_feed` streams the document to a file in constant memory and returns the ground
truth by record index (0-based, feed order, which is the ingestor's `seq`).

    python -m bench.feedgen 10000 /tmp/feed.xml [--seed 7] [--truth /tmp/truth.json]
"""

from __future__ import annotations

import argparse
import random
import sys
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import IO, NamedTuple

import orjson

DESCRIPTION_SENTENCES = 21  # with the intro and the place sentence: about 2.5 KB of HTML
RECENT_ORIGINALS = 256  # duplicates point back at most this many originals


class Kind(StrEnum):
    UNIQUE = "unique"
    EXACT = "exact"
    MULTI = "multi"
    SIBLING = "sibling"


@dataclass(frozen=True, slots=True)
class Mix:
    """Shares of each kind of record; the rest are unique jobs."""

    exact: float = 0.05
    multi: float = 0.10
    sibling: float = 0.03


@dataclass(slots=True)
class Truth:
    """What the feed holds: duplicates by index, each pointing at the index of its original."""

    jobs: int = 0
    exact: dict[int, int] = field(default_factory=dict)
    multi: dict[int, int] = field(default_factory=dict)
    siblings: set[int] = field(default_factory=set)

    def save(self, path: Path) -> None:
        document = {
            "jobs": self.jobs,
            "exact": self.exact,
            "multi": self.multi,
            "siblings": sorted(self.siblings),
        }
        path.write_bytes(orjson.dumps(document, option=orjson.OPT_NON_STR_KEYS))

    @classmethod
    def load(cls, path: Path) -> Truth:
        document = orjson.loads(path.read_bytes())
        return cls(
            jobs=document["jobs"],
            exact={int(k): v for k, v in document["exact"].items()},
            multi={int(k): v for k, v in document["multi"].items()},
            siblings=set(document["siblings"]),
        )


class Place(NamedTuple):
    city: str
    state: str
    postal_code: str


@dataclass(frozen=True, slots=True)
class Posting:
    """Everything a record is written from; duplicates are made by copying one."""

    index: int
    title: str
    company: str
    jobtype: str
    place: Place
    sentences: tuple[int, ...]
    says_place: bool
    salary: int
    day: int


PLACES = tuple(
    Place(city, state, postal)
    for city, state, postal in (
        ("Austin", "TX", "73301"), ("Denver", "CO", "80202"), ("Boston", "MA", "02114"),
        ("Seattle", "WA", "98101"), ("Chicago", "IL", "60601"), ("Phoenix", "AZ", "85001"),
        ("Atlanta", "GA", "30303"), ("Portland", "OR", "97201"), ("Miami", "FL", "33101"),
        ("Columbus", "OH", "43004"), ("Nashville", "TN", "37201"), ("Raleigh", "NC", "27601"),
        ("Omaha", "NE", "68102"), ("Tulsa", "OK", "74103"), ("Reno", "NV", "89501"),
        ("Boise", "ID", "83702"), ("Madison", "WI", "53703"), ("Richmond", "VA", "23219"),
        ("Salt Lake City", "UT", "84101"), ("San Diego", "CA", "92101"),
        ("Kansas City", "MO", "64105"), ("Pittsburgh", "PA", "15222"),
        ("Minneapolis", "MN", "55401"), ("Albuquerque", "NM", "87102"),
    )
)  # fmt: skip
ROLES = (
    "Registered Nurse", "Warehouse Associate", "Software Engineer", "Data Analyst",
    "Delivery Driver", "Line Cook", "Store Manager", "Electrician", "Accountant",
    "Customer Service Representative", "Medical Assistant", "Forklift Operator",
    "Sales Associate", "Pharmacy Technician", "Welder", "HVAC Technician", "Teacher",
    "Dental Hygienist", "Project Manager", "Security Officer", "Mechanic", "Paralegal",
    "Barista", "Physical Therapist", "Recruiter", "Cashier", "Machine Operator",
    "Network Administrator", "Payroll Specialist", "Caregiver",
)  # fmt: skip
SPECIALTIES = (
    "I", "II", "III", "Senior", "Lead", "Night Shift", "Weekend", "Remote-Eligible",
    "Entry Level", "Cardiac ICU", "Inbound", "Outbound", "Backend", "Retail", "Clinical",
    "Field", "Bilingual", "Team Lead", "Associate", "Principal",
)  # fmt: skip
JOBTYPES = ("Full-time", "Part-time", "Contract", "Temporary", "Full-time", "Full-time")
SYLLABLES = (
    "ka", "lo", "mi", "ten", "dar", "po", "sil", "ver", "an", "tro", "be", "qua", "nel",
    "ri", "sto", "fen", "gal", "mo", "zu", "ph", "cor", "el", "via", "dun", "tes", "ax",
)  # fmt: skip


def _vocabulary(rng: random.Random, size: int) -> list[str]:
    words: set[str] = set()
    while len(words) < size:
        words.add("".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4))))
    return sorted(words)


def _sentence_pool(seed: int, size: int = 8192) -> list[str]:
    rng = random.Random(seed)
    vocabulary = _vocabulary(rng, 4000)
    pool = []
    for _ in range(size):
        words = rng.choices(vocabulary, k=rng.randint(8, 15))
        pool.append(" ".join(words).capitalize() + ".")
    return pool


def _companies(seed: int, count: int = 2000) -> list[str]:
    rng = random.Random(seed + 1)
    vocabulary = _vocabulary(rng, 3000)
    suffixes = ("Inc", "LLC", "Health", "Logistics", "Group", "& Co", "Systems", "Partners")
    return [f"{rng.choice(vocabulary).title()} {rng.choice(suffixes)}" for _ in range(count)]


class FeedGenerator:
    """Makes the postings of one feed in order, remembering recent originals to copy."""

    def __init__(self, seed: int, mix: Mix) -> None:
        self._rng = random.Random(seed)
        self._mix = mix
        self._pool = _sentence_pool(seed)
        self._companies = _companies(seed)
        self._recent: deque[Posting] = deque(maxlen=RECENT_ORIGINALS)
        self._places: dict[int, set[Place]] = {}

    def posting(self, index: int) -> tuple[Kind, Posting, Posting | None]:
        """The next record: its kind, what it says, and the original it copies, if any."""
        draw = self._rng.random()
        if self._recent:
            mix = self._mix
            original = self._rng.choice(self._recent)
            if draw < mix.exact:
                return Kind.EXACT, replace(original, index=index), original
            if draw < mix.exact + mix.multi:
                return Kind.MULTI, self._elsewhere(original, index), original
            if draw < mix.exact + mix.multi + mix.sibling:
                return Kind.SIBLING, self._sibling(original, index), None
        fresh = self._fresh(index)
        self._recent.append(fresh)
        return Kind.UNIQUE, fresh, None

    def _fresh(self, index: int) -> Posting:
        rng = self._rng
        return Posting(
            index=index,
            title=f"{rng.choice(ROLES)} - {rng.choice(SPECIALTIES)}",
            company=rng.choice(self._companies),
            jobtype=rng.choice(JOBTYPES),
            place=rng.choice(PLACES),
            sentences=tuple(rng.randrange(len(self._pool)) for _ in range(DESCRIPTION_SENTENCES)),
            says_place=rng.random() < 0.5,
            salary=rng.randrange(30, 160) * 1000,
            day=rng.randint(1, 28),
        )

    def _elsewhere(self, original: Posting, index: int) -> Posting:
        # a place this role has not been posted in yet: a repeat would be an exact duplicate
        used = self._places.setdefault(original.index, {original.place})
        others = [p for p in PLACES if p not in used] or [original.place]
        place = self._rng.choice(others)
        used.add(place)
        if len(self._places) > 4 * RECENT_ORIGINALS:  # forget originals no longer copied
            recent = {p.index for p in self._recent}
            self._places = {i: ps for i, ps in self._places.items() if i in recent}
        return replace(original, index=index, place=place)

    def _sibling(self, original: Posting, index: int) -> Posting:
        fresh = self._fresh(index)
        sibling = replace(
            fresh, title=original.title, company=original.company, jobtype=original.jobtype
        )
        self._recent.append(sibling)  # a kept job in its own right: later copies may follow
        return sibling

    def description(self, posting: Posting) -> str:
        pool = self._pool
        body = [pool[i] for i in posting.sentences]
        place = f"This position is based in {posting.place.city}, {posting.place.state}."
        items = "".join(f"<li>{s}</li>" for s in body[:6])
        paragraphs = "".join(f"<p>{' '.join(body[i : i + 3])}</p>" for i in range(6, len(body), 3))
        intro = f"<p><strong>{_xml_text(posting.company)}</strong> is hiring a {posting.title}."
        intro += f" {place}</p>" if posting.says_place else "</p>"
        return f"{intro}<ul>{items}</ul>{paragraphs}"


def _xml_text(text: str) -> str:
    return text.replace("&", "&amp;")


def render(posting: Posting, description: str) -> str:
    place = posting.place
    return (
        "<job>"
        f"<title><![CDATA[{posting.title}]]></title>"
        f"<date><![CDATA[2025-09-{posting.day:02d}T10:00:00Z]]></date>"
        f"<referencenumber><![CDATA[BENCH-{posting.index:08d}]]></referencenumber>"
        f"<url><![CDATA[https://jobs.bench.example/apply/{posting.index}?src=feed]]></url>"
        f"<company><![CDATA[{posting.company}]]></company>"
        f"<city><![CDATA[{place.city}]]></city><state><![CDATA[{place.state}]]></state>"
        f"<country><![CDATA[US]]></country>"
        f"<postalcode><![CDATA[{place.postal_code}]]></postalcode>"
        f"<description><![CDATA[{description}]]></description>"
        f"<jobtype><![CDATA[{posting.jobtype}]]></jobtype>"
        f"<salary><![CDATA[${posting.salary:,} - ${posting.salary + 15000:,} per year]]></salary>"
        "</job>\n"
    )


HEADER = (
    '<?xml version="1.0" encoding="utf-8"?>\n<source>\n<publisher>Bench Job Network</publisher>\n'
    "<publisherurl>https://bench.example</publisherurl>\n"
    "<lastBuildDate>Mon, 08 Sep 2025 07:00:00 GMT</lastBuildDate>\n"
)
FOOTER = "</source>\n"


def generate(out: IO[str], jobs: int, *, seed: int = 7, mix: Mix | None = None) -> Truth:
    """Write a feed of `jobs` records to `out`; returns the ground truth."""
    generator = FeedGenerator(seed, mix or Mix())
    truth = Truth(jobs=jobs)
    out.write(HEADER)
    batch: list[str] = []
    for index in range(jobs):
        kind, posting, original = generator.posting(index)
        if kind is Kind.EXACT and original is not None:
            truth.exact[index] = original.index
        elif kind is Kind.MULTI and original is not None:
            truth.multi[index] = original.index
        elif kind is Kind.SIBLING:
            truth.siblings.add(index)
        batch.append(render(posting, generator.description(posting)))
        if len(batch) >= 500:
            out.write("".join(batch))
            batch.clear()
    out.write("".join(batch) + FOOTER)
    return truth


def write_feed(path: Path, jobs: int, *, seed: int = 7, mix: Mix | None = None) -> Truth:
    with path.open("w", encoding="utf-8") as out:
        return generate(out, jobs, seed=seed, mix=mix)


@dataclass(frozen=True, slots=True)
class Variant:
    """What a later read of a feed finds different: shares of its jobs changed (another
    description), removed, and added (a new job after the one it copies)."""

    changed: float = 0.0
    removed: float = 0.0
    added: float = 0.0


def write_variant(source: Path, out: Path, variant: Variant, *, seed: int = 99) -> int:
    """Streams `source` (one `<job>` per line, as `generate` writes it) to `out` with the
    variant applied, in constant memory; returns how many jobs it touched."""
    rng = random.Random(seed)
    touched = 0
    with source.open(encoding="utf-8") as lines, out.open("w", encoding="utf-8") as target:
        for line in lines:
            if not line.startswith("<job>"):
                target.write(line)
                continue
            draw = rng.random()
            if draw < variant.removed:
                touched += 1
                continue
            if draw < variant.removed + variant.changed:
                line = line.replace("</p>", " This posting was updated.</p>", 1)
                touched += 1
            target.write(line)
            if rng.random() < variant.added:
                target.write(
                    line.replace("<title><![CDATA[", "<title><![CDATA[New ", 1).replace(
                        "BENCH-", "BENCH-NEW-", 1
                    )
                )
                touched += 1
    return touched


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.feedgen", description=__doc__)
    parser.add_argument("jobs", type=int)
    parser.add_argument("out", type=Path)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--truth", type=Path, help="also write the ground truth as JSON")
    args = parser.parse_args(argv)
    truth = write_feed(args.out, args.jobs, seed=args.seed)
    if args.truth:
        truth.save(args.truth)
    print(
        f"{args.jobs} jobs: {len(truth.exact)} exact, {len(truth.multi)} multi-location "
        f"duplicates, {len(truth.siblings)} siblings -> {args.out}",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

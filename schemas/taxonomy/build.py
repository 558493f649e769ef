"""Builds the bundled taxonomy file from LinkedIn Industry Codes V2 and O*NET-SOC source data.

Run: `python -m schemas.taxonomy.build --source ../shared/data/taxonomy
--out schemas/data/taxonomy-v1.json.gz`. The output is deterministic: the same sources give
byte-identical files, and every id is derived from a source code so it never changes.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import hashlib
import re
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import orjson
from rapidfuzz import fuzz

from schemas.taxonomy.model import Industry, IndustryGroup, JobFunction, Sector, Taxonomy

LINKEDIN_FILE = "linkedin-industry-codes-v2.csv"
OCCUPATIONS_FILE = "onet-occupations.tsv"
ALTERNATE_TITLES_FILE = "onet-30.3-alternate-titles.csv.gz"
MAX_TITLE_LENGTH = 60

ONET_ATTRIBUTION = (
    "This product uses public information provided by the O*NET Program: O*NET 30.3 Database "
    "by the U.S. Department of Labor, Employment and Training Administration (USDOL/ETA). Used "
    "under the CC BY 4.0 license. O*NET is a registered trademark of USDOL/ETA. USDOL/ETA has "
    "not approved, endorsed, or tested any modifications of this information. Industries: "
    "LinkedIn Industry Codes V2 (MIT licence, compiled by Fernando Karchiloff)."
)

_Node = TypeVar("_Node", Sector, IndustryGroup, Industry)
_PARENTHESES = re.compile(r"\s*\([^)]*\)")
_NON_WORD = re.compile(r"[^a-z0-9+#&]+")


@dataclass(frozen=True, slots=True)
class IndustryNode:
    code: int
    label: str
    path: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class TitleCandidate:
    title: str
    function_id: int
    is_occupation_title: bool
    source_count: int


def title_key(title: str) -> str:
    """Case- and punctuation-insensitive identity of a title."""
    return " ".join(_NON_WORD.sub(" ", title.lower()).split())


def function_id_of(soc_code: str) -> int:
    """11-1011.03 -> 11101103: stable because the SOC code is."""
    digits = soc_code.replace("-", "").replace(".", "")
    if len(digits) != 8 or not digits.isdigit():
        raise ValueError(f"not an O*NET-SOC code: {soc_code!r}")
    return int(digits)


def singular(title: str) -> str:
    """Singular of an O*NET occupation title's head noun: 'Registered Nurses' -> '... Nurse'."""
    if "," in title:
        return title
    head, _, last = title.rpartition(" ")
    return f"{head} {_singular_word(last)}".strip()


def _singular_word(word: str) -> str:
    lower = word.lower()
    if lower.endswith("men"):
        return word[:-3] + word[-3:].replace("men", "man").replace("MEN", "MAN")
    if lower.endswith("ies"):
        return word[:-3] + "y"
    if lower.endswith(("ches", "shes", "sses", "xes")):
        return word[:-2]
    if lower.endswith("s") and not lower.endswith("ss"):
        return word[:-1]
    return word


def read_industry_nodes(path: Path) -> list[IndustryNode]:
    with path.open(newline="", encoding="utf-8") as handle:
        return [
            IndustryNode(int(row["id"]), row["label"].strip(), _split_path(row["hierarchy"]))
            for row in csv.DictReader(handle)
        ]


def _split_path(hierarchy: str) -> tuple[str, ...]:
    # the source has at least one path with a missing space around '>'
    return tuple(part.strip() for part in hierarchy.split(">"))


def build_industries(
    nodes: Sequence[IndustryNode],
) -> tuple[list[Sector], list[IndustryGroup], list[Industry]]:
    """Depth 1 sectors, depth 2 groups, depth 3 industries; deeper nodes become aliases.

    LinkedIn assigns companies coarse codes too ("Retail", "IT Services and IT Consulting"),
    so every sector is also a group of itself and every group an industry of itself (same
    code): a job with only sector-level evidence still gets an honest, consistent path.
    """
    by_path = {node.path: node for node in nodes}
    sectors = [Sector(n.code, n.label) for n in nodes if len(n.path) == 1]
    groups = [_group(n, by_path) for n in nodes if len(n.path) == 2]
    groups += [IndustryGroup(s.id, s.name, s.id) for s in sectors]
    aliases = _aliases_by_industry(nodes)
    industries = [_industry(n, by_path, aliases) for n in nodes if len(n.path) == 3]
    industries += [Industry(g.id, g.name, g.id, g.sector_id) for g in groups]
    return _sorted(sectors), _sorted(groups), _sorted(industries)


def _group(node: IndustryNode, by_path: dict[tuple[str, ...], IndustryNode]) -> IndustryGroup:
    return IndustryGroup(node.code, node.label, by_path[node.path[:1]].code)


def _industry(
    node: IndustryNode,
    by_path: dict[tuple[str, ...], IndustryNode],
    aliases: dict[tuple[str, ...], list[str]],
) -> Industry:
    group = by_path[node.path[:2]]
    sector = by_path[node.path[:1]]
    return Industry(node.code, node.label, group.code, sector.code, tuple(aliases[node.path]))


def _aliases_by_industry(nodes: Iterable[IndustryNode]) -> dict[tuple[str, ...], list[str]]:
    aliases: dict[tuple[str, ...], list[str]] = defaultdict(list)
    for node in sorted(nodes, key=lambda n: n.path):
        if len(node.path) > 3:
            aliases[node.path[:3]].append(node.label)
    return aliases


def _sorted(items: list[_Node]) -> list[_Node]:
    return sorted(items, key=lambda item: item.id)


def read_occupations(path: Path) -> list[JobFunction]:
    with path.open(newline="", encoding="utf-8") as handle:
        rows = csv.DictReader(handle, delimiter="\t")
        return [
            JobFunction(
                id=function_id_of(row["O*NET-SOC Code"]),
                name=row["Title"].strip(),
                code=row["O*NET-SOC Code"].strip(),
                description=row["Description"].strip(),
            )
            for row in rows
        ]


def read_title_candidates(path: Path, occupations: Sequence[JobFunction]) -> list[TitleCandidate]:
    """Every title an occupation is known by: its own (singular too) and its alternates."""
    candidates = [
        TitleCandidate(title, o.id, True, 99)
        for o in occupations
        for title in dict.fromkeys((singular(o.name), o.name))
    ]
    with gzip.open(path, "rt", newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            candidates.extend(_alternate_candidates(row))
    return candidates


def _alternate_candidates(row: dict[str, str]) -> Iterator[TitleCandidate]:
    function_id = function_id_of(row["O*NET-SOC Code"])
    sources = len([s for s in row["Source(s)"].split(",") if s.strip()])
    for raw in (row["Job Title"], row["Short Title"]):
        title = _PARENTHESES.sub("", raw).strip()
        if title and len(title) <= MAX_TITLE_LENGTH:
            yield TitleCandidate(title, function_id, False, sources)


def assign_titles(
    candidates: Iterable[TitleCandidate], occupations: Sequence[JobFunction]
) -> dict[int, list[str]]:
    """Give each distinct title to exactly one occupation, so a title match is unambiguous.

    Ties go to the occupation's own title, then the title most sources report, then the
    occupation whose name is closest to the title, then the lowest code (deterministic).
    """
    names = {o.id: o.name for o in occupations}
    by_key: dict[str, list[TitleCandidate]] = defaultdict(list)
    for candidate in candidates:
        by_key[title_key(candidate.title)].append(candidate)
    titles: dict[int, list[str]] = defaultdict(list)
    for key in sorted(by_key):
        best = max(by_key[key], key=lambda c: _preference(c, names))
        titles[best.function_id].append(best.title)
    return titles


def _preference(candidate: TitleCandidate, names: dict[int, str]) -> tuple[int, int, float, int]:
    closeness = fuzz.token_set_ratio(candidate.title.lower(), names[candidate.function_id].lower())
    return (
        candidate.is_occupation_title,
        candidate.source_count,
        closeness,
        -candidate.function_id,
    )


def build_taxonomy(source: Path) -> Taxonomy:
    sectors, groups, industries = build_industries(read_industry_nodes(source / LINKEDIN_FILE))
    occupations = read_occupations(source / OCCUPATIONS_FILE)
    candidates = read_title_candidates(source / ALTERNATE_TITLES_FILE, occupations)
    titles = assign_titles(candidates, occupations)
    functions = [
        JobFunction(o.id, o.name, o.code, o.description, tuple(sorted(titles.get(o.id, []))))
        for o in sorted(occupations, key=lambda o: o.id)
    ]
    provisional = Taxonomy(
        version="",
        sectors={s.id: s for s in sectors},
        groups={g.id: g for g in groups},
        industries={i.id: i for i in industries},
        functions={f.id: f for f in functions},
        attribution=ONET_ATTRIBUTION,
    )
    return _with_content_version(provisional)


def _with_content_version(taxonomy: Taxonomy) -> Taxonomy:
    # the version names the content, so any change to it re-enriches cached jobs
    digest = hashlib.sha256(encode(taxonomy)).hexdigest()[:10]
    return Taxonomy(
        version=f"v1-{digest}",
        sectors=taxonomy.sectors,
        groups=taxonomy.groups,
        industries=taxonomy.industries,
        functions=taxonomy.functions,
        allowed=taxonomy.allowed,
        attribution=taxonomy.attribution,
    )


def encode(taxonomy: Taxonomy) -> bytes:
    return orjson.dumps(taxonomy.to_document(), option=orjson.OPT_SORT_KEYS)


def write_taxonomy(taxonomy: Taxonomy, out: Path) -> None:
    payload = encode(taxonomy)
    if out.suffix == ".gz":
        # mtime=0 keeps the file byte-identical between builds
        payload = gzip.compress(payload, compresslevel=9, mtime=0)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(payload)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--source", type=Path, required=True, help="taxonomy source directory")
    parser.add_argument("--out", type=Path, required=True, help="output .json or .json.gz")
    args = parser.parse_args(argv)
    write_taxonomy(build_taxonomy(args.source), args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

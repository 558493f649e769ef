"""Titles O*NET lists under occupations of several SOC major groups, and the group to read
them in.

The taxonomy gives each alternate title to one occupation: the one most O*NET sources
report it for. For a title many occupations share ("Program Manager": four managers' titles
in group 11, one media programming director in 27 reported by three sources) that picks a
single loud listing over a group that lists it again and again. Here the title goes to the
major group whose listings report it most (sources summed over its occupations), and to
that group's most reported occupation. A tie keeps the taxonomy's choice when its group is
among the tied ("Project Manager" stays a project management specialist), else goes to the
group of the title's generic head noun, if tied. A title that an occupation's own name
says ("Tree Trimmer" in Tree Trimmers and Pruners) is never moved.

The table ships as `data/title-groups.tsv`, built from O*NET's alternate titles (the taxonomy
source `onet-30.3-alternate-titles.csv.gz`) by

    python -m services.enricher.backends.offline.title_groups --source ../shared/data/taxonomy

This product uses public information provided by the O*NET Program: O*NET 30.3 Database by
the U.S. Department of Labor, Employment and Training Administration (USDOL/ETA). Used under
the CC BY 4.0 license. O*NET is a registered trademark of USDOL/ETA. USDOL/ETA has not
approved, endorsed, or tested any modifications of this information.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import sys
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path

from schemas.taxonomy import Taxonomy, load_taxonomy
from schemas.taxonomy.build import (
    ALTERNATE_TITLES_FILE,
    MAX_TITLE_LENGTH,
    singular,
    title_key,
)
from services.enricher.backends.offline.lexicon import GENERIC_HEADS
from services.enricher.backends.offline.votes import word_form

TABLE = Path(__file__).with_name("data") / "title-groups.tsv"

# a title key -> the O*NET-SOC code of each occupation listing it, with its source count
Listings = Mapping[str, Mapping[str, int]]


def read_listings(path: Path) -> dict[str, Counter[str]]:
    """Every alternate title's listings, keyed as the matcher keys titles."""
    found: dict[str, Counter[str]] = defaultdict(Counter)
    with gzip.open(path, "rt", newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            code = row["O*NET-SOC Code"]
            sources = len([s for s in row["Source(s)"].split(",") if s.strip()])
            for raw in (row["Job Title"], row["Short Title"]):
                title = raw.split("(", 1)[0].strip()
                if title and len(title) <= MAX_TITLE_LENGTH:
                    key = title_key(title)
                    found[key][code] = max(found[key][code], sources)
    return found


def regrouped(key: str, listed: Mapping[str, int], chosen: str) -> str | None:
    """The occupation `key` should be read as, when not the taxonomy's `chosen` one."""
    by_group: Counter[str] = Counter()
    for code, sources in listed.items():
        by_group[code[:2]] += sources
    if len(by_group) < 2:
        return None
    top = max(by_group.values())
    groups = sorted(g for g, score in by_group.items() if score == top)
    if chosen[:2] in groups:
        return None
    if len(groups) > 1:
        head_group = GENERIC_HEADS.get(singular(key.rsplit(" ", 1)[-1]), "")[:2]
        if head_group not in groups:
            return None
        groups = [head_group]
    return min((c for c in listed if c[:2] == groups[0]), key=lambda c: (-listed[c], c))


def build(listings: Listings, taxonomy: Taxonomy) -> dict[str, str]:
    """Title key -> O*NET-SOC code, for the titles read in another group than the
    taxonomy's choice."""
    chosen: dict[str, str] = {}
    own: set[str] = set()
    names: dict[str, set[str]] = {}
    for function in taxonomy.functions.values():
        own.update(title_key(t) for t in (function.name, singular(function.name)))
        names[function.code] = _word_forms(function.name)
        for title in function.titles:
            chosen[title_key(title)] = function.code
    table: dict[str, str] = {}
    for key in sorted(listings):
        if key in own or key not in chosen:
            continue
        if _word_forms(key) <= names[chosen[key]]:
            continue  # the chosen occupation's name says it ("Tree Trimmer")
        code = regrouped(key, listings[key], chosen[key])
        if code is not None:
            table[key] = code
    return table


def _word_forms(title: str) -> set[str]:
    return {word_form(w) for w in title_key(title).split()}


def load(path: Path = TABLE) -> dict[str, str]:
    table: dict[str, str] = {}
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if not line.startswith("#"):
                key, code = line.rstrip("\n").split("\t")
                table[key] = code
    return table


def write(table: Mapping[str, str], path: Path = TABLE) -> None:
    lines = [f"# {line}" for line in (__doc__ or "").strip().splitlines()[-4:]]
    lines += [f"{key}\t{code}" for key, code in sorted(table.items())]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--source", type=Path, required=True, help="taxonomy source directory")
    parser.add_argument("--out", type=Path, default=TABLE)
    args = parser.parse_args(argv)
    table = build(read_listings(args.source / ALTERNATE_TITLES_FILE), load_taxonomy())
    write(table, args.out)
    print(f"{len(table)} titles regrouped -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

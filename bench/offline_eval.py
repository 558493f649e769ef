"""Accuracy of the offline backend on a hand-labelled set of real-looking job postings.

`bench/data/offline-eval.csv` holds job titles as partner feeds write them (with noise such as
pay, shifts and codes), a company and a one-line description, each labelled by hand with its
O*NET-SOC major group (the first two digits of the code) and the employer's LinkedIn sector.
The rows were written for this evaluation, not drawn from the O*NET title lists the matcher is
built from; `exact O*NET title share` reports how many of them nevertheless coincide with a
known title once normalised, so the accuracy can be read in that light.

The industry cue lexicon was extended after studying this set's sector misses, so its sector
figure is optimistic. `offline-eval-holdout.csv` (55 rows) was written afterwards and never
used for tuning; its figures are reported separately.

    python -m bench --only offline-eval            # the figures, in the bench table
    python -m bench.offline_eval --misses          # every wrong answer, to study errors
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.report import Measurement
from schemas.records import JobPosting
from schemas.taxonomy import Taxonomy, load_taxonomy
from schemas.taxonomy.build import title_key
from services.enricher.backends.offline import OfflineBackend
from services.enricher.offline.titles import standard_title

SUITE = "offline-eval"
DATA = Path(__file__).with_name("data") / "offline-eval.csv"
HOLDOUT = Path(__file__).with_name("data") / "offline-eval-holdout.csv"
SOC_TARGET = ">= 0.75"


@dataclass(frozen=True, slots=True)
class Labelled:
    """One row of the evaluation set."""

    title: str
    company: str
    description: str
    soc_major: str
    sector: str

    def posting(self) -> JobPosting:
        return JobPosting(
            title=self.title, company_name=self.company, description_html=self.description
        )


@dataclass(frozen=True, slots=True)
class Prediction:
    """What the backend answered for one row."""

    row: Labelled
    soc_major: str  # "" when no job function was found
    sector: str  # "" when no industry was found
    function: str
    known_title: bool  # the cleaned title is already an O*NET title

    @property
    def soc_right(self) -> bool:
        return self.soc_major == self.row.soc_major

    @property
    def sector_right(self) -> bool:
        return self.sector == self.row.sector


@dataclass(frozen=True, slots=True)
class Scores:
    predictions: tuple[Prediction, ...]
    seconds: float

    @property
    def rows(self) -> int:
        return len(self.predictions)

    def share(self, right: Counter[bool]) -> float:
        return right[True] / self.rows if self.rows else 0.0

    @property
    def soc_accuracy(self) -> float:
        return self.share(Counter(p.soc_right for p in self.predictions))

    @property
    def sector_accuracy(self) -> float:
        return self.share(Counter(p.sector_right for p in self.predictions))

    @property
    def exact_onet_share(self) -> float:
        return self.share(Counter(p.known_title for p in self.predictions))

    @property
    def soc_accuracy_unknown_titles(self) -> float:
        """Accuracy on the rows whose title is not an O*NET title: the harder half."""
        unknown = [p for p in self.predictions if not p.known_title]
        return sum(p.soc_right for p in unknown) / len(unknown) if unknown else 0.0

    @property
    def soc_answered(self) -> float:
        return self.share(Counter(bool(p.soc_major) for p in self.predictions))

    @property
    def sector_answered(self) -> float:
        return self.share(Counter(bool(p.sector) for p in self.predictions))


def load_rows(path: Path = DATA) -> list[Labelled]:
    with path.open(newline="", encoding="utf-8") as handle:
        return [
            Labelled(
                title=row["title"],
                company=row["company"],
                description=row["description"],
                soc_major=row["soc_major"].strip(),
                sector=row["sector"].strip(),
            )
            for row in csv.DictReader(handle)
        ]


def predict(
    backend: OfflineBackend, taxonomy: Taxonomy, known: frozenset[str], row: Labelled
) -> Prediction:
    enrichment = backend.enrich_one(row.posting())
    function = taxonomy.job_function(enrichment.job_function_id)
    sector = taxonomy.sector(enrichment.sector_id)
    return Prediction(
        row=row,
        soc_major=function.code[:2] if function and function.code else "",
        sector=sector.name if sector else "",
        function=f"{function.code} {function.name}" if function else "",
        known_title=bool(_plain_keys(row.title) & known),
    )


def _plain_keys(title: str) -> set[str]:
    """The cleaned title and its first segment, keyed as the matcher keys titles."""
    cleaned = standard_title(title)
    return {title_key(cleaned), title_key(cleaned.split(" - ", 1)[0])}


def known_titles(taxonomy: Taxonomy) -> frozenset[str]:
    """Every O*NET title and occupation name, as the matcher keys them."""
    return frozenset(
        title_key(title)
        for function in taxonomy.functions.values()
        for title in (function.name, *function.titles)
    )


def evaluate(rows: Sequence[Labelled], taxonomy: Taxonomy | None = None) -> Scores:
    taxonomy = taxonomy if taxonomy is not None else load_taxonomy()
    backend = OfflineBackend(taxonomy)
    started = time.perf_counter()
    known = known_titles(taxonomy)
    predictions = tuple(predict(backend, taxonomy, known, row) for row in rows)
    return Scores(predictions, time.perf_counter() - started)


def measurements(scores: Scores, holdout: Scores | None = None) -> list[Measurement]:
    note = f"{scores.rows} hand-labelled rows"
    held = (
        []
        if holdout is None
        else [
            Measurement(
                SUITE,
                "held-out SOC major group accuracy",
                holdout.soc_accuracy,
                "share",
                SOC_TARGET,
                f"{holdout.rows} rows never used for tuning",
            ),
            Measurement(
                SUITE,
                "held-out sector accuracy",
                holdout.sector_accuracy,
                "share",
                None,
                f"{holdout.rows} rows never used for tuning",
            ),
        ]
    )
    return [
        Measurement(SUITE, "SOC major group top-1 accuracy", scores.soc_accuracy, "share",
                    SOC_TARGET, note),
        Measurement(SUITE, "SOC accuracy, titles not in O*NET", scores.soc_accuracy_unknown_titles,
                    "share", None, "rows whose cleaned title O*NET does not list"),
        Measurement(SUITE, "sector top-1 accuracy", scores.sector_accuracy, "share", None, note),
        Measurement(SUITE, "rows with a job function", scores.soc_answered, "share"),
        Measurement(SUITE, "rows with a sector", scores.sector_answered, "share"),
        Measurement(SUITE, "exact O*NET title share", scores.exact_onet_share, "share", None,
                    "eval titles that are already an O*NET title once cleaned"),
        Measurement(SUITE, "offline enrichment rate", scores.rows / max(scores.seconds, 1e-9),
                    "jobs/s", None, "cold caches, one core"),
        *held,
    ]  # fmt: skip


async def run(quick: bool) -> list[Measurement]:
    # the set is small and the backend fast: quick runs evaluate every row too
    del quick
    scores = await asyncio.to_thread(evaluate, load_rows())
    holdout = await asyncio.to_thread(evaluate, load_rows(HOLDOUT))
    return measurements(scores, holdout)


def print_misses(scores: Scores) -> None:
    for p in scores.predictions:
        if not p.soc_right:
            print(f"SOC  want {p.row.soc_major} got {p.soc_major or '--'}  {p.row.title!r} "
                  f"-> {p.function or '(none)'}")  # fmt: skip
    for p in scores.predictions:
        if not p.sector_right:
            print(f"SECT want {p.row.sector!r} got {p.sector or '--'!r}  "
                  f"{p.row.title!r} @ {p.row.company!r}")  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.offline_eval", description=__doc__)
    parser.add_argument("--misses", action="store_true", help="list every wrong answer")
    parser.add_argument("--data", type=Path, default=DATA, help="another labelled CSV")
    args = parser.parse_args(argv)
    scores = evaluate(load_rows(args.data))
    if args.misses:
        print_misses(scores)
    print(
        f"rows {scores.rows}  SOC major group {scores.soc_accuracy:.3f}  "
        f"(titles not in O*NET {scores.soc_accuracy_unknown_titles:.3f})  "
        f"sector {scores.sector_accuracy:.3f}  exact O*NET titles {scores.exact_onet_share:.3f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

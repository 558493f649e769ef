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

When `../shared/data/labelled/` is present (real public postings, see `bench/real_postings.py`
for where they come from and how their labels map), the suite also scores the backend on
them, per source, split by a fixed hash of each posting into a tuning part and a held-out
part (30%) that is never looked at while tuning; `--misses` lists the tuning part's misses
only. The targets hold on the held-out part, averaged over sources so that no one large,
easy source (USAJOBS, all *Government Administration*) carries the figure.

    python -m bench --only offline-eval            # the figures, in the bench table
    python -m bench.offline_eval --misses          # every wrong answer, to study errors
    python -m bench.offline_eval --real [--misses] # the real postings, per source
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

from bench import real_postings
from bench.real_postings import RealPosting
from bench.report import Measurement
from schemas.records import Enrichment, JobPosting
from schemas.taxonomy import Taxonomy, load_taxonomy
from schemas.taxonomy.build import title_key
from services.enricher.backends.offline.backend import OfflineBackend
from services.enricher.backends.offline.titles import standard_title

SUITE = "offline-eval"
DATA = Path(__file__).with_name("data") / "offline-eval.csv"
HOLDOUT = Path(__file__).with_name("data") / "offline-eval-holdout.csv"
SOC_TARGET = ">= 0.75"
REAL_SOC_TARGET = ">= 0.85"
REAL_SECTOR_TARGET = ">= 0.70"
FEED_BATCH = 20  # ENRICH_BATCH_SIZE's default (a job's answer does not depend on its batch)


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


@dataclass(frozen=True, slots=True)
class RealAnswer:
    """The backend's answer for one real posting."""

    row: RealPosting
    soc_major: str
    sector: str
    function: str


@dataclass(frozen=True, slots=True)
class Tally:
    """Right answers out of labelled rows, for one label kind in one source and part."""

    right: int = 0
    labelled: int = 0

    @property
    def accuracy(self) -> float:
        return self.right / self.labelled if self.labelled else 0.0

    def add(self, right: bool) -> Tally:
        return Tally(self.right + right, self.labelled + 1)


@dataclass(frozen=True, slots=True)
class RealScores:
    answers: tuple[RealAnswer, ...]
    seconds: float

    def tally(self, source: str | None, held_out: bool, kind: str) -> Tally:
        tally = Tally()
        for answer in self.answers:
            row = answer.row
            want = row.soc_major if kind == "soc" else row.sector
            if want and row.held_out == held_out and source in (None, row.source):
                tally = tally.add((answer.soc_major if kind == "soc" else answer.sector) == want)
        return tally

    def sources(self, kind: str) -> list[str]:
        labelled = (a.row for a in self.answers)
        return sorted({r.source for r in labelled if (r.soc_major if kind == "soc" else r.sector)})

    def source_mean(self, held_out: bool, kind: str) -> float:
        """Accuracy averaged over sources, each counting once whatever its size."""
        found = [self.tally(s, held_out, kind).accuracy for s in self.sources(kind)]
        return sum(found) / len(found) if found else 0.0

    @property
    def us_per_job(self) -> float:
        return self.seconds / max(len(self.answers), 1) * 1e6


def evaluate_real(rows: Sequence[RealPosting], taxonomy: Taxonomy | None = None) -> RealScores:
    """Runs each source's postings through the backend in feed order, in service batches."""
    taxonomy = taxonomy if taxonomy is not None else load_taxonomy()
    backend = OfflineBackend(taxonomy)
    started = time.perf_counter()
    answers = asyncio.run(_enrich_feeds(backend, taxonomy, rows))
    return RealScores(tuple(answers), time.perf_counter() - started)


async def _enrich_feeds(
    backend: OfflineBackend, taxonomy: Taxonomy, rows: Sequence[RealPosting]
) -> list[RealAnswer]:
    answers: list[RealAnswer] = []
    for source in dict.fromkeys(r.source for r in rows):
        feed = [r for r in rows if r.source == source]
        for start in range(0, len(feed), FEED_BATCH):
            batch = feed[start : start + FEED_BATCH]
            outcomes = await backend.enrich([r.posting() for r in batch])
            for row, outcome in zip(batch, outcomes, strict=True):
                answers.append(_real_answer(taxonomy, row, outcome.enrichment))
    return answers


def _real_answer(taxonomy: Taxonomy, row: RealPosting, enrichment: Enrichment | None) -> RealAnswer:
    if enrichment is None:
        return RealAnswer(row, "", "", "")
    function = taxonomy.job_function(enrichment.job_function_id)
    sector = taxonomy.sector(enrichment.sector_id)
    return RealAnswer(
        row=row,
        soc_major=function.code[:2] if function and function.code else "",
        sector=sector.name if sector else "",
        function=f"{function.code} {function.name}" if function else "",
    )


def real_measurements(scores: RealScores) -> list[Measurement]:
    found: list[Measurement] = []
    for kind, label, target in (
        ("soc", "SOC major group", REAL_SOC_TARGET),
        ("sector", "sector", REAL_SECTOR_TARGET),
    ):
        held = scores.source_mean(True, kind)
        tuned = scores.source_mean(False, kind)
        pooled = scores.tally(None, True, kind)
        found += [
            Measurement(SUITE, f"real held-out {label}, mean over sources", held, "share", target,
                        f"{len(scores.sources(kind))} sources; tuning part {tuned:.3f}"),
            Measurement(SUITE, f"real held-out {label}, all rows", pooled.accuracy, "share",
                        None, f"{pooled.labelled} rows, USAJOBS the bulk"),
        ]  # fmt: skip
        for source in scores.sources(kind):
            held_tally = scores.tally(source, True, kind)
            tuned_tally = scores.tally(source, False, kind)
            found.append(
                Measurement(SUITE, f"real {label}: {source}", held_tally.accuracy, "share", None,
                            f"held-out {held_tally.labelled} rows; tuning part "
                            f"{tuned_tally.accuracy:.3f} of {tuned_tally.labelled}")
            )  # fmt: skip
    found.append(
        Measurement(SUITE, "offline enrichment time, real postings", scores.us_per_job,
                    "µs/job", None, f"{len(scores.answers)} postings in {FEED_BATCH}-job batches")
    )  # fmt: skip
    return found


async def run(quick: bool) -> list[Measurement]:
    # the sets are small and the backend fast: quick runs evaluate every row too
    del quick
    scores = await asyncio.to_thread(evaluate, load_rows())
    holdout = await asyncio.to_thread(evaluate, load_rows(HOLDOUT))
    found = measurements(scores, holdout)
    if real_postings.available():
        rows = await asyncio.to_thread(real_postings.load)
        found += real_measurements(await asyncio.to_thread(evaluate_real, rows))
    return found


def print_misses(scores: Scores) -> None:
    for p in scores.predictions:
        if not p.soc_right:
            print(f"SOC  want {p.row.soc_major} got {p.soc_major or '--'}  {p.row.title!r} "
                  f"-> {p.function or '(none)'}")  # fmt: skip
    for p in scores.predictions:
        if not p.sector_right:
            print(f"SECT want {p.row.sector!r} got {p.sector or '--'!r}  "
                  f"{p.row.title!r} @ {p.row.company!r}")  # fmt: skip


def print_real(scores: RealScores, misses: bool) -> None:
    if misses:
        for a in scores.answers:
            row = a.row
            if row.held_out:
                continue  # the held-out part is never studied
            if row.soc_major and a.soc_major != row.soc_major:
                print(f"SOC  {row.source} want {row.soc_major} got {a.soc_major or '--'}  "
                      f"{row.title!r} -> {a.function or '(none)'}")  # fmt: skip
            if row.sector and a.sector != row.sector:
                print(f"SECT {row.source} want {row.sector!r} got {a.sector or '--'!r}  "
                      f"{row.title!r} @ {row.company!r}")  # fmt: skip
    for m in real_measurements(scores):
        print(f"{m.name:<55} {m.value:8.3f} {m.unit:<7} {m.note}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.offline_eval", description=__doc__)
    parser.add_argument("--misses", action="store_true", help="list every wrong answer")
    parser.add_argument("--data", type=Path, default=DATA, help="another labelled CSV")
    parser.add_argument(
        "--real", action="store_true", help="the real postings in ../shared/data/labelled/"
    )
    args = parser.parse_args(argv)
    if args.real:
        if not real_postings.available():
            print(f"no labelled postings at {real_postings.FOLDER}", file=sys.stderr)
            return 1
        print_real(evaluate_real(real_postings.load()), args.misses)
        return 0
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

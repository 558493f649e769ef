"""The committed evaluation set is well formed and the offline backend meets its target on it."""

from __future__ import annotations

from collections import Counter

import pytest

from bench.offline_eval import (
    HOLDOUT,
    RealAnswer,
    RealScores,
    Scores,
    evaluate,
    load_rows,
    measurements,
    real_measurements,
)
from bench.real_postings import RealPosting, linkedin_sector, naf_sector, naf_table
from schemas.taxonomy import Taxonomy, load_taxonomy


@pytest.fixture(scope="module")
def taxonomy() -> Taxonomy:
    return load_taxonomy()


@pytest.fixture(scope="module")
def scores(taxonomy: Taxonomy) -> Scores:
    return evaluate(load_rows(), taxonomy)


def test_the_set_has_300_distinct_rows_labelled_with_real_groups_and_sectors(
    taxonomy: Taxonomy,
) -> None:
    rows = load_rows()
    majors = {f.code[:2] for f in taxonomy.functions.values()}
    sectors = {s.name for s in taxonomy.sectors.values()}

    assert len(rows) >= 300
    assert len({r.title for r in rows}) == len(rows)
    assert {r.soc_major for r in rows} <= majors
    assert {r.sector for r in rows} <= sectors
    # no single group dominates: the figure is about breadth, not one easy occupation
    assert max(Counter(r.soc_major for r in rows).values()) < 0.1 * len(rows)


def test_soc_major_group_accuracy_meets_the_target(scores: Scores) -> None:
    assert scores.soc_accuracy >= 0.75


def test_measurements_hold_accuracy_against_the_target(scores: Scores) -> None:
    by_name = {m.name: m for m in measurements(scores)}
    soc = by_name["SOC major group top-1 accuracy"]
    assert soc.value == pytest.approx(scores.soc_accuracy) and soc.meets_target()
    assert 0.0 < by_name["sector top-1 accuracy"].value <= 1.0


def test_the_held_out_rows_are_labelled_like_the_main_set(taxonomy: Taxonomy) -> None:
    held_out = load_rows(HOLDOUT)
    sectors = {s.name for s in taxonomy.sectors.values()}
    assert len(held_out) >= 50 and {r.sector for r in held_out} <= sectors
    assert not {r.title for r in held_out} & {r.title for r in load_rows()}


V2_SECTORS = {
    "IT Services and IT Consulting": "Professional Services",
    "Construction": "Construction",
    "Software Development": "Technology, Information and Media",
}


def test_linkedin_industries_map_to_their_v2_sector() -> None:
    assert linkedin_sector("Construction", V2_SECTORS) == "Construction"
    # several industries joined: the first one listed is the company's own
    joined = "IT Services and IT Consulting and Construction"
    assert linkedin_sector(joined, V2_SECTORS) == "Professional Services"
    joined = "Software Development, Construction, and IT Services and IT Consulting"
    assert linkedin_sector(joined, V2_SECTORS) == "Technology, Information and Media"
    assert linkedin_sector("Computer Hardware", V2_SECTORS) == "Manufacturing"  # a V1 name
    assert linkedin_sector("Underwater Basket Weaving", V2_SECTORS) is None


def test_naf_codes_map_by_class_then_division_to_taxonomy_sectors(taxonomy: Taxonomy) -> None:
    table = naf_table()
    assert naf_sector("62.02A", table) == "Professional Services"  # IT consulting
    assert naf_sector("62.01Z", table) == "Technology, Information and Media"  # programming
    assert naf_sector("78.20Z", table) == "Administrative and Support Services"  # temp agency
    assert naf_sector("84.11Z", table) == "Government Administration"
    assert naf_sector("45.11Z", table) is None  # the motor trade is ambiguous: unscored
    assert naf_sector("", table) is None
    assert set(table.values()) <= {s.name for s in taxonomy.sectors.values()}


def test_the_held_out_part_is_fixed_by_the_posting_and_about_a_third() -> None:
    def posting(number: int) -> RealPosting:
        return RealPosting("src", str(number), "Nurse", "", "", "29", None)

    held = [posting(n).held_out for n in range(3000)]
    assert held == [posting(n).held_out for n in range(3000)]
    assert 0.25 < sum(held) / len(held) < 0.35
    assert RealPosting("a", "1", "t", "", "", "29", None).posting().title == "t"


def test_real_scores_are_reported_per_source_and_part() -> None:
    def answer(source: str, number: int, right: bool) -> RealAnswer:
        row = RealPosting(source, str(number), "Nurse", "", "", "29", "Education")
        return RealAnswer(row, "29" if right else "15", "Education", "")

    rows = [answer("a", n, n % 2 == 0) for n in range(400)]
    rows += [answer("b", n, True) for n in range(400)]
    scores = RealScores(tuple(rows), seconds=0.8)
    by_name = {m.name: m for m in real_measurements(scores)}

    assert scores.sources("soc") == ["a", "b"]
    assert by_name["real SOC major group: b"].value == 1.0
    assert 0.35 < by_name["real SOC major group: a"].value < 0.65
    mean = by_name["real held-out SOC major group, mean over sources"]
    assert mean.value == pytest.approx((scores.tally("a", True, "soc").accuracy + 1.0) / 2)
    assert mean.target == ">= 0.85" and by_name["real sector: a"].value == 1.0

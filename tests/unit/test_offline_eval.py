"""The committed evaluation set is well formed and the offline backend meets its target on it."""

from __future__ import annotations

from collections import Counter

import pytest

from bench.offline_eval import HOLDOUT, Scores, evaluate, load_rows, measurements
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

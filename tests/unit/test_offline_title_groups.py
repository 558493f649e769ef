"""A title O*NET lists under occupations of several SOC major groups is read in the group
that lists it most, not by its single loudest listing."""

from __future__ import annotations

import pytest

from schemas.records import JobPosting
from schemas.taxonomy import Taxonomy, load_taxonomy
from services.enricher.backends.offline.backend import OfflineBackend
from services.enricher.backends.offline.title_groups import load, regrouped


@pytest.fixture(scope="module")
def backend() -> OfflineBackend:
    return OfflineBackend()


@pytest.fixture(scope="module")
def taxonomy() -> Taxonomy:
    return load_taxonomy()


def _code(backend: OfflineBackend, taxonomy: Taxonomy, title: str) -> str:
    found = backend.enrich_one(JobPosting(title=title, company_name="Acme", description_html=""))
    function = taxonomy.job_function(found.job_function_id)
    return function.code if function else ""


@pytest.mark.parametrize(
    ("title", "soc_major"),
    [
        # four managers' listings outvote one media programming director's three sources
        ("Program Manager", "11"),
        ("IT Cybersecurity Specialist", "15"),
        # O*NET's own choice stands where its group is as loud as any other
        ("Project Manager", "13"),
        # and where the occupation's name says the title
        ("Tree Trimmer", "37"),
    ],
)
def test_a_shared_title_is_read_in_the_group_that_lists_it_most(
    backend: OfflineBackend, taxonomy: Taxonomy, title: str, soc_major: str
) -> None:
    assert _code(backend, taxonomy, title)[:2] == soc_major


def test_the_loudest_group_wins_and_its_most_reported_occupation_is_chosen() -> None:
    listed = {"27-2012.03": 3, "11-1021.00": 1, "11-2033.00": 2, "11-9199.00": 1}
    assert regrouped("program manager", listed, chosen="27-2012.03") == "11-2033.00"


def test_a_tie_keeps_the_taxonomys_choice_when_its_group_is_tied() -> None:
    listed = {"13-1082.00": 2, "11-9021.00": 1, "11-9041.00": 1}
    assert regrouped("project manager", listed, chosen="13-1082.00") is None


def test_a_tie_without_the_taxonomys_group_goes_to_the_generic_heads_group() -> None:
    listed = {"27-2012.00": 1, "43-6014.00": 1, "29-1141.00": 1}
    assert regrouped("program assistant", listed, chosen="29-1141.00") is None  # its group is tied
    tied = {"27-2012.00": 1, "43-6014.00": 1, "31-9092.00": 2}
    assert regrouped("program assistant", tied, chosen="19-1029.00") == "31-9092.00"
    even = {"27-2012.00": 1, "43-6014.00": 1}
    assert regrouped("program assistant", even, chosen="19-1029.00") == "43-6014.00"


def test_a_title_one_group_lists_is_never_moved() -> None:
    assert regrouped("nurse", {"29-1141.00": 3, "29-1171.00": 1}, chosen="29-1171.00") is None


def test_the_shipped_table_names_known_occupations(taxonomy: Taxonomy) -> None:
    codes = {f.code for f in taxonomy.functions.values()}
    table = load()
    assert len(table) > 100
    assert set(table.values()) <= codes

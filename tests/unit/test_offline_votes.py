"""The title-word vote: occupations for titles no known title matches, head noun first."""

from __future__ import annotations

import pytest

from schemas.taxonomy import Taxonomy, load_taxonomy
from services.enricher.backends.offline.matcher import FunctionMatcher
from services.enricher.backends.offline.titles import standard_title
from services.enricher.backends.offline.votes import TitleVotes, title_words, word_form


@pytest.fixture(scope="module")
def taxonomy() -> Taxonomy:
    return load_taxonomy()


@pytest.fixture(scope="module")
def matcher(taxonomy: Taxonomy) -> FunctionMatcher:
    return FunctionMatcher(taxonomy)


@pytest.fixture(scope="module")
def votes(taxonomy: Taxonomy) -> TitleVotes:
    return TitleVotes(taxonomy.functions.values())


def major(matcher: FunctionMatcher, raw_title: str) -> str:
    found = matcher.match(standard_title(raw_title))
    return found.function.code[:2] if found else ""


def test_plural_and_singular_are_one_word() -> None:
    assert word_form("nurses") == word_form("nurse") == "nurse"
    assert word_form("technologies") == "technology"
    assert word_form("analysis") == "analysis"
    assert title_words("senior data engineer") == ["data", "engineer"]


@pytest.mark.parametrize(
    ("title", "soc_major"),
    [
        # a one-word difference from a known title must not carry the match
        # ("Fire Management Specialist", "Fitness Specialist")
        ("Business Management Specialist", "13"),
        ("Business Specialist", "13"),
        # the modifiers choose among the occupations of the head noun
        ("Cloud Data Engineer", "15"),
        ("Pediatric Oncology Nurse", "29"),
        ("Commercial Truck Driver Trainee", "53"),
    ],
)
def test_unknown_titles_get_the_group_their_words_vote_for(
    matcher: FunctionMatcher, title: str, soc_major: str
) -> None:
    assert major(matcher, title) == soc_major


@pytest.mark.parametrize(
    ("title", "soc_major"),
    [
        ("Ingénieur Big Data - Lyon (h/f)", "15"),  # not the bare "engineer" title
        ("Architecte Cloud (H/F/NB)", "15"),
        ("Spécialiste des Technologies Big Data", "15"),
        ("Technicien de maintenance H/F", "49"),
        # the longest known French title read wins over its first word alone
        ("Administrateur / Administratrice système et réseaux (H/F)", "15"),
        # Finnish compounds end in the occupation
        ("Tehdassiivooja", "37"),
        ("Kuorma-autonkuljettaja", "53"),
    ],
)
def test_french_and_finnish_titles_are_read_in_english(
    matcher: FunctionMatcher, title: str, soc_major: str
) -> None:
    assert major(matcher, title) == soc_major


def test_a_vote_needs_a_known_head_noun(votes: TitleVotes) -> None:
    assert votes.vote("data lyon") is None
    assert votes.vote("") is None
    found = votes.vote("cloud data engineer")
    assert found is not None
    assert found.words[0] == "engineer"
    assert 0 < found.share <= 1


def test_the_vote_reason_names_the_words(matcher: FunctionMatcher) -> None:
    found = matcher.match(standard_title("Business Management Specialist"))
    assert found is not None
    assert found.how == "title words"
    assert "business" in found.matched_title

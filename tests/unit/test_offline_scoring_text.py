"""The scorer's fast text counts decide exactly as the plain regex definitions they replace."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from services.enricher.backends.offline.scoring import NUMBER, ascii_letter_counts, has_number

# Text rich in what the patterns look at: digits (also non-ASCII ones), $, %, dots, spaces.
_TEXT = st.text(alphabet=st.sampled_from("ab Z9 0$%.\n_-é٣Ⅻ"), max_size=30) | st.text(max_size=30)


@given(_TEXT)
def test_has_number_agrees_with_searching_the_whole_pattern(text: str) -> None:
    assert has_number(text) == (NUMBER.search(text) is not None)


@given(_TEXT)
def test_letter_counts_agree_with_deleting_the_other_characters(text: str) -> None:
    upper = len(re.sub(r"[^A-Z]+", "", text))
    letters = len(re.sub(r"[^A-Za-z]+", "", text))
    assert ascii_letter_counts(text) == (upper, letters)


def test_figures_that_count_as_numbers() -> None:
    assert has_number("grew revenue 20% last year") and has_number("earn $5k")
    assert has_number("since 2024") and not has_number("a 5 star team")

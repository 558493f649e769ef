"""Mappings are checked by the reader's own loader: a bad one says what is wrong."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from services.ingestor.feeds.mapping import MappingError, load_mapping

EXAMPLES = Path(__file__).parents[2] / "examples" / "feeds"


@pytest.mark.parametrize(
    ("mapping", "complaint"),
    [
        ({"fields": {"wage": "pay"}}, "unknown target field 'wage'"),
        ({"mappings": {"pay": "wages"}}, "unknown target field 'wages'"),
        ({"mappings": {"pay": 3}}, "'mappings' -> 'pay' must name an internal field"),
        ({"mappings": ["title"]}, "'mappings' must be an object, not a list"),
        ({"fields": "title"}, "'fields' must be an object, not a string"),
        ({"fields": {"title": 5}}, "'fields' -> 'title' must be a path or a list of paths"),
        ({"fields": {"title": ["a", None]}}, "'fields' -> 'title' must be a path"),
        ({"fields": {"title": {"a": "b"}}}, "'fields' -> 'title' must be a path"),
        ({"format": "yaml"}, "unknown format 'yaml'; known: csv, json, xml"),
        ({"format": 1}, "unknown format 1"),
        ({"dialect": "nope"}, "unknown dialect 'nope'"),
        ({"record": ["job"]}, "'record' must be an element name"),
        ({"max_uncompressed_bytes": "1GB"}, "'max_uncompressed_bytes' must be an integer"),
        ({"max_uncompressed_bytes": 0}, "'max_uncompressed_bytes' must be an integer"),
        ({"max_uncompressed_bytes": True}, "'max_uncompressed_bytes' must be an integer"),
    ],
)
def test_an_invalid_mapping_is_refused_with_the_reason(mapping: Any, complaint: str) -> None:
    with pytest.raises(MappingError) as raised:
        load_mapping(mapping)
    assert complaint in str(raised.value)


def test_a_mapping_that_is_not_an_object_is_refused() -> None:
    with pytest.raises(MappingError, match="must be a JSON object, not a list"):
        load_mapping([1])  # type: ignore[arg-type]


def test_valid_mappings_load() -> None:
    sample = load_mapping(json.loads((EXAMPLES / "sample-mapping.json").read_text()))
    assert sample.fields["title"] == ("title",)
    native = load_mapping(
        {"fields": {"title": ["t", "name"]}, "record": "Ad", "format": "xml",
         "max_uncompressed_bytes": 4 * 1024**3}
    )  # fmt: skip
    assert native.fields["title"] == ("t", "name") and native.record_tag == "ad"
    assert native.max_uncompressed_bytes == 4 * 1024**3
    assert load_mapping(None).fields == {} and load_mapping({}).fields == {}

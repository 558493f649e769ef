"""Per-feed mappings: read the operator's configuration and apply it over the dialect preset.

Two shapes are accepted and may be combined:

* ours: ``{"fields": {internal_field: path | [paths]}, "record": tag, "format": "xml" |
  "csv" | "json", "dialect": name}``;
* the original system's ``{"mappings": {raw_tag: internal_field}}`` (tags matched
  case-insensitively; when two tags feed one field, the later one in the mapping wins).

A field the mapping names replaces the preset's candidates for that field only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from services.ingestor.feeds.dialects import DIALECTS, INTERNAL_FIELDS, Dialect, FieldPaths
from services.ingestor.feeds.model import RawRecord

LEGACY_ALIASES = {"locations": "location"}
LEGACY_IGNORED = frozenset({"is_international", "is_multi_location", "job_source", "feed_id"})
FORMATS = frozenset({"xml", "csv", "json"})


class MappingError(ValueError):
    """The per-feed mapping is not usable; the message says which part."""


@dataclass(frozen=True, slots=True)
class FeedMapping:
    fields: FieldPaths = field(default_factory=dict)
    record_tag: str | None = None
    format: str | None = None
    dialect: str | None = None


def load_mapping(raw: Mapping[str, Any] | None) -> FeedMapping:
    """Validate a mapping document (either shape); None means presets only."""
    if not raw:
        return FeedMapping()
    fields = {
        **_legacy_fields(raw.get("mappings") or {}),
        **_native_fields(raw.get("fields") or {}),
    }
    record = raw.get("record")
    feed_format = raw.get("format")
    dialect = raw.get("dialect")
    if feed_format is not None and feed_format not in FORMATS:
        raise MappingError(f"format must be one of {sorted(FORMATS)}, not {feed_format!r}")
    if dialect is not None and dialect not in DIALECTS:
        raise MappingError(f"unknown dialect {dialect!r}; known: {sorted(DIALECTS)}")
    return FeedMapping(
        fields=fields,
        record_tag=str(record).lower() if record else None,
        format=feed_format,
        dialect=dialect,
    )


def _legacy_fields(mappings: Mapping[str, Any]) -> FieldPaths:
    grouped: dict[str, list[str]] = {}
    for raw_tag, target in mappings.items():
        if not isinstance(target, str) or target in LEGACY_IGNORED:
            continue
        name = _checked_field(LEGACY_ALIASES.get(target, target))
        grouped.setdefault(name, []).insert(0, str(raw_tag).lower())
    return {name: tuple(paths) for name, paths in grouped.items()}


def _native_fields(fields: Mapping[str, Any]) -> FieldPaths:
    resolved: FieldPaths = {}
    for name, paths in fields.items():
        candidates = [paths] if isinstance(paths, str) else list(paths)
        if not all(isinstance(p, str) for p in candidates):
            raise MappingError(f"paths for {name!r} must be strings")
        resolved[_checked_field(name)] = tuple(p.lower() for p in candidates)
    return resolved


def _checked_field(name: str) -> str:
    if name not in INTERNAL_FIELDS:
        raise MappingError(f"unknown internal field {name!r}")
    return name


def resolve_fields(dialect: Dialect, mapping: FeedMapping) -> FieldPaths:
    """The candidates used for this feed: the preset, with the mapping's fields on top."""
    base = DIALECTS[mapping.dialect].fields if mapping.dialect else dialect.fields
    return {**base, **mapping.fields}


# path -> (internal field, rank of the path among that field's candidates)
PathIndex = dict[str, tuple[tuple[str, int], ...]]


def index_fields(fields: FieldPaths) -> PathIndex:
    """Invert the candidates once per feed, so mapping a record walks only its own paths."""
    index: dict[str, list[tuple[str, int]]] = {}
    for name, paths in fields.items():
        for rank, path in enumerate(paths):
            index.setdefault(path, []).append((name, rank))
    return {path: tuple(targets) for path, targets in index.items()}


def apply_mapping(
    record: RawRecord, fields: FieldPaths, index: PathIndex | None = None
) -> dict[str, str]:
    """Internal field -> the first non-empty candidate's value, stripped.

    A record has a dozen paths and the presets ~150 candidates, so the record's paths are
    looked up in the inverted `index` (pass the one `index_fields` made for `fields`).
    """
    index = index_fields(fields) if index is None else index
    best: dict[str, tuple[int, str]] = {}
    for path, raw in record.fields.items():
        targets = index.get(path)
        if targets is None:
            continue
        value = raw.strip()
        if not value:
            continue
        for name, rank in targets:
            held = best.get(name)
            if held is None or rank < held[0]:
                best[name] = (rank, value)
    return {name: value for name, (_, value) in best.items()}

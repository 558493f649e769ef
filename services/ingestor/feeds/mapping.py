"""Per-feed mappings: read the operator's configuration and apply it over the dialect preset.

Two shapes are accepted and may be combined:

* ours: ``{"fields": {internal_field: path | [paths]}, "record": tag (for JSON: the key of
  the list of jobs), "format": "xml" |
  "csv" | "json", "dialect": name}``;
* the original system's ``{"mappings": {raw_tag: internal_field}}`` (tags matched
  case-insensitively; when two tags feed one field, the later one in the mapping wins).

A field the mapping names replaces the preset's candidates for that field only. A feed
bigger than the ingestor's decompressed-size cap (`FEED_MAX_UNCOMPRESSED_BYTES`) raises its
own cap with ``"max_uncompressed_bytes": N``.
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
MAX_BYTE_CAP = 1024**4  # a per-feed size cap above 1 TiB is a typo, not a feed


class MappingError(ValueError):
    """The per-feed mapping is not usable; the message says which part."""


@dataclass(frozen=True, slots=True)
class FeedMapping:
    fields: FieldPaths = field(default_factory=dict)
    record_tag: str | None = None
    format: str | None = None
    dialect: str | None = None
    max_uncompressed_bytes: int | None = None  # this feed's own decompressed-size cap


def load_mapping(raw: Mapping[str, Any] | None) -> FeedMapping:
    """Validate a mapping document (either shape); None means presets only.

    Raises `MappingError` naming the part that is wrong (unknown target field, wrong type,
    unknown format or dialect); keys of neither shape (comments, the original's
    `target_schema`) are ignored.
    """
    if raw is None:
        return FeedMapping()
    if not isinstance(raw, Mapping):
        raise MappingError(f"a mapping must be a JSON object, not {_kind(raw)}")
    fields = {
        **_legacy_fields(_object(raw.get("mappings"), "mappings")),
        **_native_fields(_object(raw.get("fields"), "fields")),
    }
    return FeedMapping(
        fields=fields,
        record_tag=_record_tag(raw.get("record")),
        format=_choice(raw.get("format"), "format", FORMATS),
        dialect=_choice(raw.get("dialect"), "dialect", frozenset(DIALECTS)),
        max_uncompressed_bytes=_byte_cap(raw.get("max_uncompressed_bytes")),
    )


def _kind(value: Any) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}
    return names.get(type(value), "null" if value is None else "a number")


def _object(value: Any, name: str) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise MappingError(f"{name!r} must be an object, not {_kind(value)}")
    return value


def _record_tag(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise MappingError(f"'record' must be an element name (a string), not {_kind(value)}")
    return value.lower()


def _choice(value: Any, name: str, known: frozenset[str]) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or value not in known:
        raise MappingError(f"unknown {name} {value!r}; known: {', '.join(sorted(known))}")
    return value


def _byte_cap(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_BYTE_CAP:
        raise MappingError(
            f"'max_uncompressed_bytes' must be an integer from 1 to {MAX_BYTE_CAP}, not {value!r}"
        )
    return value


def _legacy_fields(mappings: Mapping[str, Any]) -> FieldPaths:
    grouped: dict[str, list[str]] = {}
    for raw_tag, target in mappings.items():
        if not isinstance(target, str):
            raise MappingError(
                f"'mappings' -> {raw_tag!r} must name an internal field (a string), "
                f"not {_kind(target)}"
            )
        if target in LEGACY_IGNORED:
            continue
        name = _checked_field(LEGACY_ALIASES.get(target, target))
        grouped.setdefault(name, []).insert(0, str(raw_tag).lower())
    return {name: tuple(paths) for name, paths in grouped.items()}


def _native_fields(fields: Mapping[str, Any]) -> FieldPaths:
    resolved: FieldPaths = {}
    for name, paths in fields.items():
        candidates = [paths] if isinstance(paths, str) else paths
        if not isinstance(candidates, list) or not all(isinstance(p, str) for p in candidates):
            raise MappingError(
                f"'fields' -> {name!r} must be a path or a list of paths (strings), "
                f"not {_kind(paths)}"
            )
        resolved[_checked_field(name)] = tuple(p.lower() for p in candidates)
    return resolved


def _checked_field(name: str) -> str:
    if name not in INTERNAL_FIELDS:
        raise MappingError(
            f"unknown target field {name!r}; known: {', '.join(sorted(INTERNAL_FIELDS))}"
        )
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

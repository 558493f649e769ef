"""The audience profile: the rubric (segments and weighted criteria) a job's confidence measures."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import orjson

FORMAT_NAME = "jobstream-audience-profile"
BUNDLED_PROFILE = Path(__file__).resolve().parent / "data" / "audience-profile-v1.json"
TOTAL_WEIGHT = 100.0
ALIGNMENT_LEVELS = ("strong", "adjacent", "description_only", "none")


class ProfileError(ValueError):
    """An audience profile file is unreadable or breaks the rubric's rules."""


@dataclass(frozen=True, slots=True)
class AudienceSegment:
    """One audience the board serves (e.g. a newsletter's readers) and how to recognise it."""

    name: str
    description: str
    example_roles: tuple[str, ...]
    # words or phrases in a title that place a job squarely in this segment
    cue_keywords: tuple[str, ...]
    # related roles that fit the segment only partly (e.g. support roles near it)
    adjacent_keywords: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Criterion:
    key: str
    name: str
    weight: float
    description: str = ""


@dataclass(frozen=True, slots=True)
class AudienceProfile:
    version: str
    name: str
    segments: tuple[AudienceSegment, ...]
    criteria: tuple[Criterion, ...]
    # titles with these words (manual, entry-level, outside the audience) never fit strongly
    low_fit_keywords: tuple[str, ...] = ()
    # the alignment score (0-100) each level of evidence earns
    alignment_scores: Mapping[str, float] | None = None

    def __post_init__(self) -> None:
        _check_profile(self)

    def criterion(self, key: str) -> Criterion | None:
        return next((c for c in self.criteria if c.key == key), None)

    def weight(self, key: str) -> float:
        found = self.criterion(key)
        return 0.0 if found is None else found.weight

    def alignment_score(self, level: str) -> float:
        scores = self.alignment_scores or DEFAULT_ALIGNMENT_SCORES
        return float(scores[level])

    @classmethod
    def from_document(cls, doc: Mapping[str, Any]) -> AudienceProfile:
        if doc.get("format") != FORMAT_NAME:
            raise ProfileError(f"not a {FORMAT_NAME} document")
        try:
            return cls(
                version=str(doc["version"]),
                name=str(doc.get("name", "")),
                segments=tuple(_segment(s) for s in doc["segments"]),
                criteria=tuple(_criterion(c) for c in doc["criteria"]),
                low_fit_keywords=_strings(doc.get("low_fit_keywords", [])),
                alignment_scores=_alignment_scores(doc.get("alignment_scores")),
            )
        except (KeyError, TypeError, ValueError) as exc:
            if isinstance(exc, ProfileError):
                raise
            raise ProfileError(f"malformed audience profile: {exc!r}") from exc


DEFAULT_ALIGNMENT_SCORES: Mapping[str, float] = {
    "strong": 97.0,
    "adjacent": 60.0,
    "description_only": 38.0,
    "none": 6.0,
}


def load_profile(path: str | Path | None = None) -> AudienceProfile:
    """The audience profile at `path`, or the bundled default (Morning Brew's rubric)."""
    if path is None:
        return _bundled()
    return _load_file(Path(path))


@lru_cache(maxsize=1)
def _bundled() -> AudienceProfile:
    return _load_file(BUNDLED_PROFILE)


def _load_file(path: Path) -> AudienceProfile:
    try:
        document = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError) as exc:
        raise ProfileError(f"cannot read audience profile {path}: {exc}") from exc
    if not isinstance(document, dict):
        raise ProfileError(f"audience profile {path} is not a JSON object")
    return AudienceProfile.from_document(document)


def _segment(node: Mapping[str, Any]) -> AudienceSegment:
    return AudienceSegment(
        name=str(node["name"]),
        description=str(node.get("description", "")),
        example_roles=_strings(node.get("example_roles", [])),
        cue_keywords=_strings(node["cue_keywords"]),
        adjacent_keywords=_strings(node.get("adjacent_keywords", [])),
    )


def _criterion(node: Mapping[str, Any]) -> Criterion:
    return Criterion(
        key=str(node["key"]),
        name=str(node["name"]),
        weight=float(node["weight"]),
        description=str(node.get("description", "")),
    )


def _strings(values: Any) -> tuple[str, ...]:
    if not isinstance(values, list):
        raise ProfileError("expected a list of strings")
    return tuple(str(v).strip().lower() for v in values if str(v).strip())


def _alignment_scores(node: Any) -> Mapping[str, float] | None:
    if node is None:
        return None
    if not isinstance(node, Mapping) or set(node) != set(ALIGNMENT_LEVELS):
        raise ProfileError(f"alignment_scores needs exactly {ALIGNMENT_LEVELS}")
    return {level: float(node[level]) for level in ALIGNMENT_LEVELS}


def _check_profile(profile: AudienceProfile) -> None:
    if not profile.segments:
        raise ProfileError("an audience profile needs at least one segment")
    keys = [c.key for c in profile.criteria]
    if len(set(keys)) != len(keys):
        raise ProfileError("criterion keys must be unique")
    if any(c.weight < 0 for c in profile.criteria):
        raise ProfileError("criterion weights cannot be negative")
    total = sum(c.weight for c in profile.criteria)
    if abs(total - TOTAL_WEIGHT) > 1e-6:
        raise ProfileError(f"criterion weights sum to {total:g}, not {TOTAL_WEIGHT:g}")
    if any(not 0 <= s <= 100 for s in (profile.alignment_scores or {}).values()):
        raise ProfileError("alignment scores must lie within 0-100")

"""The audience profile: the default rubric mirrors the reference, and broken rubrics fail."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from schemas.profile import BUNDLED_PROFILE, ProfileError, load_profile


def test_default_profile_is_the_reference_rubric() -> None:
    profile = load_profile()
    weights = {c.name: c.weight for c in profile.criteria}
    assert weights == {
        "Audience & Role Alignment": 85,
        "Tone and Voice": 6,
        "Clarity and Structure": 4,
        "Impact-Oriented Language": 3,
        "Engaging Hook": 2,
    }
    assert sum(weights.values()) == 100
    assert profile.version == "morning-brew-v1"


def test_default_profile_has_the_eight_newsletters_with_cues() -> None:
    profile = load_profile()
    names = [s.name for s in profile.segments]
    assert names == [
        "Healthcare Brew",
        "Tech Brew",
        "IT Brew",
        "Marketing Brew",
        "CFO Brew",
        "HR Brew",
        "Retail Brew",
        "Morning Brew (General)",
    ]
    assert all(s.cue_keywords and s.example_roles and s.description for s in profile.segments)
    assert "nurse" in profile.segments[0].cue_keywords


def _document(**changes: Any) -> dict[str, Any]:
    document: dict[str, Any] = orjson.loads(BUNDLED_PROFILE.read_bytes())
    document.update(changes)
    return document


def test_loads_a_custom_profile(tmp_path: Path) -> None:
    criteria = [
        {"key": "audience_alignment", "name": "Fit", "weight": 70},
        {"key": "clarity", "name": "Clarity", "weight": 30},
    ]
    path = tmp_path / "profile.json"
    path.write_bytes(orjson.dumps(_document(version="custom-2", criteria=criteria)))
    profile = load_profile(path)
    assert profile.version == "custom-2"
    assert profile.weight("clarity") == 30
    assert profile.weight("tone") == 0


@pytest.mark.parametrize(
    "changes",
    [
        {"criteria": [{"key": "audience_alignment", "name": "Fit", "weight": 90}]},
        {"segments": []},
        {"format": "something-else"},
        {"alignment_scores": {"strong": 97}},
    ],
)
def test_rejects_broken_profiles(tmp_path: Path, changes: dict[str, Any]) -> None:
    path = tmp_path / "profile.json"
    path.write_bytes(orjson.dumps(_document(**changes)))
    with pytest.raises(ProfileError):
        load_profile(path)


def test_missing_file_is_a_profile_error(tmp_path: Path) -> None:
    with pytest.raises(ProfileError):
        load_profile(tmp_path / "nope.json")

"""The Xano payload's field names are a setting: renamed, added or dropped fields."""

from __future__ import annotations

import pytest

from services.shared.settings import SettingsError
from services.syncer.config import SyncerSettings, field_map_from
from services.syncer.payload import DEFAULT_FIELD_MAP, to_xano_payload


def test_without_a_setting_the_original_payload_is_sent() -> None:
    assert SyncerSettings.from_env({}).field_map == DEFAULT_FIELD_MAP


def test_fields_can_be_renamed_added_and_dropped() -> None:
    mapping = field_map_from('{"company_name": "company_name", "company": null, "cpc": null}')
    payload = to_xano_payload(
        {"job_hash": "h", "company_name": "Riverside", "cpc": 0.85}, eid="e", field_map=mapping
    )
    assert payload["company_name"] == "Riverside"
    assert "company" not in payload and "cpc" not in payload
    assert payload["job_hash"] == "h"


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        ("{not json", "not JSON"),
        ("[1, 2]", "JSON object"),
        ('{"salary": "salary_text"}', "unknown column 'salary_text'"),
    ],
)
def test_a_bad_field_map_is_a_clear_settings_error(raw: str, fragment: str) -> None:
    with pytest.raises(SettingsError, match=fragment):
        field_map_from(raw)

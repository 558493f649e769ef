"""`jobstream feeds add` checks the mapping with the reader's loader before calling the API."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cli.main import main


def test_feeds_add_refuses_an_invalid_mapping_before_the_api(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mapping = tmp_path / "mapping.json"
    mapping.write_text(json.dumps({"fields": {"wage": "pay"}}))
    argv = ["feeds", "add", "x", "https://h/f.xml", "--mapping", str(mapping)]
    # no API answers on port 9: the command must stop at the mapping, not at the network
    assert main([*argv, "--api-url", "http://127.0.0.1:9", "--token", "t"]) == 1
    error = capsys.readouterr().err
    assert "invalid mapping" in error and "unknown target field 'wage'" in error

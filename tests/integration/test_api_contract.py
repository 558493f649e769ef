"""The API's OpenAPI document and the server agree: `schemathesis run` with every check, in
its coverage, fuzzing and stateful phases, authenticated, finds nothing.

The API runs as its real process on a database of its own (`api_support`).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from cli.stack import StackInfo
from cli.stack.config import PROJECT_ROOT
from tests.conftest import TEST_SERVICES_BASE_PORT
from tests.integration.api_support import api_dsn
from tests.integration.test_api_fuzz import _wait_healthy

__all__ = ["api_dsn"]  # a fixture, imported for pytest

PORT = TEST_SERVICES_BASE_PORT + 96
TOKEN = "contract-token"
SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")
# Schemathesis probes the server with a NUL byte in a header: aiohttp's parser answers 400 and
# logs it with a traceback. Only that one is expected in the log.
PARSER_REFUSAL = "aiohttp.http_exceptions.BadHttpMessage"


@pytest.fixture(scope="module")
def api_url(
    stack: StackInfo, api_dsn: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    log = tmp_path_factory.mktemp("api") / "api.log"
    env = {
        **os.environ, "API_PORT": str(PORT), "API_TOKEN": TOKEN, "DATABASE_URL": api_dsn,
        "KAFKA_BOOTSTRAP_SERVERS": stack.bootstrap, "SCHEDULER_ENABLED": "false",
    }  # fmt: skip
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "services.api"], cwd=PROJECT_ROOT, env=env, stdout=out,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
    url = f"http://127.0.0.1:{PORT}"
    try:
        _wait_healthy(url, process, log)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=20)
    for line in log.read_text().splitlines():
        entry = json.loads(line) if line.startswith("{") else {"message": line}
        assert "Traceback" not in str(entry) or PARSER_REFUSAL in str(entry), line[:3000]


def test_schemathesis_with_every_check_finds_nothing(api_url: str, tmp_path: Path) -> None:
    result = subprocess.run(
        [
            str(SCHEMATHESIS), "run", f"{api_url}/openapi.json", "--checks", "all",
            "--phases", "coverage,fuzzing,stateful", "--max-examples", "15",
            "-H", f"Authorization: Bearer {TOKEN}", "--seed", "20261204",
        ],
        capture_output=True, text=True, timeout=400, cwd=tmp_path, check=False,
    )  # fmt: skip
    summary = result.stdout[-4000:]
    assert result.returncode == 0, summary
    assert " passed" in summary

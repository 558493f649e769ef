"""A property-based run of the API's own OpenAPI document against the live API process.

The API runs as its real process (`python -m services.api`) on a database of its own
(`api_support`): whatever schemathesis triggers names no feed a running pipeline knows.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Err, Ok

from cli.stack import StackInfo
from cli.stack.config import PROJECT_ROOT
from tests.conftest import TEST_SERVICES_BASE_PORT
from tests.integration.api_support import api_dsn

__all__ = ["api_dsn"]  # a fixture, imported for pytest

FUZZ_PORT = TEST_SERVICES_BASE_PORT + 95
TOKEN = "fuzz-token"
EXAMPLES_PER_OPERATION = 25  # 15 operations: a few hundred requests in all


def _wait_healthy(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and process.poll() is None:
        try:
            with urllib.request.urlopen(f"{url}/readyz", timeout=5) as answer:  # noqa: S310
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"the API did not become ready:\n{log.read_text()[-3000:]}")


@pytest.fixture(scope="module")
def api_url(
    stack: StackInfo, api_dsn: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    log = tmp_path_factory.mktemp("api") / "api.log"
    env = {
        **os.environ,
        "API_PORT": str(FUZZ_PORT),
        "API_TOKEN": TOKEN,
        "DATABASE_URL": api_dsn,
        "KAFKA_BOOTSTRAP_SERVERS": stack.bootstrap,
        "SCHEDULER_ENABLED": "false",
    }
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "services.api"], cwd=PROJECT_ROOT, env=env, stdout=out,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
    url = f"http://127.0.0.1:{FUZZ_PORT}"
    try:
        _wait_healthy(url, process, log)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=20)
    assert "Traceback" not in log.read_text(), log.read_text()[-3000:]


def _operation(result: Ok[Any] | Err[Any]) -> Any:
    assert isinstance(result, Ok), f"the document is invalid: {result.err()}"
    return result.ok()


def test_the_openapi_document_finds_no_server_error(api_url: str) -> None:
    schema = schemathesis.openapi.from_url(f"{api_url}/openapi.json")
    operations = [_operation(result) for result in schema.get_all_operations()]
    # Every documented route but the document itself, which schemathesis leaves out.
    with urllib.request.urlopen(f"{api_url}/openapi.json", timeout=5) as answer:  # noqa: S310
        documented = sum(len(ops) for ops in json.load(answer)["paths"].values())
    assert len(operations) == documented - 1 >= 14
    for operation in operations:

        @given(case=operation.as_strategy(), with_token=st.booleans())
        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def no_server_error(case: schemathesis.Case[Any], with_token: bool) -> None:
            # Calls with and without the token: both the auth wall and what lies behind it.
            headers = {"Authorization": f"Bearer {TOKEN}"} if with_token else {}
            response = case.call(base_url=api_url, headers=headers, timeout=15)
            case.validate_response(response, checks=[not_a_server_error])

        no_server_error()

"""A property-based run of the API's own OpenAPI document against the live API process.

The API runs as its real process (`python -m services.api`) on a database of its own, whose
feed ids start at one billion: whatever schemathesis triggers names no feed of the shared
test database, so a pipeline running in the same session only sees requests it refuses.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Err, Ok

from cli.stack import StackConfig, StackInfo
from cli.stack.config import DB_PASSWORD, DB_USER, PROJECT_ROOT
from tests.conftest import TEST_SERVICES_BASE_PORT

FUZZ_DB = "jobstream_api_fuzz"
FUZZ_PORT = TEST_SERVICES_BASE_PORT + 95
TOKEN = "fuzz-token"
EXAMPLES_PER_OPERATION = 25  # 15 operations: a few hundred requests in all


async def _admin(config: StackConfig) -> asyncpg.Connection:
    return await asyncpg.connect(
        host=str(config.pg_socket_dir), port=config.pg_port, user="postgres", database="postgres"
    )


@pytest.fixture(scope="module")
async def fuzz_dsn(stack: StackInfo, stack_config: StackConfig) -> AsyncIterator[str]:
    admin = await _admin(stack_config)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{FUZZ_DB}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{FUZZ_DB}" OWNER "{DB_USER}"')
    finally:
        await admin.close()
    yield f"postgresql://{DB_USER}:{DB_PASSWORD}@127.0.0.1:{stack_config.pg_port}/{FUZZ_DB}"
    admin = await _admin(stack_config)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{FUZZ_DB}" WITH (FORCE)')
    finally:
        await admin.close()


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
    stack: StackInfo, fuzz_dsn: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    log = tmp_path_factory.mktemp("api") / "api.log"
    env = {
        **os.environ,
        "API_PORT": str(FUZZ_PORT),
        "API_TOKEN": TOKEN,
        "DATABASE_URL": fuzz_dsn,
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
        _wait_healthy(url, process, log)  # readiness also applied the migrations
        asyncio.run(_feed_ids_from_a_billion(fuzz_dsn))
        yield url
    finally:
        process.terminate()
        process.wait(timeout=20)
    assert "Traceback" not in log.read_text(), log.read_text()[-3000:]


async def _feed_ids_from_a_billion(dsn: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("ALTER SEQUENCE feeds_id_seq RESTART WITH 1000000000")
    finally:
        await conn.close()


def _operation(result: Ok[Any] | Err[Any]) -> Any:
    assert isinstance(result, Ok), f"the document is invalid: {result.err()}"
    return result.ok()


def test_the_openapi_document_finds_no_server_error(api_url: str) -> None:
    schema = schemathesis.openapi.from_url(f"{api_url}/openapi.json")
    operations = [_operation(result) for result in schema.get_all_operations()]
    # Every documented route but the document itself, which schemathesis leaves out.
    assert len(operations) == 14
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

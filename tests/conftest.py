"""Session fixtures: a real local stack and the running pipeline, shared by all tests.

The tests' stack lives in its own state directory on its own ports, so it never disturbs a
developer's demo stack; it is started once per session (if it is not already up) and stopped
at the end only if this session started it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from cli import pipeline
from cli.stack import StackConfig, StackInfo, ensure_up, shut_down, status
from cli.stack.config import CLUSTER_KAFKA_HEAP, PROJECT_ROOT
from tests.feed_sources import pipeline_feed_env

# Overridable, so two test sessions (say, two engineers on one machine) need not collide.
# Below 32768: ports in Linux's ephemeral range may be taken by outgoing connections.
TEST_KAFKA_PORT = int(os.environ.get("JOBSTREAM_TEST_KAFKA_PORT", "27092"))
TEST_PG_PORT = int(os.environ.get("JOBSTREAM_TEST_PG_PORT", "27432"))
TEST_SERVICES_BASE_PORT = int(os.environ.get("JOBSTREAM_TEST_SERVICES_BASE_PORT", "27100"))
TEST_XANO_PORT = int(os.environ.get("JOBSTREAM_TEST_XANO_PORT", "27080"))
# The three-broker stack (`stack up --brokers 3`) beside it: brokers on 6 ports from +500.
CLUSTER_KAFKA_PORT = TEST_KAFKA_PORT + 500
CLUSTER_PG_PORT = TEST_PG_PORT + 1

# Faust defaults are tuned for production; tests want quick rebalances and short batches.
FAST_SERVICES_ENV = {
    "KAFKA_SESSION_TIMEOUT_S": "6",
    "KAFKA_HEARTBEAT_INTERVAL_S": "0.5",
    "KAFKA_REBALANCE_TIMEOUT_S": "6",
    "ENRICH_BATCH_WITHIN_S": "0.2",
    "ROUTER_BATCH_WITHIN_S": "0.2",
    "XANO_REQUESTS_PER_WINDOW": "100",
    "RUN_STALL_TIMEOUT_S": "45",  # a slow rebalance on a loaded machine is not a stall
    "RUN_SWEEP_INTERVAL_S": "2",
    # A router frozen mid-transaction holds its job locks this long (well within the stall).
    "ROUTER_IDLE_IN_TRANSACTION_TIMEOUT_S": "20",
    **pipeline_feed_env(),  # the ingestor reads the tests' feed files and loopback servers
}


def _test_state_dir() -> Path:
    # Under the system temp dir: the postgres user must be able to reach the data directory.
    tag = hashlib.sha256(f"{PROJECT_ROOT}:{TEST_KAFKA_PORT}".encode()).hexdigest()[:8]
    default = Path(tempfile.gettempdir()) / f"jobstream-tests-{tag}"
    path = Path(os.environ.get("JOBSTREAM_TEST_STATE_DIR", default))
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o755)
    return path


@pytest.fixture(scope="session")
def stack_config() -> StackConfig:
    return dataclasses.replace(
        StackConfig.from_env(),
        state_dir=_test_state_dir(),
        kafka_port=TEST_KAFKA_PORT,
        kafka_controller_port=TEST_KAFKA_PORT + 1,
        pg_port=TEST_PG_PORT,
    )


@pytest.fixture(scope="session")
async def stack(stack_config: StackConfig) -> AsyncIterator[StackInfo]:
    already_up = all(c.answers for c in await status(stack_config))
    info = await ensure_up(stack_config)
    yield info
    if not already_up:
        await shut_down(stack_config)


@pytest.fixture(scope="session")
def cluster_stack_config(stack_config: StackConfig) -> StackConfig:
    state_dir = stack_config.state_dir.with_name(f"{stack_config.state_dir.name}-cluster")
    state_dir.mkdir(parents=True, exist_ok=True)
    state_dir.chmod(0o755)
    return dataclasses.replace(
        stack_config,
        state_dir=state_dir,
        kafka_port=CLUSTER_KAFKA_PORT,
        kafka_controller_port=CLUSTER_KAFKA_PORT + 1,
        pg_port=CLUSTER_PG_PORT,
        brokers=3,
        kafka_heap=CLUSTER_KAFKA_HEAP,
    )


@pytest.fixture(scope="session")
async def cluster_session(cluster_stack_config: StackConfig) -> AsyncIterator[StackConfig]:
    """Started by the first test that needs three brokers, stopped at the session's end."""
    already_up = all(c.answers for c in await status(cluster_stack_config))
    yield cluster_stack_config
    if not already_up:
        await shut_down(cluster_stack_config)


@pytest.fixture
async def cluster_stack(cluster_session: StackConfig) -> StackInfo:
    """The three-broker stack, all nodes up: a test that killed or stopped one is healed."""
    return await ensure_up(cluster_session)


@pytest.fixture(scope="session")
def pipeline_config(stack_config: StackConfig) -> pipeline.PipelineConfig:
    return pipeline.PipelineConfig(
        stack=stack_config,
        base_port=TEST_SERVICES_BASE_PORT,
        xano_port=TEST_XANO_PORT,
        extra_env=FAST_SERVICES_ENV,
    )


@pytest.fixture(scope="session")
def running_pipeline(
    stack: StackInfo, pipeline_config: pipeline.PipelineConfig
) -> Iterator[pipeline.PipelineConfig]:
    # Always fresh processes: one left over from an earlier session may run older code.
    pipeline.stop(pipeline_config)
    pipeline.start(pipeline_config, timeout_s=90.0)
    yield pipeline_config
    pipeline.stop(pipeline_config)

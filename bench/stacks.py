"""Throwaway stacks: a broker, a database and services of the bench's own, gone afterwards.

Suites that time the real services run them here, not on the dev stack: their jobs must not
queue up in front of the next demo, and a dev stack's day of changelogs to recover must not
slow the figures down. The ports are the configured ones plus `PORT_SHIFT`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import tempfile
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

from cli import pipeline
from cli.pipeline import PipelineConfig
from cli.stack import StackConfig, StackInfo, ensure_up, shut_down

PORT_SHIFT = 200


@asynccontextmanager
async def throwaway_pipeline(
    names: Sequence[str] | None = None,
) -> AsyncIterator[tuple[StackInfo, PipelineConfig]]:
    """A fresh stack running the named processes (all of the pipeline's by default)."""
    with tempfile.TemporaryDirectory(prefix="jobstream-bench-stack-") as state_dir:
        stack = _throwaway_stack(Path(state_dir))
        info = await ensure_up(stack)
        configured = PipelineConfig.from_env(stack)
        config = dataclasses.replace(
            configured,
            base_port=configured.base_port + PORT_SHIFT,
            xano_port=configured.xano_port + PORT_SHIFT,
        )
        try:
            # In a thread: start and stop run event loops of their own (readiness checks).
            chosen = None if names is None else list(names)
            started = await asyncio.to_thread(pipeline.start, config, chosen)
            try:
                yield info, config
            finally:
                await asyncio.to_thread(pipeline.stop, config, started)
        finally:
            await shut_down(stack)


def _throwaway_stack(state_dir: Path) -> StackConfig:
    state_dir.chmod(0o755)  # PostgreSQL runs as its own user and must get in
    configured = StackConfig.from_env()
    return dataclasses.replace(
        configured,
        state_dir=state_dir,
        kafka_port=configured.kafka_port + PORT_SHIFT,
        kafka_controller_port=configured.kafka_controller_port + PORT_SHIFT,
        pg_port=configured.pg_port + PORT_SHIFT,
    )

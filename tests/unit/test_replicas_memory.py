"""The replica counts `stack up --replicas` starts with are remembered for later restarts."""

from __future__ import annotations

from pathlib import Path

from cli import pipeline
from cli.stack import StackConfig


def _stack(tmp_path: Path) -> StackConfig:
    return StackConfig.from_env({"JOBSTREAM_STATE_DIR": str(tmp_path)})


def test_counts_are_remembered_and_every_other_service_runs_once(tmp_path: Path) -> None:
    stack = _stack(tmp_path)
    assert pipeline.saved_replicas(stack) == dict.fromkeys(pipeline.SERVICES, 1)
    pipeline.save_replicas(stack, pipeline.parse_replicas("router=2,enricher=3"))
    assert pipeline.saved_replicas(stack) == {
        "ingestor": 1,
        "enricher": 3,
        "router": 2,
        "syncer": 1,
    }


def test_a_damaged_file_means_one_of_each(tmp_path: Path) -> None:
    stack = _stack(tmp_path)
    pipeline.replicas_file(stack).parent.mkdir(parents=True, exist_ok=True)
    pipeline.replicas_file(stack).write_text("{not json")
    assert pipeline.saved_replicas(stack) == dict.fromkeys(pipeline.SERVICES, 1)

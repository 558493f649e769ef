"""`--replicas enricher=3,router=2`: how many processes of each service run locally."""

from __future__ import annotations

from pathlib import Path

import pytest

from cli import pipeline
from cli.stack import StackConfig


def test_replica_counts_default_to_one_each() -> None:
    counts = pipeline.parse_replicas("enricher=3,router=2")
    assert counts == {"ingestor": 1, "enricher": 3, "router": 2, "syncer": 1}
    assert pipeline.parse_replicas("") == dict.fromkeys(pipeline.SERVICES, 1)


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [("mailer=2", "unknown service 'mailer'"), ("router=0", "1 to 16"), ("router=x", "1 to 16")],
)
def test_a_bad_replica_spec_says_what_is_wrong(spec: str, fragment: str) -> None:
    with pytest.raises(pipeline.PipelineError, match=fragment):
        pipeline.parse_replicas(spec)


def test_stop_looks_after_every_replica_that_has_a_pid_file(tmp_path: Path) -> None:
    stack = StackConfig(state_dir=tmp_path, cache_dir=tmp_path)
    stack.pids_dir.mkdir(parents=True)
    (stack.pids_dir / "enricher-2.pid").write_text("999999\n")  # a pid no process has
    config = pipeline.PipelineConfig(stack=stack)
    names = set(pipeline.running(config))
    assert {"enricher-0", "enricher-1", "enricher-2"} <= names
    assert pipeline.stop(config) == []  # nothing of ours runs, and that is fine
    assert not (stack.pids_dir / "enricher-2.pid").exists()  # the stale pid file is cleared

"""Every service exposes Prometheus metrics that move when a run goes through."""

from __future__ import annotations

import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from cli.pipeline import PipelineConfig
from cli.stack import StackInfo
from tests.e2e.test_walking_skeleton import _run_sample

pytestmark = pytest.mark.e2e


def _scrape(config: PipelineConfig, service: str) -> dict[tuple[str, tuple[str, ...]], float]:
    url = f"http://127.0.0.1:{config.web_port(service, 0)}/metrics"
    with urllib.request.urlopen(url, timeout=5) as answer:
        assert answer.headers["Content-Type"].startswith("text/plain")
        text = answer.read().decode()
    return {
        (sample.name, tuple(sorted(sample.labels.values()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def test_a_run_moves_the_metrics_of_every_stage(
    stack: StackInfo, running_pipeline: PipelineConfig, tmp_path: Path
) -> None:
    await _run_sample(stack, tmp_path)
    ingestor = _scrape(running_pipeline, "ingestor")
    enricher = _scrape(running_pipeline, "enricher")
    router = _scrape(running_pipeline, "router")
    syncer = _scrape(running_pipeline, "syncer")

    assert ingestor[("jobstream_records_out_total", ("jobs.raw",))] >= 7
    assert enricher[("jobstream_records_in_total", ("jobs.deduped",))] >= 6
    assert router[("jobstream_outcomes_total", ("approved",))] >= 2
    assert router[("jobstream_run_duration_seconds_count", ())] >= 1
    assert syncer[("jobstream_xano_requests_total", ())] >= 1
    assert any(name == "jobstream_consumer_lag" for name, _ in router)
    # what the run and feed alerts watch (deploy/prometheus/alerts.yml)
    closed = {
        labels: n
        for (name, labels), n in router.items()
        if name == "jobstream_runs_completed_total"
    }
    assert sum(closed.values()) >= 1 and any("completion" in labels for labels in closed)
    read = [n for (name, _), n in router.items() if name == "jobstream_feed_records_total"]
    assert sum(read) >= 7

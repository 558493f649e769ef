"""Prometheus metrics every service exposes on `GET /metrics` (one registry per process)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

REGISTRY = CollectorRegistry()

RECORDS_IN = Counter(
    "jobstream_records_in", "Records consumed, by topic.", ["topic"], registry=REGISTRY
)
RECORDS_OUT = Counter(
    "jobstream_records_out", "Records produced, by topic.", ["topic"], registry=REGISTRY
)
DEAD_LETTERS = Counter(
    "jobstream_dead_letters",
    "Messages sent to a dead-letter topic, by source topic.",
    ["topic"],
    registry=REGISTRY,
)
OUTCOMES = Counter(
    "jobstream_outcomes", "Records given an outcome, by outcome.", ["outcome"], registry=REGISTRY
)
LLM_REQUESTS = Counter(
    "jobstream_llm_requests", "Requests made to the LLM backend.", registry=REGISTRY
)
LLM_TOKENS = Counter(
    "jobstream_llm_tokens",
    "LLM tokens, by kind (input, cached_input: the part of input served from cache, output, "
    "thinking).",
    ["direction"],
    registry=REGISTRY,
)
LLM_STAGE_TOKENS = Counter(
    "jobstream_llm_stage_tokens",
    "LLM tokens by enrichment stage and kind (input, cached_input, output, thinking).",
    ["stage", "kind"],
    registry=REGISTRY,
)
LLM_COST = Counter(
    "jobstream_llm_cost_usd",
    "What the LLM calls cost in US dollars (per-model price table), by enrichment stage.",
    ["stage"],
    registry=REGISTRY,
)
LLM_PAUSED_JOBS = Counter(
    "jobstream_llm_paused_jobs",
    "Jobs not sent to the LLM because their run reached its cost ceiling.",
    registry=REGISTRY,
)
CACHE_HITS = Counter(
    "jobstream_enrichment_cache_hits", "Jobs served from the enrichment cache.", registry=REGISTRY
)
XANO_WRITES = Counter(
    "jobstream_xano_jobs",
    "Jobs Xano confirmed, by operation (added, updated, deleted, failed).",
    ["operation"],
    registry=REGISTRY,
)
XANO_REQUESTS = Counter("jobstream_xano_requests", "HTTP requests sent to Xano.", registry=REGISTRY)
XANO_RATE_LIMITED = Counter(
    "jobstream_xano_rate_limited", "Xano answers of 429 Too Many Requests.", registry=REGISTRY
)
API_REQUESTS = Counter(
    "jobstream_api_requests",
    "HTTP API requests, by route and status.",
    ["route", "status"],
    registry=REGISTRY,
)
RUNS_COMPLETED = Counter(
    "jobstream_runs_completed",
    "Runs closed, by feed, status and what closed them (completion, stall, operator).",
    ["feed", "status", "closed_by"],
    registry=REGISTRY,
)
FEED_RECORDS = Counter(
    "jobstream_feed_records",
    "Records the closed runs read from their feed, by feed (a sharp drop: the feed shrank).",
    ["feed"],
    registry=REGISTRY,
)
RUN_DURATION = Histogram(
    "jobstream_run_duration_seconds",
    "Duration of completed runs, from RunStarted to completion.",
    buckets=(1, 5, 15, 60, 300, 900, 1800, 3600, 7200, 14400),
    registry=REGISTRY,
)


Lags = Callable[[], Iterable[tuple[str, int, int]]]
"""(topic, partition, lag) for every partition this process consumes."""


class ConsumerLag(Collector):
    """Per-partition lag of this process's consumers, read at scrape time."""

    def __init__(self, lags: Lags) -> None:
        self._lags = lags

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "jobstream_consumer_lag",
            "Messages between the end of a partition and this consumer's committed offset.",
            labels=["topic", "partition"],
        )
        for topic, partition, lag in self._lags():
            family.add_metric([topic, str(partition)], lag)
        yield family


def watch_consumers(lags: Lags) -> None:
    REGISTRY.register(ConsumerLag(lags))


def count_outcomes(outcomes: Iterable[str]) -> None:
    for outcome in outcomes:
        OUTCOMES.labels(outcome).inc()


def exposition() -> tuple[bytes, str]:
    """The text exposition of every metric, and its content type."""
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST

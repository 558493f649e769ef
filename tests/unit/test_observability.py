"""Prometheus rules, the scrape config and the Grafana dashboard agree with the services.

Every expression must parse (promql-parser) and name only metrics the services register on
their Prometheus registry, or series the rules record themselves: a renamed metric would
otherwise silence its alert without a word.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import promql_parser
import pytest
import yaml

# Importing the apps registers every metric their modules define, as in a running service.
import services.api.app
import services.enricher.app
import services.ingestor.app
import services.router.app
import services.syncer.app  # noqa: F401
from cli.stack.config import PROJECT_ROOT
from services.shared.metrics import REGISTRY

DEPLOY = PROJECT_ROOT / "deploy"
RULES = yaml.safe_load((DEPLOY / "prometheus/alerts.yml").read_text())
SCRAPE = yaml.safe_load((DEPLOY / "prometheus/prometheus.yml").read_text())
DASHBOARD = json.loads((DEPLOY / "grafana/dashboards/jobstream.json").read_text())
COMPOSE = yaml.safe_load((PROJECT_ROOT / "docker-compose.yml").read_text())
PROMETHEUS_OWN = {"up"}  # written by Prometheus for each scrape, not by a service

SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
    "summary": ("", "_count", "_sum", "_created"),
    "gauge": ("",),
}


def exported_names() -> set[str]:
    """Every series name the services' registry exposes, labelled children or not yet."""
    return {
        family.name + suffix
        for family in REGISTRY.collect()
        for suffix in SUFFIXES.get(family.type, ("",))
    }


def _rules() -> Iterator[dict[str, Any]]:
    for group in RULES["groups"]:
        yield from group["rules"]


def _panel_exprs() -> Iterator[tuple[str, str]]:
    for panel in DASHBOARD["panels"]:
        for target in panel["targets"]:
            yield panel["title"], target["expr"]


def metric_names(expr: str) -> set[str]:
    names: set[str] = set()

    def visit(node: Any) -> None:
        if isinstance(node, promql_parser.VectorSelector) and node.name:
            names.add(node.name)

    promql_parser.walk(promql_parser.parse(expr), visit)
    return names


RECORDED = {rule["record"] for rule in _rules() if "record" in rule}
EXPRESSIONS = [(rule.get("alert") or rule["record"], rule["expr"]) for rule in _rules()] + list(
    _panel_exprs()
)


def test_the_registry_holds_the_metrics_the_rules_rely_on() -> None:
    """The collection itself is sound: known counters, gauges, histograms and the lag."""
    names = exported_names()
    assert {"jobstream_dead_letters_total", "jobstream_consumer_lag"} <= names
    assert "jobstream_run_duration_seconds_bucket" in names
    assert "jobstream_xano_outbox" in names  # the syncer's own module
    assert "jobstream_stage_paused" in names
    assert "jobstream_dead_letters" not in names  # a counter is exposed as _total


@pytest.mark.parametrize(("where", "expr"), EXPRESSIONS, ids=[w for w, _ in EXPRESSIONS])
def test_every_expression_parses_and_names_only_exported_metrics(where: str, expr: str) -> None:
    used = metric_names(expr)
    assert used, f"{where}: no metric at all"
    unknown = used - exported_names() - RECORDED - PROMETHEUS_OWN
    assert unknown == set(), f"{where} uses metrics no service exports: {unknown}"


def test_a_misspelt_metric_or_a_broken_expression_is_caught() -> None:
    """The checks above can fail: the parser refuses bad PromQL, unknown names are found."""
    with pytest.raises(ValueError, match="unclosed"):
        promql_parser.parse("sum(rate(jobstream_records_in_total[5m])")
    assert metric_names("rate(jobstream_record_in_total[5m])") - exported_names() == {
        "jobstream_record_in_total"
    }


def test_the_alerts_cover_what_an_operator_must_hear_about() -> None:
    alerts = {rule["alert"]: rule for rule in _rules() if "alert" in rule}
    wanted = {
        "JobstreamRunFailed": "jobstream_runs_completed_total",
        "JobstreamRunStalled": "jobstream_runs_completed_total",
        "JobstreamFeedRecordsDropped": "jobstream:feed_records_per_run:1d",
        "JobstreamConsumerLagGrowing": "jobstream_consumer_lag",
        "JobstreamDeadLetters": "jobstream_dead_letters_total",
        "JobstreamXanoRateLimited": "jobstream_xano_rate_limited_total",
        "JobstreamLLMCostOverBudget": "jobstream:llm_cost_usd:increase1d",
    }
    for alert, metric in wanted.items():
        assert metric in metric_names(alerts[alert]["expr"]), alert
        assert alerts[alert]["annotations"]["summary"]
        assert alerts[alert]["labels"]["severity"] in {"page", "warn"}


def test_recording_rules_are_evaluated_before_the_alerts_that_use_them() -> None:
    first, *rest = RULES["groups"]
    assert {rule.get("record") for rule in first["rules"]} == RECORDED
    assert all("alert" in rule for group in rest for rule in group["rules"])


def test_prometheus_scrapes_every_service_on_the_port_it_serves() -> None:
    services = {"ingestor", "enricher", "router", "syncer", "api"}
    jobs = {job["job_name"]: job for job in SCRAPE["scrape_configs"]}
    assert set(jobs) == {f"jobstream-{name}" for name in services}
    for name in services:
        (sd,) = jobs[f"jobstream-{name}"]["dns_sd_configs"]
        env = COMPOSE["services"][name]["environment"]
        port = int(env.get("WEB_PORT") or env["API_PORT"])
        assert (sd["names"], sd["port"]) == ([name], port)
    assert SCRAPE["rule_files"] == ["/etc/prometheus/alerts.yml"]


def test_the_dashboard_is_provisioned_from_the_repo_on_the_provisioned_data_source() -> None:
    provisioning = DEPLOY / "grafana/provisioning"
    sources = yaml.safe_load((provisioning / "datasources/prometheus.yml").read_text())
    (source,) = sources["datasources"]
    assert source["url"] == "http://prometheus:9090"
    providers = yaml.safe_load((provisioning / "dashboards/jobstream.yml").read_text())
    assert providers["providers"][0]["options"]["path"] == "/var/lib/grafana/dashboards"
    uids = {
        target["datasource"]["uid"] for panel in DASHBOARD["panels"] for target in panel["targets"]
    }
    assert uids == {source["uid"]}
    assert len({panel["id"] for panel in DASHBOARD["panels"]}) == len(DASHBOARD["panels"])


def test_the_dashboard_file_is_the_only_one_and_valid_json() -> None:
    files = sorted(Path(DEPLOY / "grafana/dashboards").iterdir())
    assert [f.name for f in files] == ["jobstream.json"]
    assert DASHBOARD["uid"] == "jobstream-overview"

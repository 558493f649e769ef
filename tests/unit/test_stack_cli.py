"""The `jobstream` command line: exit codes, help, and the status table."""

from __future__ import annotations

import pytest

from cli.commands.stack import format_status
from cli.main import build_parser, main
from cli.options import stack_config
from cli.stack import ComponentStatus
from schemas.topics import CATALOGUE, JOBS_RAW
from services.shared.topic_admin import missing_topics, new_topic


def test_no_command_prints_help_and_exits_with_usage_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main([]) == 2
    assert "stack" in capsys.readouterr().err


def test_a_group_without_its_action_exits_with_usage_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["stack"]) == 2
    assert "status" in capsys.readouterr().err


def test_an_unknown_action_is_a_usage_error() -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["stack", "explode"])
    assert exit_info.value.code == 2


def test_every_documented_command_is_registered() -> None:
    parser = build_parser()
    for argv in (["stack", "up"], ["stack", "down"], ["stack", "status"], ["topics", "create"],
                 ["topics", "list"], ["migrate"]):  # fmt: skip
        assert callable(parser.parse_args(argv).handler)


def test_flags_override_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JOBSTREAM_KAFKA_PORT", "19092")
    monkeypatch.delenv("JOBSTREAM_KAFKA_CONTROLLER_PORT", raising=False)
    args = build_parser().parse_args(
        ["stack", "status", "--kafka-port", "29092", "--pg-port", "25432"]
    )
    config = stack_config(args)
    assert (config.kafka_port, config.kafka_controller_port, config.pg_port) == (
        29092,
        29093,
        25432,
    )


def test_a_bad_port_in_the_environment_fails_cleanly(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("JOBSTREAM_PG_PORT", "nope")
    assert main(["stack", "status"]) == 1
    assert "JOBSTREAM_PG_PORT" in capsys.readouterr().err


def test_status_table_shows_port_pid_and_whether_each_answers() -> None:
    table = format_status([
        ComponentStatus("kafka", 19092, 4242, True, "metadata ok, 12 topics"),
        ComponentStatus("postgres", 15432, None, False, "connect failed"),
    ])  # fmt: skip
    kafka_row, postgres_row = table.splitlines()[1:]
    assert kafka_row.split()[:4] == ["kafka", "19092", "4242", "yes"]
    assert postgres_row.split()[:4] == ["postgres", "15432", "-", "no"]


def test_only_missing_topics_are_created_with_catalogue_partitions_and_retention() -> None:
    todo = missing_topics(CATALOGUE, [spec.name for spec in CATALOGUE if spec is not JOBS_RAW])
    assert todo == [JOBS_RAW]
    topic = new_topic(JOBS_RAW)
    assert topic.num_partitions == JOBS_RAW.partitions
    assert topic.topic_configs == {
        "retention.ms": str(JOBS_RAW.retention_ms),
        "min.insync.replicas": "1",  # local: one broker
    }
    assert topic.replication_factor == 1

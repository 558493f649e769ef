"""The broker's server.properties: one loopback node, topics only from the catalogue."""

from __future__ import annotations

from pathlib import Path

from cli.stack import StackConfig
from cli.stack.kafka import render_server_properties


def _properties(config: StackConfig) -> dict[str, str]:
    lines = render_server_properties(config).splitlines()
    return dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))


def _config(tmp_path: Path) -> StackConfig:
    return StackConfig(state_dir=tmp_path, cache_dir=tmp_path / "cache", kafka_port=29092,
                       kafka_controller_port=29093)  # fmt: skip


def test_node_is_broker_and_controller_listening_on_loopback_only(tmp_path: Path) -> None:
    props = _properties(_config(tmp_path))
    assert props["process.roles"] == "broker,controller"
    assert props["listeners"] == "PLAINTEXT://127.0.0.1:29092,CONTROLLER://127.0.0.1:29093"
    assert props["advertised.listeners"] == "PLAINTEXT://127.0.0.1:29092"
    assert props["controller.quorum.voters"] == f"{props['node.id']}@127.0.0.1:29093"


def test_topics_are_never_created_implicitly(tmp_path: Path) -> None:
    assert _properties(_config(tmp_path))["auto.create.topics.enable"] == "false"


def test_internal_topics_fit_a_single_broker(tmp_path: Path) -> None:
    props = _properties(_config(tmp_path))
    assert props["offsets.topic.replication.factor"] == "1"
    assert props["transaction.state.log.replication.factor"] == "1"
    assert props["transaction.state.log.min.isr"] == "1"
    assert props["group.initial.rebalance.delay.ms"] == "0"


def test_data_lives_in_the_state_dir(tmp_path: Path) -> None:
    assert Path(_properties(_config(tmp_path))["log.dirs"]).is_relative_to(tmp_path)

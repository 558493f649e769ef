"""The broker's server.properties: one loopback node, topics only from the catalogue."""

from __future__ import annotations

from pathlib import Path

from cli.stack import StackConfig, kafka
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


def _cluster(tmp_path: Path) -> StackConfig:
    return StackConfig(state_dir=tmp_path, cache_dir=tmp_path / "cache", kafka_port=29092,
                       kafka_controller_port=29093, brokers=3)  # fmt: skip


def test_three_nodes_vote_in_one_quorum_each_on_its_own_ports(tmp_path: Path) -> None:
    nodes = [_properties_of(_cluster(tmp_path), node) for node in (1, 2, 3)]
    voters = "1@127.0.0.1:29093,2@127.0.0.1:29095,3@127.0.0.1:29097"
    assert {props["controller.quorum.voters"] for props in nodes} == {voters}
    assert [props["node.id"] for props in nodes] == ["1", "2", "3"]
    assert [props["advertised.listeners"] for props in nodes] == [
        "PLAINTEXT://127.0.0.1:29092", "PLAINTEXT://127.0.0.1:29094", "PLAINTEXT://127.0.0.1:29096"
    ]  # fmt: skip
    log_dirs = {props["log.dirs"] for props in nodes}
    assert len(log_dirs) == 3 and all(Path(d).is_relative_to(tmp_path) for d in log_dirs)


def test_cluster_replicates_internal_topics_three_times_two_in_sync(tmp_path: Path) -> None:
    props = _properties_of(_cluster(tmp_path), 2)
    assert props["offsets.topic.replication.factor"] == "3"
    assert props["transaction.state.log.replication.factor"] == "3"
    assert props["transaction.state.log.min.isr"] == "2"
    assert props["default.replication.factor"] == "3"
    assert props["min.insync.replicas"] == "2"


def test_cluster_nodes_keep_their_own_pid_log_and_data(tmp_path: Path) -> None:
    config = _cluster(tmp_path)
    for where in (kafka.pid_file, kafka.log_path, kafka.data_dir, kafka.properties_path):
        assert len({where(config, node) for node in (1, 2, 3)}) == 3


def _properties_of(config: StackConfig, node: int) -> dict[str, str]:
    lines = render_server_properties(config, node).splitlines()
    return dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))

"""The stack reads its location and ports from the environment, with safe defaults."""

from __future__ import annotations

from pathlib import Path

import pytest

from cli.stack import ConfigError, StackConfig
from cli.stack.config import PROJECT_ROOT


def test_defaults_match_the_documented_app_settings() -> None:
    config = StackConfig.from_env({})
    assert config.state_dir == PROJECT_ROOT / ".state"
    assert config.bootstrap == "127.0.0.1:19092"
    assert config.kafka_controller_port == 19093
    assert config.dsn == "postgresql://jobstream:jobstream@127.0.0.1:15432/jobstream"
    assert config.cache_dir == Path.home() / ".cache" / "jobstream"


def test_environment_overrides_every_location_and_port(tmp_path: Path) -> None:
    config = StackConfig.from_env(
        {
            "JOBSTREAM_STATE_DIR": str(tmp_path / "state"),
            "JOBSTREAM_CACHE_DIR": str(tmp_path / "cache"),
            "JOBSTREAM_KAFKA_PORT": "29092",
            "JOBSTREAM_PG_PORT": "25432",
        }
    )
    assert config.logs_dir == tmp_path / "state" / "logs"
    assert config.kafka_libs.parent.parent == tmp_path / "cache"
    assert config.bootstrap == "127.0.0.1:29092"
    assert config.kafka_controller_port == 29093  # follows the broker port
    assert config.dsn.endswith("@127.0.0.1:25432/jobstream")


def test_a_relative_state_dir_is_made_absolute() -> None:
    config = StackConfig.from_env({"JOBSTREAM_STATE_DIR": "some/where"})
    assert config.state_dir.is_absolute()


@pytest.mark.parametrize("value", ["abc", "0", "70000", "-5"])
def test_a_port_that_is_not_a_port_is_refused_with_its_variable_name(value: str) -> None:
    with pytest.raises(ConfigError, match="JOBSTREAM_PG_PORT"):
        StackConfig.from_env({"JOBSTREAM_PG_PORT": value})


def test_colliding_ports_are_refused() -> None:
    with pytest.raises(ConfigError, match="distinct ports"):
        StackConfig.from_env({"JOBSTREAM_PG_PORT": "19093"})


def test_three_brokers_get_a_bootstrap_list_small_heaps_and_replication_3_2() -> None:
    config = StackConfig.from_env({"JOBSTREAM_KAFKA_BROKERS": "3", "JOBSTREAM_KAFKA_PORT": "29092"})
    assert config.bootstrap == "127.0.0.1:29092,127.0.0.1:29094,127.0.0.1:29096"
    assert [config.node_ports(node) for node in config.kafka_nodes] == [
        (29092, 29093), (29094, 29095), (29096, 29097)
    ]  # fmt: skip
    assert (config.replication_factor, config.min_insync_replicas) == (3, 2)
    assert config.kafka_heap == "384m"


def test_one_broker_keeps_replication_1_1() -> None:
    config = StackConfig.from_env({})
    assert (config.brokers, config.replication_factor, config.min_insync_replicas) == (1, 1, 1)


@pytest.mark.parametrize("value", ["2", "0", "three"])
def test_a_broker_count_other_than_1_or_3_is_refused(value: str) -> None:
    with pytest.raises(ConfigError, match="JOBSTREAM_KAFKA_BROKERS"):
        StackConfig.from_env({"JOBSTREAM_KAFKA_BROKERS": value})


def test_a_cluster_node_colliding_with_postgres_is_refused() -> None:
    with pytest.raises(ConfigError, match="distinct ports"):
        StackConfig.from_env(
            {
                "JOBSTREAM_KAFKA_BROKERS": "3",
                "JOBSTREAM_KAFKA_PORT": "29092",
                "JOBSTREAM_PG_PORT": "29095",
            }
        )


def test_the_broker_count_up_started_is_remembered_in_the_state_dir(tmp_path: Path) -> None:
    config = StackConfig.from_env({"JOBSTREAM_STATE_DIR": str(tmp_path)})
    assert config.saved_brokers() == 1
    config.kafka_dir.mkdir(parents=True)
    config.brokers_file.write_text("3\n")
    assert config.saved_brokers() == 3

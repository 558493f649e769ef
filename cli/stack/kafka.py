"""The Kafka brokers (KRaft combined mode, one or three nodes): jars, storage format, start,
stop."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from pathlib import Path

from cli.stack.config import StackConfig
from cli.stack.processes import owned_pid, stop_process, write_pid

POM = Path(__file__).with_name("kafka-pom.xml")
MAIN_CLASS = "kafka.Kafka"
STORAGE_TOOL = "kafka.tools.StorageTool"
# Popen objects of brokers started by this process: kept referenced because the broker is
# meant to outlive the handle, and a collected handle of a live child triggers a warning.
_STARTED: list[subprocess.Popen[bytes]] = []

LOG4J2_YAML = """\
Configuration:
  name: jobstream-local-kafka
  Appenders:
    Console:
      name: STDOUT
      PatternLayout:
        pattern: "[%d] %p %m (%c)%n"
  Loggers:
    Root:
      level: INFO
      AppenderRef:
        - ref: STDOUT
    Logger:
      - name: org.apache.kafka
        level: WARN
      - name: kafka.server.KafkaServer
        level: INFO
      - name: kafka.server.KafkaRaftServer
        level: INFO
"""


class KafkaError(RuntimeError):
    """The broker could not be prepared or started."""


def render_server_properties(config: StackConfig, node: int = 1) -> str:
    """server.properties of one loopback-only node acting as broker and controller.

    With three brokers all three vote in the controller quorum, and the internal topics
    (consumer offsets, transactions) are replicated like the catalogue's: 3 copies, 2 in sync.
    """
    port, controller_port = config.node_ports(node)
    voters = ",".join(f"{n}@127.0.0.1:{config.node_ports(n)[1]}" for n in config.kafka_nodes)
    replicas, min_isr = str(config.replication_factor), str(config.min_insync_replicas)
    settings = {
        "process.roles": "broker,controller",
        "node.id": str(node),
        "controller.quorum.voters": voters,
        "listeners": f"PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}",
        "advertised.listeners": f"PLAINTEXT://127.0.0.1:{port}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
        "log.dirs": str(data_dir(config, node)),
        "num.partitions": "1",
        # Topics come only from the catalogue, so a typo fails loudly instead of creating one.
        "auto.create.topics.enable": "false",
        "default.replication.factor": replicas,
        "min.insync.replicas": min_isr,
        "group.initial.rebalance.delay.ms": "0",
        "offsets.topic.replication.factor": replicas,
        "offsets.topic.num.partitions": "10",
        "transaction.state.log.replication.factor": replicas,
        "transaction.state.log.min.isr": min_isr,
        "share.coordinator.state.topic.replication.factor": replicas,
        "share.coordinator.state.topic.min.isr": min_isr,
    }
    return "".join(f"{key}={value}\n" for key, value in settings.items())


def node_dir(config: StackConfig, node: int = 1) -> Path:
    """A single broker keeps its original layout; cluster nodes each get their own dir."""
    return config.kafka_dir if config.brokers == 1 else config.kafka_dir / f"node-{node}"


def _suffix(config: StackConfig, node: int) -> str:
    return "" if config.brokers == 1 else f"-{node}"


def data_dir(config: StackConfig, node: int = 1) -> Path:
    return node_dir(config, node) / "data"


def properties_path(config: StackConfig, node: int = 1) -> Path:
    return node_dir(config, node) / "server.properties"


def pid_file(config: StackConfig, node: int = 1) -> Path:
    return config.pids_dir / f"kafka{_suffix(config, node)}.pid"


def log_path(config: StackConfig, node: int = 1) -> Path:
    return config.logs_dir / f"kafka{_suffix(config, node)}.log"


def running_pid(config: StackConfig, node: int = 1) -> int | None:
    return owned_pid(pid_file(config, node), MAIN_CLASS, [str(properties_path(config, node))])


def _java() -> str:
    java = shutil.which("java")
    if java is None:
        raise KafkaError("java not found on PATH: install a Java 17+ runtime (openjdk-17-jre)")
    return java


def _classpath(config: StackConfig) -> str:
    return f"{config.kafka_libs}/*"


def ensure_jars(config: StackConfig) -> None:
    """Resolve the broker jars into the cache once; later runs reuse them."""
    if config.kafka_libs.is_dir():
        return
    mvn = shutil.which("mvn")
    if mvn is None:
        raise KafkaError("mvn not found on PATH: install Maven to fetch the Kafka jars")
    # Download beside the final place and rename, so an interrupted fetch is never mistaken
    # for a complete one.
    partial = config.kafka_libs.with_name(f"libs.partial-{os.getpid()}")
    command = [
        mvn, "-q", "-B", "-f", str(POM), "dependency:copy-dependencies",
        f"-DoutputDirectory={partial}", "-DincludeScope=runtime",
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0 or not any(partial.glob("kafka_2.13-*.jar")):
        shutil.rmtree(partial, ignore_errors=True)
        raise KafkaError(f"fetching Kafka jars failed:\n{result.stdout}\n{result.stderr}")
    partial.rename(config.kafka_libs)


def _storage_tool(config: StackConfig, *args: str) -> str:
    command = [_java(), "-cp", _classpath(config), STORAGE_TOOL, *args]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise KafkaError(f"{STORAGE_TOOL} {args[0]} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout.strip()


def _cluster_id(config: StackConfig) -> str:
    # The id must survive re-formatting decisions, so it lives next to the data, not in it.
    id_file = config.kafka_dir / "cluster-id"
    if id_file.exists():
        return id_file.read_text().strip()
    cluster_id = _storage_tool(config, "random-uuid").splitlines()[-1]
    id_file.write_text(cluster_id + "\n")
    return cluster_id


def prepare(config: StackConfig, node: int = 1) -> None:
    """Jars, config files and a formatted log dir: everything before a node's first start."""
    ensure_jars(config)
    node_dir(config, node).mkdir(parents=True, exist_ok=True)
    config.logs_dir.mkdir(parents=True, exist_ok=True)
    properties_path(config, node).write_text(render_server_properties(config, node))
    (config.kafka_dir / "log4j2.yaml").write_text(LOG4J2_YAML)
    if not (data_dir(config, node) / "meta.properties").exists():
        cluster_id = _cluster_id(config)  # all nodes of one cluster share the id
        _storage_tool(config, "format", "-t", cluster_id, "-c", str(properties_path(config, node)))


def start(config: StackConfig, node: int = 1) -> int:
    """Launch a broker detached from this process, logging to logs/kafka[-N].log."""
    command = [
        _java(), f"-Xmx{config.kafka_heap}", "-Djava.awt.headless=true",
        f"-Dlog4j2.configurationFile={config.kafka_dir / 'log4j2.yaml'}",
        "-cp", _classpath(config), MAIN_CLASS, str(properties_path(config, node)),
    ]  # fmt: skip
    with log_path(config, node).open("ab") as log:
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # survives the CLI exiting and its terminal's Ctrl-C
            cwd=node_dir(config, node),
        )
    _STARTED.append(process)
    write_pid(pid_file(config, node), process.pid)
    return process.pid


def stop(config: StackConfig, node: int = 1) -> int | None:
    """Stop a broker this stack started, if any; returns the pid stopped."""
    pid = running_pid(config, node)
    if pid is not None:
        stop_process(pid, signal.SIGTERM, timeout_s=30.0)
    pid_file(config, node).unlink(missing_ok=True)
    return pid

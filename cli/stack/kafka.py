"""The single-node Kafka broker (KRaft combined mode): jars, storage format, start, stop."""

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
NODE_ID = 1
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


def render_server_properties(config: StackConfig) -> str:
    """server.properties for one loopback-only node acting as broker and controller."""
    port, controller_port = config.kafka_port, config.kafka_controller_port
    settings = {
        "process.roles": "broker,controller",
        "node.id": str(NODE_ID),
        "controller.quorum.voters": f"{NODE_ID}@127.0.0.1:{controller_port}",
        "listeners": f"PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}",
        "advertised.listeners": f"PLAINTEXT://127.0.0.1:{port}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
        "log.dirs": str(data_dir(config)),
        "num.partitions": "1",
        # Topics come only from the catalogue, so a typo fails loudly instead of creating one.
        "auto.create.topics.enable": "false",
        "group.initial.rebalance.delay.ms": "0",
        "offsets.topic.replication.factor": "1",
        "offsets.topic.num.partitions": "10",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
    }
    return "".join(f"{key}={value}\n" for key, value in settings.items())


def data_dir(config: StackConfig) -> Path:
    return config.kafka_dir / "data"


def properties_path(config: StackConfig) -> Path:
    return config.kafka_dir / "server.properties"


def pid_file(config: StackConfig) -> Path:
    return config.pids_dir / "kafka.pid"


def log_path(config: StackConfig) -> Path:
    return config.logs_dir / "kafka.log"


def running_pid(config: StackConfig) -> int | None:
    return owned_pid(pid_file(config), MAIN_CLASS, [str(properties_path(config))])


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


def prepare(config: StackConfig) -> None:
    """Jars, config files and a formatted log dir: everything before the first start."""
    ensure_jars(config)
    config.kafka_dir.mkdir(parents=True, exist_ok=True)
    config.logs_dir.mkdir(parents=True, exist_ok=True)
    properties_path(config).write_text(render_server_properties(config))
    (config.kafka_dir / "log4j2.yaml").write_text(LOG4J2_YAML)
    if not (data_dir(config) / "meta.properties").exists():
        cluster_id = _cluster_id(config)
        _storage_tool(config, "format", "-t", cluster_id, "-c", str(properties_path(config)))


def start(config: StackConfig) -> int:
    """Launch the broker detached from this process, logging to logs/kafka.log."""
    command = [
        _java(), f"-Xmx{config.kafka_heap}", "-Djava.awt.headless=true",
        f"-Dlog4j2.configurationFile={config.kafka_dir / 'log4j2.yaml'}",
        "-cp", _classpath(config), MAIN_CLASS, str(properties_path(config)),
    ]  # fmt: skip
    with log_path(config).open("ab") as log:
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # survives the CLI exiting and its terminal's Ctrl-C
            cwd=config.kafka_dir,
        )
    _STARTED.append(process)
    write_pid(pid_file(config), process.pid)
    return process.pid


def stop(config: StackConfig) -> int | None:
    """Stop the broker this stack started, if any; returns the pid stopped."""
    pid = running_pid(config)
    if pid is not None:
        stop_process(pid, signal.SIGTERM, timeout_s=30.0)
    pid_file(config).unlink(missing_ok=True)
    return pid

"""A throwaway three-node KRaft cluster (each node a broker and a controller) for the tests
that need replication: topics with replication factor 3 and min.insync.replicas 2.

Built from the local stack's Kafka jars (`cli.stack.kafka`) in a temp dir, on ports derived
from the test stack's, with small heaps so it fits beside the rest on a small machine.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from cli.stack import kafka
from cli.stack.config import StackConfig
from services.shared.topic_admin import admin_client

NODES = 3
HEAP = "384m"


@dataclass
class KafkaCluster:
    root: Path
    base_port: int
    config: StackConfig  # where the jars are
    processes: dict[int, subprocess.Popen[bytes]] = field(default_factory=dict)

    def broker_port(self, node: int) -> int:
        return self.base_port + 2 * node

    def controller_port(self, node: int) -> int:
        return self.base_port + 2 * node + 1

    @property
    def bootstrap(self) -> str:
        return ",".join(f"127.0.0.1:{self.broker_port(n)}" for n in range(1, NODES + 1))

    def properties(self, node: int) -> str:
        voters = ",".join(f"{n}@127.0.0.1:{self.controller_port(n)}" for n in range(1, NODES + 1))
        broker, controller = self.broker_port(node), self.controller_port(node)
        settings = {
            "process.roles": "broker,controller",
            "node.id": str(node),
            "controller.quorum.voters": voters,
            "listeners": f"PLAINTEXT://127.0.0.1:{broker},CONTROLLER://127.0.0.1:{controller}",
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{broker}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            "log.dirs": str(self.root / f"node-{node}" / "data"),
            "auto.create.topics.enable": "false",
            "group.initial.rebalance.delay.ms": "0",
            "offsets.topic.replication.factor": "3",
            "offsets.topic.num.partitions": "3",
            "transaction.state.log.replication.factor": "3",
            "transaction.state.log.min.isr": "2",
        }
        return "".join(f"{key}={value}\n" for key, value in settings.items())

    def _props_path(self, node: int) -> Path:
        return self.root / f"node-{node}" / "server.properties"

    def prepare(self) -> None:
        kafka.ensure_jars(self.config)
        cluster_id = self._tool("random-uuid").splitlines()[-1]
        (self.root / "log4j2.yaml").write_text(kafka.LOG4J2_YAML)
        for node in range(1, NODES + 1):
            self._props_path(node).parent.mkdir(parents=True)
            self._props_path(node).write_text(self.properties(node))
            self._tool("format", "-t", cluster_id, "-c", str(self._props_path(node)))

    def _tool(self, *args: str) -> str:
        command = [_java(), "-cp", f"{self.config.kafka_libs}/*", kafka.STORAGE_TOOL, *args]
        done = subprocess.run(command, capture_output=True, text=True, check=True, timeout=120)
        return done.stdout.strip()

    def start(self, node: int) -> None:
        command = [
            _java(), f"-Xmx{HEAP}", "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={self.root / 'log4j2.yaml'}",
            "-cp", f"{self.config.kafka_libs}/*", kafka.MAIN_CLASS, str(self._props_path(node)),
        ]  # fmt: skip
        with (self.root / f"node-{node}.log").open("ab") as log:
            self.processes[node] = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
            )

    def stop(self, node: int) -> None:
        process = self.processes.pop(node)
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)

    def stop_all(self) -> None:
        for node in list(self.processes):
            self.stop(node)

    async def wait_for_brokers(self, count: int, timeout_s: float = 180.0) -> None:
        deadline = time.monotonic() + timeout_s
        seen = 0
        while time.monotonic() < deadline:
            try:
                async with admin_client(self.bootstrap, timeout_ms=5_000) as admin:
                    seen = len((await admin.describe_cluster())["brokers"])
                if seen >= count:
                    return
            except Exception:  # noqa: S110 - not up yet: try again until the deadline
                pass
            await asyncio.sleep(1.0)
        logs = "\n".join((self.root / f"node-{n}.log").read_text()[-2000:] for n in (1, 2, 3))
        raise TimeoutError(f"{seen} of {count} brokers after {timeout_s:.0f} s\n{logs}")


def _java() -> str:
    java = shutil.which("java")
    assert java is not None, "java is needed for the Kafka cluster"
    return java


async def started_cluster(config: StackConfig, base_port: int) -> KafkaCluster:
    cluster = KafkaCluster(Path(tempfile.mkdtemp(prefix="jobstream-kafka3-")), base_port, config)
    cluster.prepare()
    for node in range(1, NODES + 1):
        cluster.start(node)
    try:
        await cluster.wait_for_brokers(NODES)
    except BaseException:
        cluster.stop_all()
        raise
    return cluster


def remove(cluster: KafkaCluster) -> None:
    cluster.stop_all()
    shutil.rmtree(cluster.root, ignore_errors=True)

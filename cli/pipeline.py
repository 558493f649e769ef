"""The pipeline's own processes (four services, the API, the Xano emulator) in the background.

Each process gets a pid file and a log file in the stack's state directory, and its own web
port, so several replicas of a service can run side by side. Only processes whose pid file
and command line prove they are ours are ever signalled.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from aiokafka.admin import AIOKafkaAdminClient

from cli.stack.config import PROJECT_ROOT, StackConfig
from cli.stack.processes import is_alive, read_cmdline, read_pid, stop_process, tail, write_pid

SERVICES = ("ingestor", "enricher", "router", "syncer")
XANO_TOKEN = "local-xano-token"  # noqa: S105 - the local emulator's token, loopback only
API_TOKEN = "local-api-token"  # noqa: S105 - the local API's default token, loopback only
API_PORT_OFFSET = 50  # the API listens on base_port + 50, above every service replica
DEMO_FEEDS = PROJECT_ROOT / "examples" / "feeds"


class PipelineError(RuntimeError):
    """A pipeline process did not start; the message carries its log tail."""


@dataclass(frozen=True, slots=True)
class PipelineConfig:
    stack: StackConfig
    base_port: int = 18100
    xano_port: int = 18080
    replicas: Mapping[str, int] = field(default_factory=lambda: dict.fromkeys(SERVICES, 1))
    extra_env: Mapping[str, str] = field(default_factory=dict)
    api_token: str = API_TOKEN

    @classmethod
    def from_env(cls, stack: StackConfig, env: Mapping[str, str] | None = None) -> PipelineConfig:
        env = os.environ if env is None else env
        return cls(
            stack=stack,
            base_port=int(env.get("JOBSTREAM_SERVICES_BASE_PORT", "18100")),
            xano_port=int(env.get("JOBSTREAM_XANO_PORT", "18080")),
            api_token=env.get("JOBSTREAM_API_TOKEN", API_TOKEN),
        )

    @property
    def xano_base_url(self) -> str:
        return f"http://127.0.0.1:{self.xano_port}/api:jobstream"

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.base_port + API_PORT_OFFSET}"

    def web_port(self, service: str, replica: int) -> int:
        return self.base_port + 10 * (SERVICES.index(service) + 1) + replica


def parse_replicas(spec: str) -> dict[str, int]:
    """Replica counts from "enricher=3,router=2" (every other service runs once)."""
    counts = dict.fromkeys(SERVICES, 1)
    for part in filter(None, (p.strip() for p in spec.split(","))):
        name, _, number = part.partition("=")
        if name not in SERVICES:
            raise PipelineError(f"unknown service {name!r} in {spec!r} (one of {SERVICES})")
        if not number.isdigit() or not 1 <= int(number) <= 16:
            raise PipelineError(f"replicas of {name} must be 1 to 16, got {number!r}")
        counts[name] = int(number)
    return counts


def _replicas_on_disk(config: PipelineConfig) -> dict[str, int]:
    """How many replicas of each service have pid files: what `stop` must look after."""
    counts = dict(config.replicas)
    for service in SERVICES:
        for pid_file in config.stack.pids_dir.glob(f"{service}-*.pid"):
            replica = pid_file.stem.rpartition("-")[2]
            if replica.isdigit():
                counts[service] = max(counts.get(service, 1), int(replica) + 1)
    return counts


@dataclass(frozen=True, slots=True)
class Process:
    name: str
    argv: tuple[str, ...]
    env: Mapping[str, str]
    health_url: str
    ready_url: str | None = None  # a consuming service's /readyz

    def pid_file(self, config: StackConfig) -> Path:
        return config.pids_dir / f"{self.name}.pid"

    def log_file(self, config: StackConfig) -> Path:
        return config.logs_dir / f"{self.name}.log"


def processes(config: PipelineConfig) -> list[Process]:
    """The Xano emulator first, then every replica of every service."""
    xano_data = config.stack.state_dir / "xano" / "records.json"
    found = [
        Process(
            name="xano-emulator",
            argv=(sys.executable, "-m", "emulators.xano", "--port", str(config.xano_port),
                  "--data", str(xano_data), "--token", XANO_TOKEN),
            env={},
            health_url=f"http://127.0.0.1:{config.xano_port}/__admin/health",
        )
    ]  # fmt: skip
    for service in SERVICES:
        for replica in range(config.replicas.get(service, 1)):
            found.append(_service_process(config, service, replica))
    found.append(_api_process(config))
    return found


def _api_process(config: PipelineConfig) -> Process:
    """The control plane's HTTP API (with its scheduler), after the services it drives."""
    port = config.base_port + API_PORT_OFFSET
    env = {
        "KAFKA_BOOTSTRAP_SERVERS": config.stack.bootstrap,
        **_durability_env(config.stack),
        "DATABASE_URL": config.stack.dsn,
        "API_PORT": str(port),
        "WEB_PORT": str(port),
        "REPLICA_ID": "0",
        "API_TOKEN": config.api_token,
        "FEED_LOCAL_DIRS": _feed_dirs(),  # the console's mapping preview reads feeds too
        **config.extra_env,
    }
    return Process(
        name="api-0",
        argv=(sys.executable, "-m", "services.api"),
        env=env,
        health_url=f"http://127.0.0.1:{port}/healthz",
    )


def _service_process(config: PipelineConfig, service: str, replica: int) -> Process:
    port = config.web_port(service, replica)
    env = {
        "KAFKA_BOOTSTRAP_SERVERS": config.stack.bootstrap,
        **_durability_env(config.stack),
        "DATABASE_URL": config.stack.dsn,
        "WEB_PORT": str(port),
        "REPLICA_ID": str(replica),
        "FAUST_DATA_DIR": str(config.stack.state_dir / "faust"),
        "XANO_API_URL": config.xano_base_url,
        "XANO_API_KEY": XANO_TOKEN,
        "FEED_LOCAL_DIRS": _feed_dirs(),
        **config.extra_env,
    }
    return Process(
        name=f"{service}-{replica}",
        argv=(sys.executable, "-m", f"services.{service}"),
        env=env,
        health_url=f"http://127.0.0.1:{port}/healthz",
        ready_url=f"http://127.0.0.1:{port}/readyz",
    )


def _durability_env(stack: StackConfig) -> dict[str, str]:
    """The services create their own changelogs: replicated like the stack's topics."""
    return {
        "KAFKA_REPLICATION_FACTOR": str(stack.replication_factor),
        "KAFKA_MIN_INSYNC_REPLICAS": str(stack.min_insync_replicas),
    }


def _feed_dirs() -> str:
    """The ingestor reads local feeds only here: the demo's feeds and the operator's own."""
    own = os.environ.get("FEED_LOCAL_DIRS", "")
    return os.pathsep.join(filter(None, (own, str(DEMO_FEEDS))))


def start(
    config: PipelineConfig, names: list[str] | None = None, *, timeout_s: float = 60.0
) -> list[str]:
    """Starts what is not running yet (of `names`, if given) and waits until each answers.

    Returns the names it started.
    """
    chosen = [p for p in processes(config) if names is None or p.name in names]
    started: list[str] = []
    for process in chosen:
        if _running(process, config.stack) is None:
            _spawn(process, config.stack)
            started.append(process.name)
    try:
        for process in chosen:
            _wait_healthy(process, config.stack, timeout_s)
    except PipelineError:
        stop(config, started)  # leave nothing half-started behind
        raise
    wait_ready(config, timeout_s)
    return started


def wait_ready(config: PipelineConfig, timeout_s: float) -> None:
    """Until every running service replica holds its partitions (`/readyz`) and every consumer
    group they are in is stable: a run started after this sees no rebalance from start-up."""
    deadline = time.monotonic() + timeout_s
    waiting: dict[str, str] = {}
    while time.monotonic() < deadline:
        groups: set[str] = set()
        waiting = {}
        for process in processes(config):
            if process.ready_url is None or _running(process, config.stack) is None:
                continue  # a replica that does not run is in no group
            ready, body = _readiness(process.ready_url)
            stages = body.get("stages")
            stages = stages if isinstance(stages, dict) else {}
            if not ready:
                waiting[process.name] = json.dumps(stages or body)[:300]
            groups |= {
                str(stage.get("group", "")) for stage in stages.values() if isinstance(stage, dict)
            }
        if not waiting:
            unstable = asyncio.run(_unstable_groups(config.stack.bootstrap, groups - {""}))
            if not unstable:
                return
            waiting = dict(unstable)
        time.sleep(0.5)
    detail = "; ".join(f"{name}: {why}" for name, why in waiting.items())
    raise PipelineError(f"the services did not become ready within {timeout_s:.0f} s: {detail}")


def _readiness(url: str) -> tuple[bool, dict[str, object]]:
    try:
        with urllib.request.urlopen(url, timeout=2) as answer:  # noqa: S310 - loopback only
            return True, _json_object(answer.read())
    except urllib.error.HTTPError as error:
        return False, _json_object(error.read())
    except OSError as error:
        return False, {"error": str(error)}


def _json_object(raw: bytes) -> dict[str, object]:
    try:
        body = json.loads(raw)
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


async def _unstable_groups(bootstrap: str, groups: Iterable[str]) -> dict[str, str]:
    """The groups whose state is not Stable, with their state."""
    wanted = sorted(groups)
    if not wanted:
        return {}
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        unstable: dict[str, str] = {}
        for group in wanted:
            # One group a request: aiokafka 0.14 misreads some answers that describe several.
            try:
                [response] = await admin.describe_consumer_groups([group])
            except ValueError as error:
                unstable[group] = f"not described ({error})"
                continue
            state = response.groups[0][2]
            if state != "Stable":
                unstable[group] = state
        return unstable
    finally:
        await admin.close()


def replicas_file(stack: StackConfig) -> Path:
    return stack.state_dir / "replicas.json"


def save_replicas(stack: StackConfig, counts: Mapping[str, int]) -> None:
    """Remembers the replica counts the services were started with (for restarts)."""
    replicas_file(stack).parent.mkdir(parents=True, exist_ok=True)
    replicas_file(stack).write_text(json.dumps(dict(counts), sort_keys=True) + "\n")


def saved_replicas(stack: StackConfig) -> dict[str, int]:
    """The counts last started with (one of each service when never saved)."""
    counts = dict.fromkeys(SERVICES, 1)
    try:
        saved = json.loads(replicas_file(stack).read_text())
    except (OSError, ValueError):
        return counts
    if isinstance(saved, dict):
        counts.update({k: int(v) for k, v in saved.items() if k in SERVICES and int(v) >= 1})
    return counts


def restart(config: PipelineConfig, service: str, *, timeout_s: float = 90.0) -> list[str]:
    """Stops every replica of `service` and starts as many as the stack runs with; returns
    the names started once the groups are stable again."""
    if service not in SERVICES:
        raise PipelineError(f"unknown service {service!r} (one of {', '.join(SERVICES)})")
    on_disk = _replicas_on_disk(config).get(service, 1)
    stop(config, [f"{service}-{n}" for n in range(max(on_disk, config.replicas[service]))])
    names = [f"{service}-{n}" for n in range(config.replicas[service])]
    return start(config, names, timeout_s=timeout_s)


def stop(config: PipelineConfig, names: list[str] | None = None) -> list[str]:
    """Stops our processes (services before the emulator); returns the names stopped."""
    stopped: list[str] = []
    everything = replace(config, replicas=_replicas_on_disk(config))
    for process in reversed(processes(everything)):
        if names is not None and process.name not in names:
            continue
        pid = _running(process, config.stack)
        if pid is not None:
            stop_process(pid, signal.SIGTERM, timeout_s=20.0)
            stopped.append(process.name)
        process.pid_file(config.stack).unlink(missing_ok=True)
    return stopped


def running(config: PipelineConfig) -> dict[str, int | None]:
    everything = replace(config, replicas=_replicas_on_disk(config))
    return {p.name: _running(p, config.stack) for p in processes(everything)}


def _running(process: Process, stack: StackConfig) -> int | None:
    pid = read_pid(process.pid_file(stack))
    if pid is not None and is_alive(pid) and _is_ours(read_cmdline(pid), process):
        return pid
    process.pid_file(stack).unlink(missing_ok=True)
    return None


def _is_ours(argv: list[str], process: Process) -> bool:
    """A Python running our module: the interpreter's name varies (python, python3, python3.11)."""
    return bool(argv) and "python" in Path(argv[0]).name and argv[1:3] == list(process.argv[1:3])


def _answers(url: str, pid: int) -> bool:
    """Health answered by this very process (not by another one holding the port)."""
    try:
        with urllib.request.urlopen(url, timeout=2) as answer:  # noqa: S310 - loopback only
            body = json.load(answer)
    except (OSError, ValueError):
        return False
    return isinstance(body, dict) and body.get("pid", pid) == pid


def _spawn(process: Process, stack: StackConfig) -> None:
    log_file = process.log_file(stack)
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with log_file.open("ab") as log:
        child = subprocess.Popen(
            process.argv,
            cwd=PROJECT_ROOT,
            env={**os.environ, **process.env},
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # a Ctrl-C in the terminal must not kill the pipeline
        )
    write_pid(process.pid_file(stack), child.pid)


def _wait_healthy(process: Process, stack: StackConfig, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    pid = read_pid(process.pid_file(stack))
    while pid is not None and is_alive(pid) and time.monotonic() < deadline:
        # Not `_running`: just after the fork the child still shows its parent's command
        # line, and must not be taken for a stranger (its pid file removed, a twin started).
        if _is_ours(read_cmdline(pid), process) and _answers(process.health_url, pid):
            return
        time.sleep(0.3)
    log = tail(process.log_file(stack))
    raise PipelineError(f"{process.name} did not become healthy:\n{log}")

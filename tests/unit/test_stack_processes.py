"""The stack signals only processes it started: a pid must still run our command line."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from cli.stack.processes import cmdline_matches, is_alive, owned_pid, read_cmdline, write_pid

KAFKA_ARGV = [
    "/usr/bin/java",
    "-Xmx512m",
    "-cp",
    "/c/libs/*",
    "kafka.Kafka",
    "/s/server.properties",
]
PG_ARGV = ["/usr/lib/postgresql/15/bin/postgres", "-D", "/s/postgres/data", "-p", "15432"]


def test_our_broker_is_recognised_by_main_class_and_config_file() -> None:
    assert cmdline_matches(KAFKA_ARGV, "kafka.Kafka", ["/s/server.properties"])


def test_a_broker_of_another_state_dir_is_not_ours() -> None:
    assert not cmdline_matches(KAFKA_ARGV, "kafka.Kafka", ["/other/server.properties"])


def test_our_postgres_is_recognised_by_binary_and_data_dir() -> None:
    assert cmdline_matches(PG_ARGV, "postgres", ["-D", "/s/postgres/data"])


def test_a_reused_pid_running_something_else_is_not_ours() -> None:
    assert not cmdline_matches(["/bin/sleep", "100"], "postgres", ["-D", "/s/postgres/data"])
    assert not cmdline_matches([], "kafka.Kafka", [])


def test_a_live_process_is_owned_only_when_its_command_line_matches(tmp_path: Path) -> None:
    marker = str(tmp_path / "marker")
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)", marker])
    try:
        pid_file = tmp_path / "child.pid"
        write_pid(pid_file, child.pid)
        _wait_for_exec(child.pid, marker)
        assert read_cmdline(child.pid)[-1] == marker
        assert owned_pid(pid_file, Path(sys.executable).name, [marker]) == child.pid
        assert owned_pid(pid_file, Path(sys.executable).name, ["/not/ours"]) is None
        assert not pid_file.exists()  # a pid that is not ours is forgotten, never signalled
    finally:
        child.kill()
        child.wait()


def _wait_for_exec(pid: int, marker: str) -> None:
    """Right after fork the child still shows the parent's command line: wait for its own."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and marker not in read_cmdline(pid):
        time.sleep(0.01)


def test_a_dead_pid_is_stale_and_its_file_removed(tmp_path: Path) -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    pid_file = tmp_path / "gone.pid"
    write_pid(pid_file, child.pid)
    assert not is_alive(child.pid)
    assert owned_pid(pid_file, Path(sys.executable).name, []) is None
    assert not pid_file.exists()


def test_garbage_in_a_pid_file_means_nothing_runs(tmp_path: Path) -> None:
    pid_file = tmp_path / "bad.pid"
    pid_file.write_text("not a pid\n")
    assert owned_pid(pid_file, "postgres", []) is None
    assert is_alive(os.getpid())

"""The bench's CPU accounting: a child process that ended between two readings still counts."""

from __future__ import annotations

import os
import subprocess
import sys

from bench.cpu import process_cpu_s, tree_cpu_s

BURN = "import time\nend = time.process_time() + 0.3\nwhile time.process_time() < end: pass"


def test_a_child_that_ended_between_two_readings_counts_in_its_parents_tree() -> None:
    before = tree_cpu_s(os.getpid())
    subprocess.run([sys.executable, "-c", BURN], check=True)  # ends, and is reaped, here
    assert tree_cpu_s(os.getpid()) - before >= 0.25


def test_a_running_child_counts_in_its_parents_tree() -> None:
    child = subprocess.Popen([sys.executable, "-c", BURN + "\ninput()"], stdin=subprocess.PIPE)
    try:
        while process_cpu_s(child.pid) < 0.25:
            pass
        own = process_cpu_s(os.getpid())
        assert tree_cpu_s(os.getpid()) - own >= 0.25
    finally:
        child.communicate(b"\n")


def test_a_process_that_cannot_be_read_is_not_a_number() -> None:
    ended = subprocess.Popen([sys.executable, "-c", ""])
    ended.wait()
    assert tree_cpu_s(ended.pid) != tree_cpu_s(ended.pid)  # NaN

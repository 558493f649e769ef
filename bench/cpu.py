"""CPU time of other processes on this machine (the bench's stack and services), from /proc."""

from __future__ import annotations

import os
import re
from pathlib import Path

_TICK_S = 1 / os.sysconf("SC_CLK_TCK")


def _stat_fields(path: str) -> list[str]:
    """The fields of a /proc stat file after the command name (which may hold spaces)."""
    return Path(path, "stat").read_text().rsplit(")", 1)[1].split()


def process_cpu_s(pid: int) -> float:
    """User plus system CPU seconds of process `pid` so far (NaN if it cannot be read)."""
    try:
        fields = _stat_fields(f"/proc/{pid}")
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) * _TICK_S  # utime, stime


def tree_cpu_s(pid: int) -> float:
    """CPU seconds of `pid` and of its children, the running ones and those it has reaped.

    Taken at two moments, the difference counts a child that ended in between (a PostgreSQL
    backend or autovacuum worker) whole and once: until it ends it is read directly, then in
    its parent's children's time. NaN if `pid` cannot be read.
    """
    children = sum(process_cpu_s(child) for child in _children(pid))
    try:
        fields = _stat_fields(f"/proc/{pid}")
    except OSError:
        return float("nan")
    own_and_reaped = sum(int(field) for field in fields[11:15])  # utime, stime, cutime, cstime
    return own_and_reaped * _TICK_S + children


def thread_cpu_s(pid: int) -> dict[str, float]:
    """CPU seconds of the threads of `pid` so far, summed by name without its number (the
    broker's request handlers, its JIT compiler threads, its garbage collector)."""
    by_name: dict[str, float] = {}
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            name = (task / "comm").read_text().strip()
            fields = _stat_fields(str(task))
        except OSError:
            continue  # the thread ended meanwhile
        group = re.sub(r"[-#\d]+$", "", name)
        by_name[group] = by_name.get(group, 0.0) + (int(fields[11]) + int(fields[12])) * _TICK_S
    return by_name


def _children(pid: int) -> list[int]:
    children = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            parent = int(_stat_fields(str(entry))[1])
        except (OSError, IndexError, ValueError):
            continue
        if parent == pid:
            children.append(int(entry.name))
    return children

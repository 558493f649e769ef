"""Pid files and process ownership: the stack only ever signals processes it started."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Sequence
from pathlib import Path

PROC = Path("/proc")


def cmdline_matches(argv: Sequence[str], program: str, required_args: Sequence[str]) -> bool:
    """True when argv runs `program` (a basename or java main class) with every required arg.

    A pid file can outlive its process and the pid be reused by anything, so a pid alone
    never proves the process is ours; its command line naming our own config file does.
    """
    if not argv:
        return False
    runs_program = Path(argv[0]).name == program or program in argv[1:]
    return runs_program and all(arg in argv for arg in required_args)


def read_cmdline(pid: int, proc: Path = PROC) -> list[str]:
    """The argv of a live process, or [] when it is gone or unreadable."""
    try:
        raw = (proc / str(pid) / "cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def is_zombie(pid: int, proc: Path = PROC) -> bool:
    try:
        stat = (proc / str(pid) / "stat").read_text()
    except OSError:
        return False
    # The command name in parentheses may itself contain spaces or parentheses.
    return stat.rpartition(")")[2].split()[0] == "Z"


def is_alive(pid: int) -> bool:
    _reap(pid)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return not is_zombie(pid)


def _reap(pid: int) -> None:
    # When this Python process started the child itself, collect it so it stops being a zombie.
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def read_pid(pid_file: Path) -> int | None:
    try:
        text = pid_file.read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def write_pid(pid_file: Path, pid: int) -> None:
    pid_file.parent.mkdir(parents=True, exist_ok=True)
    pid_file.write_text(f"{pid}\n")


def owned_pid(pid_file: Path, program: str, required_args: Sequence[str]) -> int | None:
    """The recorded pid if that process is alive and is ours; a stale pid file is removed."""
    pid = read_pid(pid_file)
    if pid is None:
        return None
    if is_alive(pid) and cmdline_matches(read_cmdline(pid), program, required_args):
        return pid
    pid_file.unlink(missing_ok=True)
    return None


def wait_until_gone(pid: int, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not is_alive(pid):
            return True
        time.sleep(0.1)
    return not is_alive(pid)


def stop_process(pid: int, stop_signal: signal.Signals, timeout_s: float) -> None:
    """Ask politely with stop_signal, then SIGKILL when the grace period runs out."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, stop_signal)
    if wait_until_gone(pid, timeout_s):
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    wait_until_gone(pid, 10.0)


def tail(path: Path, lines: int = 30) -> str:
    """The last lines of a log file, for error messages."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return f"(no log at {path})"
    return "\n".join(text.splitlines()[-lines:])

"""The local PostgreSQL 15 server: initdb, start and stop as the `postgres` OS user."""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import stat
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from cli.stack.config import DB_NAME, DB_PASSWORD, DB_USER, StackConfig
from cli.stack.processes import owned_pid, stop_process, tail, write_pid

SERVICE_USER = "postgres"
INSTALL_HINT = (
    "apt-get update && apt-get install -y postgresql-15  (or: apt-get install postgresql)"
)


class PostgresError(RuntimeError):
    """The database server could not be prepared or started."""


@dataclass(frozen=True, slots=True)
class Identity:
    """The OS account the server runs as, for permission checks."""

    name: str
    uid: int
    gid: int
    groups: frozenset[int]


def blocking_directory(
    path: Path, who: Identity, stat_of: Callable[[Path], os.stat_result] = os.stat
) -> Path | None:
    """The first ancestor of path that `who` may not enter, or None when all are enterable.

    Directories that do not exist yet are skipped: they will be created by us, traversable.
    """
    for directory in reversed(path.parents):
        try:
            mode_info = stat_of(directory)
        except FileNotFoundError:
            continue
        if not _may_enter(mode_info, who):
            return directory
    return None


def _may_enter(info: os.stat_result, who: Identity) -> bool:
    if who.uid == 0:
        return True
    if info.st_uid == who.uid:
        return bool(info.st_mode & stat.S_IXUSR)
    if info.st_gid in who.groups:
        return bool(info.st_mode & stat.S_IXGRP)
    return bool(info.st_mode & stat.S_IXOTH)


def service_identity() -> Identity | None:
    """Who runs the server: `postgres` when we are root (initdb refuses root), else ourselves."""
    if os.geteuid() != 0:
        return None
    try:
        entry = pwd.getpwnam(SERVICE_USER)
    except KeyError as missing:
        raise PostgresError(
            f"no '{SERVICE_USER}' OS user; install it with: {INSTALL_HINT}"
        ) from missing
    groups = frozenset(os.getgrouplist(entry.pw_name, entry.pw_gid))
    return Identity(entry.pw_name, entry.pw_uid, entry.pw_gid, groups)


def find_bin_dir(configured: Path, which: Callable[[str], str | None] = shutil.which) -> Path:
    """Where initdb/pg_ctl live: the configured directory, else whatever PATH offers."""
    if (configured / "initdb").is_file():
        return configured
    found = which("initdb")
    if found is not None:
        return Path(found).parent
    raise PostgresError(f"PostgreSQL server binaries not found in {configured} nor on PATH; "
                        f"install them with: {INSTALL_HINT}")  # fmt: skip


def pid_file(config: StackConfig) -> Path:
    return config.pids_dir / "postgres.pid"


def log_path(config: StackConfig) -> Path:
    return config.logs_dir / "postgres.log"


def running_pid(config: StackConfig) -> int | None:
    return owned_pid(pid_file(config), "postgres", ["-D", str(config.pg_data_dir)])


def _run_as(
    who: Identity | None, command: list[str], cwd: Path
) -> subprocess.CompletedProcess[str]:
    prefix = ["runuser", "-u", who.name, "--"] if who is not None else []
    return subprocess.run(prefix + command, capture_output=True, text=True, check=False, cwd=cwd)


def _give_to(who: Identity | None, *paths: Path) -> None:
    if who is None:
        return
    for path in paths:
        os.chown(path, who.uid, who.gid)


def _check_traversable(config: StackConfig, who: Identity | None) -> None:
    if who is None:
        return
    blocked = blocking_directory(config.pg_data_dir, who)
    if blocked is not None:
        raise PostgresError(
            f"PostgreSQL runs as the '{who.name}' user, which cannot enter {blocked} "
            f"(mode {stat.S_IMODE(blocked.stat().st_mode):o}). Fix: `chmod o+x {blocked}`, "
            "or point JOBSTREAM_STATE_DIR at a directory every user can traverse "
            "(e.g. /var/tmp/jobstream-state)."
        )


def _make_dirs(config: StackConfig, who: Identity | None) -> None:
    config.logs_dir.mkdir(parents=True, exist_ok=True)
    config.pg_dir.mkdir(parents=True, exist_ok=True)
    config.pg_data_dir.mkdir(mode=0o700, exist_ok=True)
    config.pg_socket_dir.mkdir(mode=0o700, exist_ok=True)
    log_path(config).touch()
    _give_to(who, config.pg_data_dir, config.pg_socket_dir, log_path(config))


def preflight(config: StackConfig) -> Path:
    """Fail before anything starts when the server cannot run here; returns the binaries dir."""
    bin_dir = find_bin_dir(config.pg_bin_dir)
    _check_traversable(config, service_identity())
    return bin_dir


def prepare(config: StackConfig) -> Path:
    """Directories, ownership and a cluster initialised once; returns the binaries dir."""
    bin_dir = preflight(config)
    who = service_identity()
    _make_dirs(config, who)
    if not (config.pg_data_dir / "PG_VERSION").exists():
        _initdb(config, bin_dir, who)
    return bin_dir


def _initdb(config: StackConfig, bin_dir: Path, who: Identity | None) -> None:
    # Trust only on the unix socket, whose directory is private to the server's owner (and
    # root); TCP, even on loopback, needs the password.
    command = [
        str(bin_dir / "initdb"), "-D", str(config.pg_data_dir), "-U", SERVICE_USER,
        "-E", "UTF8", "--locale=C", "--auth-local=trust", "--auth-host=scram-sha-256",
    ]  # fmt: skip
    result = _run_as(who, command, cwd=config.pg_dir)
    if result.returncode != 0:
        raise PostgresError(f"initdb failed:\n{result.stdout}\n{result.stderr}")


def start(config: StackConfig, bin_dir: Path) -> int:
    """Start the server (pg_ctl waits until it accepts connections) and record its pid."""
    options = f"-p {config.pg_port} -k {config.pg_socket_dir} -c listen_addresses=127.0.0.1"
    command = [
        str(bin_dir / "pg_ctl"), "-D", str(config.pg_data_dir), "-l", str(log_path(config)),
        "-o", options, "-w", "-t", "60", "start",
    ]  # fmt: skip
    result = _run_as(service_identity(), command, cwd=config.pg_dir)
    if result.returncode != 0:
        raise PostgresError(
            f"pg_ctl start failed:\n{result.stdout}{result.stderr}\n"
            f"--- {log_path(config)} ---\n{tail(log_path(config))}"
        )
    pid = _postmaster_pid(config)
    write_pid(pid_file(config), pid)
    return pid


def _postmaster_pid(config: StackConfig) -> int:
    first_line = (config.pg_data_dir / "postmaster.pid").read_text().splitlines()[0]
    return int(first_line.strip())


async def create_database(config: StackConfig) -> None:
    """The application role and database, created once through the private unix socket."""
    connection = await asyncpg.connect(
        host=str(config.pg_socket_dir), port=config.pg_port, user=SERVICE_USER, database="postgres"
    )
    try:
        await _create_role(connection)
        exists = await connection.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", DB_NAME)
        if not exists:
            await connection.execute(f'CREATE DATABASE "{DB_NAME}" OWNER "{DB_USER}"')
    finally:
        await connection.close()


async def _create_role(connection: asyncpg.Connection) -> None:
    exists = await connection.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", DB_USER)
    verb = "ALTER" if exists else "CREATE"
    # Role DDL takes no bind parameters; the password is a constant, not user input.
    await connection.execute(f"{verb} ROLE \"{DB_USER}\" LOGIN PASSWORD '{DB_PASSWORD}'")


def stop(config: StackConfig) -> int | None:
    """Fast-shutdown the server this stack started, if any; returns the pid stopped."""
    pid = running_pid(config)
    if pid is not None:
        # SIGINT is PostgreSQL's "fast" shutdown: roll back sessions, checkpoint, exit.
        stop_process(pid, signal.SIGINT, timeout_s=30.0)
    pid_file(config).unlink(missing_ok=True)
    return pid


def stop_immediately(config: StackConfig) -> int | None:
    """`pg_ctl stop -m immediate`: the server dies as in a crash (no checkpoint, sessions cut).

    For chaos tests of a database outage; `start` afterwards runs crash recovery.
    """
    pid = running_pid(config)
    if pid is None:
        return None
    pg_ctl = find_bin_dir(config.pg_bin_dir) / "pg_ctl"
    command = [str(pg_ctl), "-D", str(config.pg_data_dir), "-m", "immediate", "-w", "stop"]
    result = _run_as(service_identity(), command, cwd=config.pg_dir)
    if result.returncode != 0:
        raise PostgresError(f"pg_ctl stop -m immediate failed:\n{result.stdout}{result.stderr}")
    pid_file(config).unlink(missing_ok=True)
    return pid

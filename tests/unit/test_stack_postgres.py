"""PostgreSQL preparation: binaries lookup, directory traversal check, migration files."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from cli.stack.postgres_server import Identity, PostgresError, blocking_directory, find_bin_dir
from services.shared.postgres import discover_migrations, parse_migration

POSTGRES = Identity("postgres", uid=101, gid=104, groups=frozenset({104}))


def _fake_stat(modes: dict[str, tuple[int, int, int]]) -> Callable[[Path], os.stat_result]:
    def stat_of(path: Path) -> os.stat_result:
        if str(path) not in modes:
            raise FileNotFoundError(path)
        mode, uid, gid = modes[str(path)]
        return os.stat_result((stat.S_IFDIR | mode, 0, 0, 2, uid, gid, 0, 0, 0, 0))

    return stat_of


def test_a_private_home_directory_blocks_the_postgres_user() -> None:
    stat_of = _fake_stat({"/": (0o755, 0, 0), "/root": (0o700, 0, 0), "/root/p": (0o755, 0, 0)})
    blocked = blocking_directory(Path("/root/p/.state/postgres/data"), POSTGRES, stat_of)
    assert blocked == Path("/root")


def test_world_traversable_parents_and_not_yet_created_dirs_pass() -> None:
    stat_of = _fake_stat({"/": (0o755, 0, 0), "/work": (0o711, 0, 0)})
    assert blocking_directory(Path("/work/new/data"), POSTGRES, stat_of) is None


def test_group_permission_counts_for_members_of_the_group() -> None:
    stat_of = _fake_stat({"/": (0o755, 0, 0), "/srv": (0o750, 0, 104)})
    assert blocking_directory(Path("/srv/data"), POSTGRES, stat_of) is None


def test_configured_bin_dir_wins_then_path_then_a_clear_install_hint(tmp_path: Path) -> None:
    (tmp_path / "initdb").write_text("")
    assert find_bin_dir(tmp_path, which=lambda _: None) == tmp_path
    on_path = find_bin_dir(tmp_path / "absent", which=lambda _: "/opt/pg/bin/initdb")
    assert on_path == Path("/opt/pg/bin")
    with pytest.raises(PostgresError, match="apt-get install"):
        find_bin_dir(tmp_path / "absent", which=lambda _: None)


def test_migration_files_are_numbered_and_ordered(tmp_path: Path) -> None:
    for name in ("0002_more.sql", "0001_initial.sql", "README.md", "0003_x.sql.bak"):
        (tmp_path / name).write_text("")
    assert [m.name for m in discover_migrations(tmp_path)] == ["0001_initial", "0002_more"]
    assert parse_migration(Path("0010_add_index.sql")) is not None
    assert parse_migration(Path("notes.sql")) is None


def test_two_migrations_with_one_version_are_refused(tmp_path: Path) -> None:
    (tmp_path / "0001_a.sql").write_text("")
    (tmp_path / "0001_b.sql").write_text("")
    with pytest.raises(ValueError, match="share a version"):
        discover_migrations(tmp_path)


def test_the_shipped_migrations_start_with_the_initial_schema() -> None:
    assert discover_migrations()[0].name == "0001_initial"

"""Making backups: contents, naming, consistency and all-or-nothing."""

from __future__ import annotations

import re
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pytest

from app.backup.create import create_backup
from app.backup.layout import BackupPaths
from app.errors import BackupError
from tests.unit.backup.builders import rows


def test_backup_when_made_then_every_component_in_place(
    source_paths: BackupPaths, tmp_path: Path
) -> None:
    """Registry, both trade databases, the three archives, state and params are there."""
    result = create_backup(source_paths, out_dir=tmp_path / "out", include_logs=True)
    files = sorted(p.relative_to(result.path).as_posix() for p in result.path.rglob("*.*"))
    assert files == [
        "backtest_results.zip",
        "hyperopt_results.zip",
        "logs.zip",
        "manifest.json",
        "params/ma_crossover.json",
        "registry/strategies_registry.sqlite",
        "state.zip",
        "trades/live/tradesv3.live.sqlite",
        "trades/tradesv3.dryrun.sqlite",
    ]
    assert result.manifest.components == [
        "registry", "trades", "backtests", "hyperopts", "logs", "state", "params",
    ]  # fmt: skip
    assert rows(result.path / "trades/live/tradesv3.live.sqlite", "trades") == rows(
        source_paths.user_data / "live" / "tradesv3.live.sqlite", "trades"
    )
    assert all(e.integrity == "ok" for e in result.manifest.entries if e.kind == "sqlite")


def test_backup_when_named_then_utc_timestamp_and_second_one_suffixed(
    source_paths: BackupPaths, tmp_path: Path
) -> None:
    """``backup_YYYYmmdd_HHMMSS`` in UTC; a second backup in the same second gets ``_2``."""
    moment = datetime(2026, 11, 21, 10, 15, 0, tzinfo=UTC)
    out = tmp_path / "out"
    first = create_backup(source_paths, out_dir=out, now=moment)
    second = create_backup(source_paths, out_dir=out, now=moment)
    assert first.path.name == "backup_20261121_101500"
    assert second.path.name == "backup_20261121_101500_2"
    assert sorted(p.name for p in out.iterdir()) == [first.path.name, second.path.name]


def test_backup_when_default_out_then_under_user_data_backups(source_paths: BackupPaths) -> None:
    """Without --out the backup goes to <user_data>/backups/ and is not backed up itself."""
    first = create_backup(source_paths)
    second = create_backup(source_paths, now=datetime(2030, 1, 1, tzinfo=UTC))
    assert first.path.parent == source_paths.user_data / "backups"
    assert re.fullmatch(r"backup_\d{8}_\d{6}", first.path.name)
    assert all("backups" not in e.path for e in second.manifest.entries)


def test_backup_when_state_has_slots_then_slots_left_out(
    source_paths: BackupPaths, tmp_path: Path
) -> None:
    """The breaker file is kept; running/ slot locks (per-process) are not."""
    result = create_backup(source_paths, out_dir=tmp_path)
    with zipfile.ZipFile(result.path / "state.zip") as archive:
        assert archive.namelist() == ["circuit_breaker.json"]


def test_backup_when_no_logs_flag_then_no_logs_archive(
    source_paths: BackupPaths, tmp_path: Path
) -> None:
    """Logs are only archived with --logs."""
    result = create_backup(source_paths, out_dir=tmp_path)
    assert "logs" not in result.manifest.components
    assert not (result.path / "logs.zip").exists()


def test_backup_when_registry_is_postgresql_then_sqlite_only_and_said(
    user_data: Path, tmp_path: Path
) -> None:
    """With RISK_DB_URL on PostgreSQL the backup holds SQLite files only and says so."""
    paths = BackupPaths(
        user_data=user_data,
        registry_url="postgresql+psycopg://bot:secret@db.example/registry",
        state_dir=user_data / "state",
    )
    result = create_backup(paths, out_dir=tmp_path)
    assert "registry" not in result.manifest.components
    [note] = [n for n in result.manifest.notes if "registry" in n]
    assert "is NOT in this backup (SQLite files only)" in note
    assert "pg_dump" in note
    assert "secret" not in note


def test_backup_when_a_database_is_unreadable_then_nothing_left_behind(
    source_paths: BackupPaths, tmp_path: Path
) -> None:
    """A failure midway leaves neither a backup folder nor a partial one."""
    (source_paths.user_data / "tradesv3.broken.sqlite").write_bytes(b"this is not sqlite" * 100)
    out = tmp_path / "out"
    with pytest.raises(BackupError, match=r"tradesv3\.broken\.sqlite"):
        create_backup(source_paths, out_dir=out)
    assert list(out.iterdir()) == []


def test_backup_when_user_data_missing_then_refused(tmp_path: Path) -> None:
    """A wrong --user-data is named; nothing is created."""
    paths = BackupPaths(tmp_path / "nope", "sqlite:///x.sqlite", tmp_path / "nope" / "state")
    with pytest.raises(BackupError, match=r"user_data folder .*nope' does not exist"):
        create_backup(paths)
    assert not (tmp_path / "nope").exists()

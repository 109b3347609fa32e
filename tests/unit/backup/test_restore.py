"""Restoring backups: round trip, refusals that change nothing, atomic replacement."""

from __future__ import annotations

import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from app.backup.apply import swap
from app.backup.create import BackupResult, create_backup
from app.backup.dirs import Folders
from app.backup.layout import BackupPaths, Place
from app.backup.manifest import Entry
from app.backup.plan import Write
from app.backup.restore import restore_backup
from app.errors import BackupError
from tests.unit.backup.builders import make_trade_db, reseal, rows, tree


def _no_temp_files(root: Path) -> bool:
    return not [p for p in root.rglob(".*") if "restore-" in p.name]


def test_restore_when_target_empty_then_round_trip_is_byte_identical(
    backup: BackupResult, source_paths: BackupPaths, target: BackupPaths
) -> None:
    """Every file comes back byte for byte; databases equal the backup's copies."""
    result = restore_backup(backup.path, target)

    restored = tree(target.user_data)
    original = tree(source_paths.user_data)
    plain = {
        k: v
        for k, v in original.items()
        if not k.endswith((".sqlite", ".py", ".migrate.lock"))  # dbs compared below; no code
    }
    plain.pop("state/running/backtest-1.lock")  # per-process slots are not backed up
    assert {k: v for k, v in restored.items() if not k.endswith(".sqlite")} == plain
    for entry in backup.manifest.entries:
        if entry.kind == "sqlite":
            restored_db = target.user_data / (
                f"registry/{entry.target}" if entry.component == "registry" else entry.target
            )
            assert restored_db.read_bytes() == (backup.path / entry.path).read_bytes()
    assert rows(target.user_data / "live" / "tradesv3.live.sqlite", "trades") == rows(
        source_paths.user_data / "live" / "tradesv3.live.sqlite", "trades"
    )
    assert rows(target.registry_file, "metrics") == rows(source_paths.registry_file, "metrics")  # type: ignore[arg-type]
    assert result.components == backup.manifest.components
    assert _no_temp_files(target.user_data)


def test_restore_when_files_exist_then_refused_and_nothing_changed(
    backup: BackupResult, source_paths: BackupPaths
) -> None:
    """Without --overwrite existing files are listed and left exactly as they were."""
    before = tree(source_paths.user_data)
    with pytest.raises(BackupError, match=r"file\(s\) already exist: .*Pass --overwrite"):
        restore_backup(backup.path, source_paths)
    assert tree(source_paths.user_data) == before


def test_restore_when_overwrite_then_replaced_and_old_wal_removed(
    backup: BackupResult, source_paths: BackupPaths
) -> None:
    """--overwrite replaces changed files; a stale -wal/-shm of the old database goes too."""
    trade_db = source_paths.user_data / "tradesv3.dryrun.sqlite"
    trade_db.unlink()
    make_trade_db(trade_db, trades=9)
    Path(f"{trade_db}-wal").write_bytes(b"stale wal of the old database")
    (source_paths.user_data / "strategies" / "ma_crossover.json").write_text("{}")

    restore_backup(backup.path, source_paths, only=["trades", "params"], overwrite=True)

    assert len(rows(trade_db, "trades")) == 3
    assert not Path(f"{trade_db}-wal").exists()
    assert (source_paths.user_data / "strategies" / "ma_crossover.json").read_text() == (
        '{"strategy_name": "MaCrossoverStrategy"}'
    )
    assert _no_temp_files(source_paths.user_data)


@pytest.mark.parametrize("damage", ["flip", "truncate", "delete"])
def test_restore_when_backup_damaged_then_refused_and_nothing_written(
    backup: BackupResult, target: BackupPaths, damage: str
) -> None:
    """A corrupted, truncated or incomplete backup is refused before anything is written."""
    victim = backup.path / "backtest_results.zip"
    data = victim.read_bytes()
    if damage == "flip":
        victim.write_bytes(data[:50] + bytes([data[50] ^ 0xFF]) + data[51:])
    elif damage == "truncate":
        victim.write_bytes(data[: len(data) // 2])
    else:
        victim.unlink()
    with pytest.raises(BackupError, match="failed verification, nothing was restored"):
        restore_backup(backup.path, target)
    assert tree(target.user_data) == {}


@pytest.mark.parametrize(
    ("name", "mode", "message"),
    [
        ("../../escaped.txt", 0, "escapes its folder"),
        ("/tmp/absolute-escape.txt", 0, "escapes its folder"),
        ("innocent-link", stat.S_IFLNK | 0o777, "is a symbolic link"),
    ],
)
def test_restore_when_archive_malicious_then_refused_and_nothing_written(
    backup: BackupResult, target: BackupPaths, tmp_path: Path, name: str, mode: int, message: str
) -> None:
    """Zip slip, absolute members and links are refused even with a matching manifest."""
    archive = backup.path / "backtest_results.zip"
    with zipfile.ZipFile(archive, "a") as handle:
        info = zipfile.ZipInfo(name)
        info.external_attr = mode << 16
        handle.writestr(info, "/etc/passwd")
    reseal(backup.path)
    with pytest.raises(BackupError, match=message):
        restore_backup(backup.path, target)
    assert tree(target.user_data) == {}
    assert not (tmp_path / "target" / "escaped.txt").exists()
    assert not (tmp_path / "escaped.txt").exists()


def test_restore_when_destination_folder_is_symlink_then_refused(
    backup: BackupResult, target: BackupPaths, tmp_path: Path
) -> None:
    """A symbolic link planted inside a destination folder is not written through."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (target.user_data / "live").symlink_to(outside)
    with pytest.raises(BackupError, match="through the symbolic link"):
        restore_backup(backup.path, target, only=["trades"])
    assert list(outside.iterdir()) == []


def test_restore_when_database_fails_integrity_check_then_refused(
    backup: BackupResult, target: BackupPaths
) -> None:
    """A database copy that is not a sound SQLite file is refused and nothing is left behind."""
    copy = backup.path / "trades" / "tradesv3.dryrun.sqlite"
    data = bytearray(copy.read_bytes())
    data[4096:4200] = bytes(104)  # wreck the first table page, keep the header
    copy.write_bytes(bytes(data))
    reseal(backup.path)
    with pytest.raises(BackupError, match="fails PRAGMA integrity_check"):
        restore_backup(backup.path, target, only=["trades"])
    assert tree(target.user_data) == {}
    assert list(target.user_data.iterdir()) == []


def test_restore_when_trade_database_held_open_then_refused(
    backup: BackupResult, source_paths: BackupPaths
) -> None:
    """A running process with the trade database open blocks the restore, by pid."""
    trade_db = source_paths.user_data / "tradesv3.dryrun.sqlite"
    code = (
        "import sqlite3, sys, time; c = sqlite3.connect(sys.argv[1]); "
        "c.execute('SELECT 1 FROM trades').fetchall(); print('open', flush=True); time.sleep(60)"
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", code, str(trade_db)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "open"
        before = tree(source_paths.user_data)
        with pytest.raises(BackupError, match=rf"is in use \(pid {holder.pid} "):
            restore_backup(backup.path, source_paths, only=["trades"], overwrite=True)
        assert tree(source_paths.user_data) == before
    finally:
        holder.kill()
        holder.wait()


def test_restore_when_only_component_absent_then_refused(
    source_paths: BackupPaths, target: BackupPaths, tmp_path: Path
) -> None:
    """--only logs on a backup made without --logs says what the backup holds."""
    backup = create_backup(source_paths, out_dir=tmp_path / "b")
    with pytest.raises(BackupError, match="the backup has no logs"):
        restore_backup(backup.path, target, only=["logs"])


def test_restore_when_only_params_then_only_params_written(
    backup: BackupResult, target: BackupPaths
) -> None:
    """--only limits the restore to the named parts."""
    result = restore_backup(backup.path, target, only=["params"])
    assert result.files == [target.user_data / "strategies" / "ma_crossover.json"]
    assert list(tree(target.user_data)) == ["strategies/ma_crossover.json"]


def test_restore_when_registry_is_postgresql_then_registry_part_refused(
    backup: BackupResult, target: BackupPaths
) -> None:
    """The SQLite registry copy cannot be restored into a PostgreSQL registry."""
    paths = BackupPaths(target.user_data, "postgresql+psycopg://u@h/db", target.state_dir)
    with pytest.raises(BackupError, match="not an SQLite file; restore it with the database's own"):
        restore_backup(backup.path, paths)
    restore_backup(backup.path, paths, only=["trades"])
    assert (target.user_data / "tradesv3.dryrun.sqlite").exists()


def test_swap_when_a_later_file_fails_then_earlier_ones_put_back(tmp_path: Path) -> None:
    """All files change or none: a failure on the second puts the first back."""
    first = tmp_path / "a.json"
    first.write_text("old a")
    (tmp_path / ".a.json.restore-t").write_text("new a")
    entry = Entry("params/a.json", "params", "file", "a.json", 5, "0" * 64)
    place = Place(tmp_path, ())
    writes = [
        Write("params", place, "a.json", entry, staged=".a.json.restore-t"),
        Write("params", place, "b.json", entry, staged=".b.json.missing"),
    ]
    with Folders() as folders, pytest.raises(FileNotFoundError):
        swap(writes, folders, {0: ["a.json"], 1: []}, "t")
    assert first.read_text() == "old a"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json"]

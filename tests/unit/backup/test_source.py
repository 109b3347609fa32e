"""Reading a backup folder: regular files only, bounded, never blocking, every fault named."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from app.backup.create import BackupResult
from app.backup.source import MAX_MANIFEST_BYTES, BackupFolder
from app.errors import BackupError


def _problems(backup_dir: Path) -> dict[str, str]:
    with BackupFolder(backup_dir) as folder:
        return folder.verify(folder.manifest())


def test_verify_when_truncated_corrupted_missing_then_each_reported(backup: BackupResult) -> None:
    """Every damaged file is named with what is wrong with it."""
    truncated = backup.path / "hyperopt_results.zip"
    truncated.write_bytes(truncated.read_bytes()[:-10])
    corrupted = backup.path / "trades" / "tradesv3.dryrun.sqlite"
    data = bytearray(corrupted.read_bytes())
    data[200] ^= 0xFF
    corrupted.write_bytes(bytes(data))
    (backup.path / "params" / "ma_crossover.json").unlink()

    problems = _problems(backup.path)

    assert "truncated" in problems["hyperopt_results.zip"]
    assert problems["trades/tradesv3.dryrun.sqlite"].endswith(
        "sha256 differs from the manifest (corrupted)"
    )
    assert problems["params/ma_crossover.json"] == "params/ma_crossover.json: missing"
    assert len(problems) == 3


@pytest.mark.parametrize("kind", ["fifo", "symlink", "folder"])
def test_verify_when_listed_file_not_regular_then_named_without_blocking(
    backup: BackupResult, tmp_path: Path, kind: str
) -> None:
    """A FIFO (never opened, so nothing blocks), a link or a folder in place of a file."""
    victim = backup.path / "state.zip"
    outside = tmp_path / "outside.zip"
    outside.write_bytes(victim.read_bytes())  # same bytes: the checksum would match
    victim.unlink()
    if kind == "fifo":
        os.mkfifo(victim)
    elif kind == "symlink":
        victim.symlink_to(outside)
    else:
        victim.mkdir()
    problem = _problems(backup.path)["state.zip"]
    expected = {"fifo": "a special file", "symlink": "a symbolic link", "folder": "a folder"}
    assert problem == f"state.zip: not a regular file but {expected[kind]}" + (
        " (FIFO, device or socket)" if kind == "fifo" else ""
    )


def test_verify_when_listed_file_behind_linked_folder_then_refused(
    backup: BackupResult, tmp_path: Path
) -> None:
    """A folder of the backup replaced by a link is not followed."""
    real = tmp_path / "elsewhere"
    (backup.path / "params").rename(real)
    (backup.path / "params").symlink_to(real)
    assert "cannot be opened" in _problems(backup.path)["params/ma_crossover.json"]


@pytest.mark.parametrize("kind", ["fifo", "symlink", "huge", "folder"])
def test_manifest_when_not_a_small_regular_file_then_refused(
    backup: BackupResult, tmp_path: Path, kind: str
) -> None:
    """manifest.json as a FIFO, a link, a folder or a (sparse) giant is refused unread."""
    manifest = backup.path / "manifest.json"
    copy = tmp_path / "manifest.json"
    copy.write_bytes(manifest.read_bytes())
    manifest.unlink()
    if kind == "fifo":
        os.mkfifo(manifest)
    elif kind == "symlink":
        manifest.symlink_to(copy)
    elif kind == "folder":
        manifest.mkdir()
    else:
        with manifest.open("wb") as handle:
            handle.truncate(MAX_MANIFEST_BYTES + 1)
    expected = {
        "fifo": "not a regular file but a special file",
        "symlink": "not a regular file but a symbolic link",
        "folder": "not a regular file but a folder",
        "huge": f"is {MAX_MANIFEST_BYTES + 1} bytes; a manifest is at most",
    }[kind]
    with BackupFolder(backup.path) as folder, pytest.raises(BackupError, match=expected):
        folder.manifest()


def test_manifest_when_missing_then_not_a_backup(tmp_path: Path) -> None:
    """A folder without a manifest is not a backup."""
    with (
        BackupFolder(tmp_path) as folder,
        pytest.raises(BackupError, match=r"has no manifest\.json"),
    ):
        folder.manifest()


def test_open_when_backup_folder_is_a_file_then_refused(tmp_path: Path) -> None:
    """A file given as the backup folder is named."""
    (tmp_path / "f").write_text("x")
    with pytest.raises(BackupError, match="cannot be opened: Not a directory"):
        BackupFolder(tmp_path / "f")

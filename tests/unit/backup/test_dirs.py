"""Destination folders are opened without following links, and stay pinned once opened."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from app.backup.dirs import Folders, new_file, rename_at
from app.backup.layout import Place
from app.errors import BackupError


@pytest.mark.parametrize("depth", [0, 1, 2])
def test_open_when_any_folder_on_the_way_is_a_link_then_refused(tmp_path: Path, depth: int) -> None:
    """user_data itself, a component folder or a subfolder: a link anywhere is refused."""
    outside = tmp_path / "outside"
    outside.mkdir()
    parts = ("user_data", "backtest_results", "sub")
    real = tmp_path.joinpath(*parts[:depth])
    real.mkdir(parents=True, exist_ok=True)
    (real / parts[depth]).symlink_to(outside, target_is_directory=True)
    with Folders() as folders, pytest.raises(BackupError, match="through the symbolic link"):
        folders.open(Place(tmp_path, parts), create=True)
    assert list(outside.iterdir()) == []


def test_open_when_a_file_is_on_the_way_then_refused(tmp_path: Path) -> None:
    """A file where a folder should be is named."""
    (tmp_path / "user_data").mkdir()
    (tmp_path / "user_data" / "logs").write_text("")
    with Folders() as folders, pytest.raises(BackupError, match="it is a file, not a folder"):
        folders.open(Place(tmp_path, ("user_data", "logs", "x")), create=True)


def test_open_when_folder_swapped_for_link_after_open_then_write_stays_and_reverify_refuses(
    tmp_path: Path,
) -> None:
    """A link swapped in after the check cannot redirect a write, and is caught before the swap."""
    outside = tmp_path / "outside"
    outside.mkdir()
    place = Place(tmp_path, ("user_data", "backtest_results"))
    with Folders() as folders:
        fd = folders.open(place, create=True)
        assert fd is not None
        moved = tmp_path / "moved"
        place.path.rename(moved)
        place.path.symlink_to(outside, target_is_directory=True)  # the attacker's swap

        os.close(new_file(fd, ".x.restore-t"))
        rename_at(fd, ".x.restore-t", "x.json")

        with pytest.raises(BackupError, match="was moved or replaced during the restore"):
            folders.reverify()
    assert list(outside.iterdir()) == []
    assert [p.name for p in moved.iterdir()] == ["x.json"]


def test_remove_created_when_failed_then_only_new_empty_folders_removed(tmp_path: Path) -> None:
    """Folders the restore made go again; folders that were there stay."""
    (tmp_path / "user_data").mkdir()
    with Folders() as folders:
        folders.open(Place(tmp_path, ("user_data", "logs", "incidents")), create=True)
        assert (tmp_path / "user_data" / "logs" / "incidents").is_dir()
        folders.remove_created()
    assert [p.name for p in tmp_path.iterdir()] == ["user_data"]
    assert list((tmp_path / "user_data").iterdir()) == []

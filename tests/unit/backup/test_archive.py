"""Zip archives: what goes in, and which members a restore refuses."""

from __future__ import annotations

import stat
import warnings
import zipfile
from pathlib import Path

import pytest

from app.backup.archive import safe_members, zip_folder
from app.errors import BackupError


def _zip(path: Path, members: list[tuple[str, int]]) -> Path:
    """A zip whose members have the given names and Unix modes (0 = no mode)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about the duplicate-name case
        with zipfile.ZipFile(path, "w") as archive:
            for name, mode in members:
                info = zipfile.ZipInfo(name)
                info.external_attr = mode << 16
                archive.writestr(info, "payload")
    return path


def test_zip_folder_when_symlink_and_excluded_dir_then_skipped_and_noted(tmp_path: Path) -> None:
    """Symbolic links are never followed into the archive; excluded top folders stay out."""
    folder = tmp_path / "state"
    (folder / "running").mkdir(parents=True)
    (folder / "sub").mkdir()
    (folder / "circuit_breaker.json").write_text("{}")
    (folder / "sub" / "x.txt").write_text("x")
    (folder / "running" / "slot.lock").write_text("1")
    (tmp_path / "secret").write_text("do not take")
    (folder / "link").symlink_to(tmp_path / "secret")

    notes = zip_folder(folder, tmp_path / "state.zip", exclude_top=("running",))

    with zipfile.ZipFile(tmp_path / "state.zip") as archive:
        assert sorted(archive.namelist()) == ["circuit_breaker.json", "sub/x.txt"]
    assert notes == [f"skipped symbolic link {folder / 'link'}"]


def test_zip_folder_when_already_compressed_then_stored(tmp_path: Path) -> None:
    """Result .zip files are stored, text is deflated."""
    folder = tmp_path / "results"
    folder.mkdir()
    (folder / "r.zip").write_bytes(b"PK" + bytes(1000))
    (folder / "r.json").write_text("{}" * 500)
    zip_folder(folder, tmp_path / "out.zip")
    with zipfile.ZipFile(tmp_path / "out.zip") as archive:
        kinds = {i.filename: i.compress_type for i in archive.infolist()}
    assert kinds == {"r.json": zipfile.ZIP_DEFLATED, "r.zip": zipfile.ZIP_STORED}


def test_safe_members_when_regular_files_and_dirs_then_files_listed(tmp_path: Path) -> None:
    """Regular files (with or without a Unix mode) are accepted; folder entries skipped."""
    archive = _zip(
        tmp_path / "ok.zip",
        [("a.txt", 0), ("dir/", stat.S_IFDIR | 0o755), ("dir/b.txt", stat.S_IFREG | 0o644)],
    )
    assert [m.path.as_posix() for m in safe_members(archive)] == ["a.txt", "dir/b.txt"]


@pytest.mark.parametrize(
    ("name", "mode", "message"),
    [
        ("../evil.txt", 0, "escapes its folder"),
        ("a/../../evil.txt", 0, "escapes its folder"),
        ("/etc/evil.txt", 0, "escapes its folder"),
        ("C:/evil.txt", 0, "escapes its folder"),
        ("..\\evil.txt", 0, "is not a relative path"),
        ("link", stat.S_IFLNK | 0o777, "is a symbolic link"),
        ("dev", stat.S_IFCHR | 0o600, "is a special file"),
        ("fifo", stat.S_IFIFO | 0o600, "is a special file"),
    ],
)
def test_safe_members_when_member_unsafe_then_archive_refused(
    tmp_path: Path, name: str, mode: int, message: str
) -> None:
    """Zip slip, absolute paths, drive letters, links and devices refuse the whole archive."""
    archive = _zip(tmp_path / "bad.zip", [("fine.txt", 0), (name, mode)])
    with pytest.raises(BackupError, match=message):
        safe_members(archive)


def test_safe_members_when_name_repeated_then_refused(tmp_path: Path) -> None:
    """A member listed twice (the second would silently win) refuses the archive."""
    archive = _zip(tmp_path / "dup.zip", [("a.txt", 0), ("a.txt", 0)])
    with pytest.raises(BackupError, match="appears twice"):
        safe_members(archive)


def test_safe_members_when_not_a_zip_then_refused(tmp_path: Path) -> None:
    """A file that is not a zip archive is named in the error."""
    path = tmp_path / "logs.zip"
    path.write_bytes(b"not a zip at all")
    with pytest.raises(BackupError, match="is not a readable zip archive"):
        safe_members(path)

"""Zip archives: what goes in, and which members (and archives) a restore refuses."""

from __future__ import annotations

import os
import stat
import struct
import warnings
import zipfile
from pathlib import Path

import pytest

from app.backup.archive import MAX_RATIO, safe_members, zip_folder
from app.backup.scrub import Scrubber
from app.errors import BackupError
from app.redaction import Redactor

NO_SECRETS = Redactor()


def _zip(path: Path, members: list[tuple[str, int]], content: bytes = b"payload") -> Path:
    """A zip whose members have the given names and Unix modes (0 = no mode)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about the duplicate-name case
        with zipfile.ZipFile(path, "w") as archive:
            for name, mode in members:
                info = zipfile.ZipInfo(name)
                info.external_attr = mode << 16
                archive.writestr(info, content)
    return path


def _members(path: Path, component: str = "logs") -> list[str]:
    with zipfile.ZipFile(path) as archive:
        return ["/".join(m.parts) for m in safe_members(archive, path.name, component)]


def test_zip_folder_when_links_foreign_files_and_slots_then_left_out_and_noted(
    tmp_path: Path,
) -> None:
    """Links are never followed; slot locks, code and lock files stay out, each noted."""
    folder = tmp_path / "state"
    (folder / "running").mkdir(parents=True)
    (folder / "sub").mkdir()
    (folder / "circuit_breaker.json").write_text("{}")
    (folder / "circuit_breaker.json.lock").write_text("")
    (folder / "sub" / "x.json").write_text("{}")
    (folder / "evil.py").write_text("import os")
    (folder / "running" / "slot.lock").write_text("1")
    (tmp_path / "secret").write_text("do not take")
    (folder / "link.json").symlink_to(tmp_path / "secret")

    notes = zip_folder(
        folder, tmp_path / "state.zip", "state", Scrubber(NO_SECRETS), exclude_top=("running",)
    )

    with zipfile.ZipFile(tmp_path / "state.zip") as archive:
        assert sorted(archive.namelist()) == ["circuit_breaker.json", "sub/x.json"]
    assert notes == [
        f"state: skipped symbolic link {folder / 'link.json'}",
        (
            f"state: left out {folder / 'circuit_breaker.json.lock'} and 1 more like it: it is "
            "not one of the state part's files: state files (.json, .jsonl)"
        ),
    ]


def test_zip_folder_when_fifo_then_skipped_without_blocking(tmp_path: Path) -> None:
    """A FIFO named like a log is never opened (it would block the backup)."""
    folder = tmp_path / "logs"
    folder.mkdir()
    os.mkfifo(folder / "stuck.log")
    notes = zip_folder(folder, tmp_path / "logs.zip", "logs", Scrubber(NO_SECRETS))
    assert notes == [f"logs: skipped special or vanished file {folder / 'stuck.log'}"]


def test_zip_folder_when_already_compressed_then_stored(tmp_path: Path) -> None:
    """Result .zip files are stored, text is deflated."""
    folder = tmp_path / "results"
    folder.mkdir()
    _zip(folder / "r.zip", [("r.json", 0)])
    (folder / "r.json").write_text("{}" * 500)
    zip_folder(folder, tmp_path / "out.zip", "backtests", Scrubber(NO_SECRETS))
    with zipfile.ZipFile(tmp_path / "out.zip") as archive:
        kinds = {i.filename: i.compress_type for i in archive.infolist()}
    assert kinds == {"r.json": zipfile.ZIP_DEFLATED, "r.zip": zipfile.ZIP_STORED}


def test_safe_members_when_regular_files_and_dirs_then_files_listed(tmp_path: Path) -> None:
    """Regular files (with or without a Unix mode) are accepted; folder entries skipped."""
    archive = _zip(
        tmp_path / "ok.zip",
        [("a.log", 0), ("dir/", stat.S_IFDIR | 0o755), ("dir/b.log", stat.S_IFREG | 0o644)],
    )
    assert _members(archive) == ["a.log", "dir/b.log"]


@pytest.mark.parametrize(
    ("name", "mode", "message"),
    [
        ("../evil.log", 0, "escapes its folder"),
        ("a/../../evil.log", 0, "escapes its folder"),
        ("/etc/evil.log", 0, "escapes its folder"),
        ("C:/evil.log", 0, "only A-Z a-z 0-9"),
        ("..\\evil.log", 0, "only A-Z a-z 0-9"),
        (".", 0, "not a relative path in normal form"),
        ("./", stat.S_IFDIR | 0o755, "not a relative path in normal form"),
        ("./x.log", 0, "not a relative path in normal form"),
        ("a//x.log", 0, "not a relative path in normal form"),
        ("", 0, "is empty"),
        ("new\nline.log", 0, "only A-Z a-z 0-9"),
        ("x" * 300 + ".log", 0, "longer than 255"),
        ("sitecustomize.py", 0, "is not one of the logs part's files"),
        (".bashrc", 0, "is not one of the logs part's files"),
        ("link.log", stat.S_IFLNK | 0o777, "is a symbolic link"),
        ("dev.log", stat.S_IFCHR | 0o600, "is a special file"),
        ("fifo.log", stat.S_IFIFO | 0o600, "is a special file"),
    ],
)
def test_safe_members_when_member_unsafe_then_archive_refused(
    tmp_path: Path, name: str, mode: int, message: str
) -> None:
    """Zip slip, odd names, foreign file types, links and devices refuse the whole archive."""
    archive = _zip(tmp_path / "bad.zip", [("fine.log", 0), (name, mode)])
    with pytest.raises(BackupError, match=message):
        _members(archive)


def test_safe_members_when_name_has_nul_then_refused(tmp_path: Path) -> None:
    """zipfile cuts a name at NUL ('evil.log\\0.py' would read as 'evil.log'): refused."""
    path = _zip(tmp_path / "nul.zip", [("evil.logX.py", 0)])
    path.write_bytes(path.read_bytes().replace(b"evil.logX.py", b"evil.log\0.py"))
    with pytest.raises(BackupError, match="has a NUL in its name"):
        _members(path)


@pytest.mark.parametrize("second", ["a.log", "A.log"])
def test_safe_members_when_name_repeated_then_refused(tmp_path: Path, second: str) -> None:
    """A member listed twice, also differing only by case, refuses the archive."""
    archive = _zip(tmp_path / "dup.zip", [("a.log", 0), (second, 0)])
    with pytest.raises(BackupError, match="appears twice"):
        _members(archive)


def _patch_central(path: Path, field_offset: int, fmt: str, value: int) -> None:
    """Overwrite one field of the (single) central directory header."""
    data = bytearray(path.read_bytes())
    start = data.rfind(b"PK\x01\x02")
    struct.pack_into(fmt, data, start + field_offset, value)
    path.write_bytes(bytes(data))


def test_safe_members_when_declared_size_beyond_deflate_then_bomb_refused(tmp_path: Path) -> None:
    """A header claiming more than deflate can produce (a bomb or a forgery) is refused."""
    path = tmp_path / "bomb.zip"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("big.log", b"\0" * 100_000)
    with zipfile.ZipFile(path) as archive:
        compressed = archive.infolist()[0].compress_size
    _patch_central(path, 24, "<I", compressed * MAX_RATIO + (1 << 17))  # uncompressed size
    with pytest.raises(BackupError, match="a zip bomb or a forged header"):
        _members(path)


def test_safe_members_when_members_overlap_then_refused(tmp_path: Path) -> None:
    """Two entries pointing at the same data (the non-recursive bomb trick) are refused."""
    path = _zip(tmp_path / "overlap.zip", [("a.log", 0), ("b.log", 0)])
    data = bytearray(path.read_bytes())
    second = data.rfind(b"PK\x01\x02")
    struct.pack_into("<I", data, second + 42, 0)  # b.log's local header offset -> a.log's
    path.write_bytes(bytes(data))
    with pytest.raises(BackupError, match="overlaps another"):
        _members(path)


@pytest.mark.parametrize(
    ("field_offset", "fmt", "value", "message"),
    [
        (8, "<H", 0x1, "is encrypted"),
        (10, "<H", zipfile.ZIP_BZIP2, "uses compression method 12"),
    ],
)
def test_safe_members_when_encrypted_or_exotic_then_refused(
    tmp_path: Path, field_offset: int, fmt: str, value: int, message: str
) -> None:
    """Only plain stored or deflated members are restored."""
    path = _zip(tmp_path / "odd.zip", [("a.log", 0)])
    _patch_central(path, field_offset, fmt, value)
    with pytest.raises(BackupError, match=message):
        _members(path)


def test_safe_members_when_archive_empty_then_no_members(tmp_path: Path) -> None:
    """An archive without members is valid and restores nothing (no crash on the bounds)."""
    path = tmp_path / "empty.zip"
    zipfile.ZipFile(path, "w").close()
    assert _members(path) == []

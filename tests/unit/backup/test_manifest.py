"""The backup manifest: path safety, validation and checksum verification."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.backup.create import create_backup
from app.backup.layout import BackupPaths
from app.backup.manifest import load_manifest, safe_relative, verify_files
from app.errors import BackupError


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "is not a relative path"),
        ("/abs/file", "escapes its folder"),
        ("a/../../b", "escapes its folder"),
        ("..", "escapes its folder"),
        ("C:/x", "escapes its folder"),
        ("a\\b", "is not a relative path"),
        ("a\x00b", "is not a relative path"),
        (None, "is not a relative path"),
    ],
)
def test_safe_relative_when_path_unsafe_then_refused(text: object, message: str) -> None:
    """Anything but a plain relative path is refused."""
    with pytest.raises(BackupError, match=message):
        safe_relative(text, "path")


def test_safe_relative_when_nested_relative_then_accepted() -> None:
    """Plain nested relative paths pass unchanged."""
    assert safe_relative("trades/live/tradesv3.live.sqlite", "p").parts == (
        "trades",
        "live",
        "tradesv3.live.sqlite",
    )


def test_load_manifest_when_backup_made_then_every_file_described(
    source_paths: BackupPaths, tmp_path: Path
) -> None:
    """The manifest lists each file with size, sha256, component and the tool versions."""
    result = create_backup(source_paths, out_dir=tmp_path / "out", include_logs=True)
    manifest = load_manifest(result.path)
    listed = {e.path for e in manifest.entries}
    on_disk = {
        p.relative_to(result.path).as_posix()
        for p in result.path.rglob("*")
        if p.is_file() and p.name != "manifest.json"
    }
    assert listed == on_disk
    assert set(manifest.versions) == {"tradingbot", "freqtrade", "python", "sqlite"}
    assert manifest.created_utc.endswith("Z")
    assert verify_files(result.path, manifest) == []


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "is unreadable"),
        ('{"format": "other"}', "is not a tradingbot backup manifest"),
        ('{"format": "tradingbot-backup", "format_version": 9}', "has format_version 9"),
        ('{"format": "tradingbot-backup", "format_version": 1}', "has no file list"),
    ],
)
def test_load_manifest_when_document_invalid_then_refused(
    tmp_path: Path, content: str, message: str
) -> None:
    """A damaged or foreign manifest is refused with the reason."""
    (tmp_path / "manifest.json").write_text(content)
    with pytest.raises(BackupError, match=message):
        load_manifest(tmp_path)


def test_load_manifest_when_entry_path_escapes_then_refused(tmp_path: Path) -> None:
    """A manifest pointing outside the backup folder is not trusted."""
    entry = {
        "path": "../../etc/passwd",
        "component": "params",
        "kind": "file",
        "target": "x.json",
        "size": 1,
        "sha256": "0" * 64,
    }
    document = {"format": "tradingbot-backup", "format_version": 1, "files": [entry]}
    (tmp_path / "manifest.json").write_text(json.dumps(document))
    with pytest.raises(BackupError, match="escapes its folder"):
        load_manifest(tmp_path)


def test_verify_files_when_truncated_corrupted_missing_then_each_reported(
    source_paths: BackupPaths, tmp_path: Path
) -> None:
    """Every damaged file is named with what is wrong with it."""
    result = create_backup(source_paths, out_dir=tmp_path / "out")
    backup = result.path
    truncated = backup / "hyperopt_results.zip"
    truncated.write_bytes(truncated.read_bytes()[:-10])
    corrupted = backup / "trades" / "tradesv3.dryrun.sqlite"
    data = bytearray(corrupted.read_bytes())
    data[200] ^= 0xFF
    corrupted.write_bytes(bytes(data))
    (backup / "params" / "ma_crossover.json").unlink()

    problems = verify_files(backup, load_manifest(backup))

    assert any(p.startswith("hyperopt_results.zip:") and "truncated" in p for p in problems)
    assert "trades/tradesv3.dryrun.sqlite: sha256 differs from the manifest (corrupted)" in problems
    assert "params/ma_crossover.json: missing" in problems
    assert len(problems) == 3

"""The backup manifest: every field checked, every fault named, nothing else raised."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from app.backup.create import create_backup
from app.backup.layout import BackupPaths
from app.backup.manifest import Manifest, parse_manifest
from app.errors import BackupError

GOOD_ENTRY: dict[str, Any] = {
    "path": "params/MaCrossoverStrategy.json",
    "component": "params",
    "kind": "file",
    "target": "MaCrossoverStrategy.json",
    "size": 2,
    "sha256": "0" * 64,
}


def _document(**changes: Any) -> dict[str, Any]:
    document = {
        "format": "tradingbot-backup",
        "format_version": 1,
        "created_utc": "2026-11-21T10:15:00Z",
        "files": [GOOD_ENTRY],
    }
    document.update(changes)
    return document


def _parse(document: object) -> Manifest:
    return parse_manifest(json.dumps(document).encode(), "manifest.json")


def test_parse_when_backup_made_then_every_file_described(
    source_paths: BackupPaths, tmp_path: Path
) -> None:
    """A real manifest parses back: files, versions, created time, redacted parts."""
    result = create_backup(source_paths, out_dir=tmp_path / "out", include_logs=True)
    manifest = parse_manifest((result.path / "manifest.json").read_bytes(), "m")
    listed = {e.path for e in manifest.entries}
    on_disk = {
        p.relative_to(result.path).as_posix()
        for p in result.path.rglob("*")
        if p.is_file() and p.name != "manifest.json"
    }
    assert listed == on_disk
    assert set(manifest.versions) == {"tradingbot", "freqtrade", "python", "sqlite"}
    assert manifest.created_utc.endswith("Z")
    assert manifest.redacted == manifest.components
    assert manifest == result.manifest


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ([], "is not a tradingbot backup manifest"),
        ("text", "is not a tradingbot backup manifest"),
        ({"format": "other"}, "is not a tradingbot backup manifest"),
        (_document(format_version=9), "has format_version 9"),
        (_document(format_version=True), "has format_version True"),
        (_document(format_version=1.0), "has format_version 1.0"),
        (_document(format_version="1"), "has format_version '1'"),
        (_document(created_utc=5), "has created_utc 5"),
        (_document(created_utc="yesterday\n"), "has created_utc 'yesterday"),
        (_document(files=None), "has no file list"),
        (_document(files={"a": GOOD_ENTRY}), "has no file list"),
        (_document(files="params/x.json"), "has no file list"),
        (_document(files=[5]), "entry #1 is 5, not an object"),
        (_document(files=[[GOOD_ENTRY]]), "entry #1 is .*, not an object"),
        (_document(versions="3.11"), "has versions '3.11'; expected a dict of strings"),
        (_document(versions={"python": 3}), "expected a dict of strings"),
        (_document(notes="a note"), "has notes 'a note'; expected a list of strings"),
        (_document(notes=[{"x": 1}]), "expected a list of strings"),
        (_document(source=[]), "expected a dict of strings"),
        (_document(redacted=[1]), "expected a list of strings"),
    ],
)
def test_parse_when_document_malformed_then_named(document: object, message: str) -> None:
    """Wrong JSON types anywhere in the document are refused with the field's name."""
    with pytest.raises(BackupError, match=message):
        _parse(document)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"size": "2"}, "has size '2', of the wrong JSON type"),
        ({"size": 2.0}, "has size 2.0, of the wrong JSON type"),
        ({"size": True}, "has size True, of the wrong JSON type"),
        ({"size": -1}, "has size -1; a size is 0 to"),
        ({"size": 10**30}, "has size 1000000000000000000000000000000; a size is 0 to"),
        ({"size": None}, "has size None, of the wrong JSON type"),
        ({"sha256": "Z" * 64}, "expected 64 lowercase hex digits"),
        ({"sha256": "0" * 63}, "expected 64 lowercase hex digits"),
        ({"sha256": ["0" * 64]}, "has sha256 .*, of the wrong JSON type"),
        ({"component": "everything"}, "has unknown component 'everything'"),
        ({"component": ["params"]}, "has component .*, of the wrong JSON type"),
        ({"kind": "zip"}, r"\(params\) has kind 'zip'; expected 'file'"),
        ({"target": {"a": "b"}}, "has target .*, of the wrong JSON type"),
        ({"target": "../x.json"}, "contains '..'"),
        ({"target": "."}, "not a relative path in normal form"),
        ({"target": ""}, "target is empty"),
        ({"target": "./A.json"}, "not a relative path in normal form"),
        ({"target": "Caf\u00e9.json"}, "only A-Z a-z 0-9"),
        ({"target": "A\nB.json"}, "only A-Z a-z 0-9"),
        ({"target": ["A.json"]}, "has target .*, of the wrong JSON type"),
        ({"target": "Evil.py", "path": "params/Evil.py"}, "is not one of the params part's files"),
        (
            {"path": "params/Other.json"},
            "params files are kept at 'params/MaCrossoverStrategy.json'",
        ),
        ({"path": "../../etc/passwd"}, "params files are kept at"),
        ({"integrity": 1}, "has integrity 1, of the wrong JSON type"),
    ],
)
def test_parse_when_entry_field_wrong_then_named(change: dict[str, Any], message: str) -> None:
    """Each entry field is type-checked and must say what the layout expects."""
    with pytest.raises(BackupError, match=message):
        _parse(_document(files=[{**GOOD_ENTRY, **change}]))


@pytest.mark.parametrize("missing", ["path", "component", "kind", "target", "size", "sha256"])
def test_parse_when_entry_field_missing_then_named(missing: str) -> None:
    """A missing field is named."""
    entry = {k: v for k, v in GOOD_ENTRY.items() if k != missing}
    with pytest.raises(BackupError, match=f"entry #1 lacks '{missing}'"):
        _parse(_document(files=[entry]))


def test_parse_when_targets_differ_only_by_case_then_refused() -> None:
    """Two targets that collide on a case-insensitive filesystem are refused."""
    other = {**GOOD_ENTRY, "path": "params/MACROSSOVERSTRATEGY.json"}
    other["target"] = "MACROSSOVERSTRATEGY.json"
    with pytest.raises(BackupError, match="the same file twice"):
        _parse(_document(files=[GOOD_ENTRY, other]))


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"[" * 100_000 + b"]" * 100_000, r"is not valid JSON \(nested too deeply\)"),
        (b'{"format": 1' + b"9" * 5000 + b"}", "is not valid JSON"),
        (b"\xff\xfe{}", "is not valid JSON"),
        (b"", "is not valid JSON"),
        (b"{not json", "is not valid JSON"),
    ],
)
def test_parse_when_bytes_not_json_then_refused(data: bytes, message: str) -> None:
    """Deep nesting, giant numbers, bad UTF-8 and garbage give a BackupError, not a crash."""
    with pytest.raises(BackupError, match=message):
        parse_manifest(data, "manifest.json")

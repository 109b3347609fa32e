"""Fixtures for backup and restore tests: a populated user_data folder, its paths, a backup.

The tree and its backup are made once per session and copied for each test (copying is
~100x cheaper than creating a registry and backing it up).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from app.backup.create import BackupResult, create_backup
from app.backup.layout import BackupPaths
from app.backup.manifest import parse_manifest
from tests.unit.backup.builders import make_user_data, paths_for


@pytest.fixture(scope="session")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A populated user_data folder and a backup of it (with logs); never modified."""
    root = tmp_path_factory.mktemp("pristine")
    user_data = make_user_data(root / "source")
    result = create_backup(paths_for(user_data), out_dir=root / "backups", include_logs=True)
    return user_data, result.path


@pytest.fixture
def user_data(tmp_path: Path, pristine: tuple[Path, Path]) -> Path:
    """A populated user_data folder of this test's own."""
    copy = tmp_path / "source" / "user_data"
    shutil.copytree(pristine[0], copy, symlinks=True)
    return copy


@pytest.fixture
def source_paths(user_data: Path) -> BackupPaths:
    """BackupPaths of the populated user_data."""
    return paths_for(user_data)


@pytest.fixture
def backup(tmp_path: Path, pristine: tuple[Path, Path]) -> BackupResult:
    """A complete backup (with logs) of the populated user_data, this test's own copy."""
    copy = tmp_path / "backups" / pristine[1].name
    shutil.copytree(pristine[1], copy, symlinks=True)
    return BackupResult(copy, parse_manifest((copy / "manifest.json").read_bytes(), "manifest"))


@pytest.fixture
def target(tmp_path: Path) -> BackupPaths:
    """An empty user_data to restore into."""
    (tmp_path / "target" / "user_data").mkdir(parents=True)
    return paths_for(tmp_path / "target" / "user_data")

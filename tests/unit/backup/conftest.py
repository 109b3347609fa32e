"""Fixtures for backup and restore tests: a populated user_data folder and its paths."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.backup.layout import BackupPaths
from tests.unit.backup.builders import make_user_data, paths_for


@pytest.fixture
def user_data(tmp_path: Path) -> Path:
    """A populated user_data folder."""
    return make_user_data(tmp_path / "source")


@pytest.fixture
def source_paths(user_data: Path) -> BackupPaths:
    """BackupPaths of the populated user_data."""
    return paths_for(user_data)

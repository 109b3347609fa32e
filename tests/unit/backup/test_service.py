"""Backups and restores are recorded in the registry (runs of kind other, incidents)."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.backup import service
from app.backup.layout import BackupPaths
from app.errors import BackupError
from app.registry import Registry
from tests.unit.backup.builders import paths_for


def _other_runs(paths: BackupPaths) -> list[tuple[str, str, dict[str, object]]]:
    with Registry(paths.registry_url) as registry:
        return [
            (run.status, str((run.params or {})["operation"]), run.params or {})
            for run in registry.list_runs(kind="other")
        ]


def test_backup_when_done_then_recorded_after_and_not_inside_itself(
    source_paths: BackupPaths, tmp_path: Path
) -> None:
    """The record is written after the copy: the backup's registry does not contain it."""
    result, recorded = service.backup(
        source_paths, out_dir=tmp_path / "b", correlation_id="corr-b", command=["backup"]
    )
    [(status, operation, params)] = _other_runs(source_paths)
    assert (status, operation) == ("succeeded", "backup")
    assert params["backup_dir"] == str(result.path)
    assert recorded.run_id is not None
    copy_url = f"sqlite:///{result.path / 'registry' / 'strategies_registry.sqlite'}"
    with Registry(copy_url) as registry:
        assert registry.list_runs(kind="other") == []


def test_restore_when_refused_then_blocked_run_and_incident(
    source_paths: BackupPaths, tmp_path: Path
) -> None:
    """A refused restore is recorded as blocked with a warning incident naming the reason."""
    result, _ = service.backup(source_paths, out_dir=tmp_path / "b", correlation_id="c1")
    with pytest.raises(BackupError, match="already exist"):
        service.restore(result.path, source_paths, correlation_id="corr-refused")
    with Registry(source_paths.registry_url) as registry:
        [incident] = registry.list_incidents()
        run = registry.get_run(str(incident.run_id))
    assert run is not None
    assert run.status == "blocked"
    assert incident.severity == "warning"
    assert incident.correlation_id == "corr-refused"
    assert incident.description.startswith("restore blocked: ")
    assert "already exist" in incident.description


def test_restore_when_registry_restored_then_record_lands_in_restored_registry(
    source_paths: BackupPaths, tmp_path: Path
) -> None:
    """Restoring the registry first, then recording, keeps the restore's own record."""
    result, _ = service.backup(source_paths, out_dir=tmp_path / "b", correlation_id="c1")
    target = paths_for(tmp_path / "new" / "user_data")
    target.user_data.mkdir(parents=True)
    _, recorded = service.restore(
        result.path, target, only=["registry"], correlation_id="corr-restore"
    )
    with Registry(target.registry_url) as registry:
        restore_run = registry.get_run(str(recorded.run_id))
        seeded = registry.list_runs(kind="backtest")
    assert restore_run is not None
    assert restore_run.params is not None
    assert restore_run.params["operation"] == "restore"
    assert [r.strategy for r in seeded] == ["S"]


def test_restore_when_refused_and_no_registry_then_none_created(
    source_paths: BackupPaths, tmp_path: Path
) -> None:
    """A refusal never creates a registry just to record itself."""
    result, _ = service.backup(source_paths, out_dir=tmp_path / "b", correlation_id="c1")
    result.path.joinpath("state.zip").write_bytes(b"damaged")
    target = paths_for(tmp_path / "new" / "user_data")
    target.user_data.mkdir(parents=True)
    with pytest.raises(BackupError, match="failed verification"):
        service.restore(result.path, target, correlation_id="c2")
    assert list(target.user_data.iterdir()) == []

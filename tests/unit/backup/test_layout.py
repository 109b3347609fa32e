"""Where a backup reads from: explicit settings win, everything else follows --user-data."""

from __future__ import annotations

from pathlib import Path

from app.backup.layout import BackupPaths
from app.settings import load_settings


def test_resolve_when_nothing_configured_then_all_under_user_data(tmp_path: Path) -> None:
    """Default registry and state folder move with --user-data."""
    settings = load_settings(environ={}, dotenv_path=None)
    paths = BackupPaths.resolve(tmp_path / "ud", settings)
    assert paths.registry_file == tmp_path / "ud" / "registry" / "strategies_registry.sqlite"
    assert paths.state_dir == tmp_path / "ud" / "state"


def test_resolve_when_db_path_and_state_dir_set_then_used(tmp_path: Path) -> None:
    """RISK_DB_PATH and RISK_STATE_DIR, when set, are used as they are."""
    settings = load_settings(
        environ={"RISK_DB_PATH": str(tmp_path / "r.sqlite"), "RISK_STATE_DIR": str(tmp_path / "s")},
        dotenv_path=None,
    )
    paths = BackupPaths.resolve(tmp_path / "ud", settings)
    assert paths.registry_file == tmp_path / "r.sqlite"
    assert paths.state_dir == tmp_path / "s"


def test_resolve_when_db_url_postgresql_then_no_registry_file(tmp_path: Path) -> None:
    """A PostgreSQL registry has no file to copy; its URL is shown without the password."""
    settings = load_settings(
        environ={"RISK_DB_URL": "postgresql+psycopg://bot:hunter2@db/registry"}, dotenv_path=None
    )
    paths = BackupPaths.resolve(tmp_path, settings)
    assert paths.registry_file is None
    assert "hunter2" not in paths.registry_display


def test_trade_databases_when_found_then_backups_and_links_skipped(tmp_path: Path) -> None:
    """tradesv3*.sqlite anywhere under user_data, except in backups/ and symbolic links."""
    ud = tmp_path / "ud"
    for relative in ("tradesv3.sqlite", "a/tradesv3.live.sqlite", "backups/b/tradesv3.sqlite"):
        (ud / relative).parent.mkdir(parents=True, exist_ok=True)
        (ud / relative).write_bytes(b"")
    (ud / "tradesv3.link.sqlite").symlink_to(ud / "tradesv3.sqlite")
    (ud / "other.sqlite").write_bytes(b"")
    paths = BackupPaths(ud, "sqlite:///x", ud / "state")
    assert paths.trade_databases() == [ud / "a" / "tradesv3.live.sqlite", ud / "tradesv3.sqlite"]

"""Where a backup reads from: explicit settings win, everything else follows --user-data."""

from __future__ import annotations

from pathlib import Path

from app.backup.layout import BackupPaths, Place
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


def test_resolve_when_db_path_looks_like_a_url_then_that_very_file(tmp_path: Path) -> None:
    """RISK_DB_PATH is a path: %41, ? and # name exactly that file, never a URL's parts."""
    for name in ("reg%41.sqlite", "reg?mode=ro.sqlite", "reg#x.sqlite"):
        settings = load_settings(environ={"RISK_DB_PATH": str(tmp_path / name)}, dotenv_path=None)
        assert BackupPaths.resolve(tmp_path / "ud", settings).registry_file == tmp_path / name


def test_resolve_when_db_url_postgresql_then_no_registry_file(tmp_path: Path) -> None:
    """A PostgreSQL registry has no file to copy; its URL is shown without the password."""
    settings = load_settings(
        environ={"RISK_DB_URL": "postgresql+psycopg://bot:hunter2@db/registry"}, dotenv_path=None
    )
    paths = BackupPaths.resolve(tmp_path, settings)
    assert paths.registry_file is None
    assert "hunter2" not in paths.registry_display


def test_trade_databases_when_found_then_backups_links_and_foreign_places_left_out(
    tmp_path: Path,
) -> None:
    """tradesv3*.sqlite in user_data and its own subfolders; not in backups/, not links, not
    in folders of other parts or of code (those are named in a note)."""
    ud = tmp_path / "ud"
    for relative in (
        "tradesv3.sqlite",
        "a/tradesv3.live.sqlite",
        "backups/b/tradesv3.sqlite",
        "strategies/tradesv3.sqlite",
    ):
        (ud / relative).parent.mkdir(parents=True, exist_ok=True)
        (ud / relative).write_bytes(b"")
    (ud / "tradesv3.link.sqlite").symlink_to(ud / "tradesv3.sqlite")
    (ud / "other.sqlite").write_bytes(b"")
    paths = BackupPaths(ud, "sqlite:///x", ud / "state")
    found, notes = paths.trade_databases()
    assert found == [ud / "a" / "tradesv3.live.sqlite", ud / "tradesv3.sqlite"]
    where = ud / "strategies" / "tradesv3.sqlite"
    reason = "it lies in strategies/, which is not a place for trade databases"
    assert notes == [f"trades: left out {where}: {reason}"]


def test_place_when_parts_under_user_data_then_walked_from_its_parent(tmp_path: Path) -> None:
    """Everything under user_data is reached from user_data's parent, link-checked part by
    part; an explicit state folder elsewhere from its own parent."""
    ud = tmp_path / "ud"
    paths = BackupPaths(ud, f"sqlite:///{ud / 'registry' / 'r.sqlite'}", tmp_path / "st")
    assert paths.place("backtests") == Place(tmp_path, ("ud", "backtest_results"))
    assert paths.place("trades") == Place(tmp_path, ("ud",))
    assert paths.place("registry") == Place(tmp_path, ("ud", "registry"))
    assert paths.place("state") == Place(tmp_path, ("st",))
    assert "st" not in paths.reserved_for_trades()
    inside = BackupPaths(ud, "sqlite:///x", ud / "mystate")
    assert "mystate" in inside.reserved_for_trades()

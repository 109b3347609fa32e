"""Where the registry lives: RISK_DB_PATH is a path, and a file that is not ours is refused.

Every refusal must happen before SQLite writes anything: the tests compare the file's
bytes and mtime before and after, and look for a ``-wal`` file (a WAL switch).
"""

from __future__ import annotations

import os
import sqlite3
import zipfile
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from app.errors import RegistryError
from app.registry import Registry
from app.registry.migrate import HEAD_REVISION
from app.settings import load_settings
from tests.helpers import run_cli
from tests.unit.registry.pg_server import PostgresServer

NAMES = ["reg%41.sqlite", "a?mode=ro.sqlite", "a#b.sqlite", "a b.sqlite", "ünï €.sqlite"]


def _settings_url(db_path: str) -> str:
    return load_settings({"RISK_DB_PATH": db_path}, dotenv_path=None).database_url


def _snapshot(path: Path) -> tuple[bytes, int]:
    return path.read_bytes(), path.stat().st_mtime_ns


def _assert_untouched(path: Path, before: tuple[bytes, int]) -> None:
    assert _snapshot(path) == before
    assert not Path(f"{path}-wal").exists()
    assert not Path(f"{path}-journal").exists()


@pytest.mark.parametrize("name", NAMES)
def test_db_path_when_name_has_url_characters_then_exactly_that_file(
    tmp_path: Path, name: str
) -> None:
    """%41, ?mode=ro, #, spaces and non-ASCII letters are part of the file name, not a URL."""
    with Registry(_settings_url(str(tmp_path / name))) as registry:
        run_id = registry.start_run(kind="other", correlation_id="c")
    files = {p.name for p in tmp_path.iterdir()}
    assert name in files
    assert files <= {name, f"{name}-wal", f"{name}-shm", f"{name}.migrate.lock"}
    with sqlite3.connect(tmp_path / name) as raw:
        assert raw.execute("SELECT run_id FROM runs").fetchall() == [(run_id,)]


def test_db_path_when_memory_name_then_a_file_of_that_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """RISK_DB_PATH=:memory: is a file called ':memory:', not a registry that vanishes."""
    monkeypatch.chdir(tmp_path)
    with Registry(_settings_url(":memory:")) as registry:
        registry.start_run(kind="other", correlation_id="c")
    assert (tmp_path / ":memory:").stat().st_size > 0


def test_open_when_another_applications_sqlite_then_refused_untouched(tmp_path: Path) -> None:
    """Tables but no alembic_version: refused by open and by upgrade, naming the tables."""
    db = tmp_path / "app.sqlite"
    with sqlite3.connect(db) as raw:
        raw.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)")
        raw.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY)")
        raw.execute("INSERT INTO users (name) VALUES ('ada')")
    raw.close()
    before = _snapshot(db)

    with Registry(_settings_url(str(db))) as registry:
        with pytest.raises(RegistryError) as opened:
            registry.list_runs()
        with pytest.raises(RegistryError) as upgraded:
            registry.upgrade()

    for error in (opened, upgraded):
        message = str(error.value)
        assert "is not a tradingbot registry: it has the tables orders, users" in message
        assert str(db) in message
        assert "nothing was written" in message
    _assert_untouched(db, before)


def test_open_when_other_alembic_revision_then_refused_as_not_a_registry(tmp_path: Path) -> None:
    """Another Alembic application's database is not mistaken for a newer registry."""
    db = tmp_path / "other.sqlite"
    with sqlite3.connect(db) as raw:
        raw.execute("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)")
        raw.execute("INSERT INTO alembic_version VALUES ('ae1027a6acf')")
        raw.execute("CREATE TABLE accounts (id INTEGER)")
    raw.close()
    before = _snapshot(db)

    with Registry(_settings_url(str(db))) as registry, pytest.raises(RegistryError) as error:
        registry.list_runs()

    assert "'ae1027a6acf', which no tradingbot revision has" in str(error.value)
    assert "accounts" in str(error.value)
    _assert_untouched(db, before)


def _zip_file(path: Path) -> None:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("notes.txt", "hello")


@pytest.mark.parametrize(
    ("make", "kind"),
    [
        (lambda p: p.write_text("name,value\nalpha,1\n"), "a text file"),
        (_zip_file, "a zip archive"),
        (lambda p: p.write_bytes(b"\x00\x01\x02\xff" * 64), "some other kind of file"),
        (lambda p: p.write_bytes(b"SQLite"), "a text file"),
    ],
    ids=["text", "zip", "binary", "short-header"],
)
def test_open_when_file_is_not_sqlite_then_refused_naming_what_it_is(
    tmp_path: Path, make: object, kind: str
) -> None:
    """A file without SQLite's header is named for what it is and left alone."""
    db = tmp_path / "registry.sqlite"
    make(db)  # type: ignore[operator]
    before = _snapshot(db)

    with Registry(_settings_url(str(db))) as registry, pytest.raises(RegistryError) as error:
        registry.upgrade()

    assert f"is not an SQLite database: it is {kind}" in str(error.value)
    _assert_untouched(db, before)


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    ("make", "problem"),
    [(os.mkfifo, "is a named pipe (FIFO)"), (Path.mkdir, "is a folder")],
    ids=["fifo", "folder"],
)
def test_open_when_path_is_fifo_or_folder_then_refused_without_waiting(
    tmp_path: Path, make: object, problem: str
) -> None:
    """A FIFO at the registry path would block SQLite's open; it is refused first."""
    db = tmp_path / "registry.sqlite"
    make(db)  # type: ignore[operator]
    with Registry(_settings_url(str(db))) as registry, pytest.raises(RegistryError) as error:
        registry.list_runs()
    assert f"the registry path {db} {problem}" in str(error.value)


def test_open_when_empty_file_or_empty_database_then_becomes_registry(tmp_path: Path) -> None:
    """A 0-byte file and an SQLite file without tables are new registries."""
    empty = tmp_path / "empty.sqlite"
    empty.touch()
    blank = tmp_path / "blank.sqlite"
    sqlite3.connect(blank).execute("PRAGMA user_version = 1").connection.close()
    assert blank.read_bytes().startswith(b"SQLite format 3\x00")
    for db in (empty, blank):
        with Registry(_settings_url(str(db))) as registry:
            registry.start_run(kind="other", correlation_id="c")
            assert len(registry.list_runs()) == 1


def test_open_when_registry_at_base_revision_then_upgraded(tmp_path: Path) -> None:
    """An alembic_version table with no revision (an older, empty registry) is upgraded."""
    db = tmp_path / "old.sqlite"
    with sqlite3.connect(db) as raw:
        raw.execute("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)")
    raw.close()
    with Registry(_settings_url(str(db))) as registry:
        registry.start_run(kind="other", correlation_id="c")
    with sqlite3.connect(db) as raw:
        assert raw.execute("SELECT version_num FROM alembic_version").fetchall() == [
            (HEAD_REVISION,)
        ]


def test_registry_upgrade_cli_when_foreign_sqlite_then_exit_5_and_untouched(
    tmp_path: Path,
) -> None:
    """`tradingbot registry upgrade` refuses another application's file with exit 5."""
    db = tmp_path / "shop.sqlite"
    with sqlite3.connect(db) as raw:
        raw.execute("CREATE TABLE products (id INTEGER)")
    raw.close()
    before = _snapshot(db)
    result = run_cli(["registry", "upgrade"], tmp_path, env={"RISK_DB_PATH": str(db)})
    assert result.returncode == 5, result.stderr
    assert "is not a tradingbot registry: it has the tables products" in result.stderr
    assert "Traceback" not in result.stderr
    _assert_untouched(db, before)


@pytest.mark.postgres
def test_open_when_postgres_database_of_another_application_then_refused(
    postgres_server: PostgresServer,
) -> None:
    """The same rule on PostgreSQL: a database with other tables is not made a registry."""
    url = postgres_server.new_database()
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE invoices (id integer)"))
    with Registry(url) as registry, pytest.raises(RegistryError) as error:
        registry.list_runs()
    assert "is not a tradingbot registry: it has the tables invoices" in str(error.value)
    with engine.connect() as conn:
        tables = conn.execute(text("SELECT tablename FROM pg_tables WHERE schemaname='public'"))
        assert [row[0] for row in tables] == ["invoices"]
    engine.dispose()

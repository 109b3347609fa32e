"""Secrets are masked in everything a backup copies: text, result zips, database copies."""

from __future__ import annotations

import io
import json
import sqlite3
import zipfile
from pathlib import Path

from app.backup.scrub import Scrubber, config_files, redact_json
from app.redaction import Redactor

SECRET = "Sup3rS3cretValue42"
SCRUBBER_ENV = {"FREQTRADE__API_SERVER__PASSWORD": SECRET, "TELEGRAM_CHAT_ID": "987654"}


def _scrubber() -> Scrubber:
    return Scrubber.from_sources(SCRUBBER_ENV, None, [])


def test_redact_json_when_value_inside_a_number_then_still_valid_json() -> None:
    """A secret that is also digits of a number is masked string by string, keeping JSON."""
    redact = Redactor(frozenset({"987654"})).redact
    text = json.dumps({"chat": "id 987654", "profit": 0.1987654, "nested": [{"x": "987654"}]})
    masked = json.loads(redact_json(text, redact))
    assert masked == {"chat": "id [REDACTED]", "profit": 0.1987654, "nested": [{"x": "[REDACTED]"}]}


def test_redact_json_when_plain_text_or_clean_then_masked_or_kept() -> None:
    """Text that is not JSON is masked as text; clean JSON keeps its exact bytes."""
    redact = Redactor(frozenset({SECRET})).redact
    assert redact_json(f"login with {SECRET} failed", redact) == "login with [REDACTED] failed"
    clean = '{"a":  1,\n "b": "x"}'
    assert redact_json(clean, redact) is clean


def _result_zip(config: dict[str, object]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("backtest-result-x.json", '{"strategy": {"S": {"profit": 0.1987654}}}')
        archive.writestr("backtest-result-x_config.json", json.dumps(config))
        archive.writestr("backtest-result-x_market_change.feather", b"\x00FEA1" + bytes(100))
    return buffer.getvalue()


def test_nested_zip_when_config_keeps_a_secret_then_member_masked_rest_identical() -> None:
    """Freqtrade's result zip leaves jwt_secret_key in its config copy: masked on the way."""
    data = _result_zip({"api_server": {"jwt_secret_key": "jwt-" + SECRET, "password": "REDACTED"}})
    rewritten = _scrubber().nested_zip(data)
    assert rewritten is not None
    assert SECRET.encode() not in rewritten
    with zipfile.ZipFile(io.BytesIO(rewritten)) as new, zipfile.ZipFile(io.BytesIO(data)) as old:
        config = json.loads(new.read("backtest-result-x_config.json"))
        assert config == {"api_server": {"jwt_secret_key": "[REDACTED]", "password": "REDACTED"}}
        for name in ("backtest-result-x.json", "backtest-result-x_market_change.feather"):
            assert new.read(name) == old.read(name)


def test_nested_zip_when_clean_then_same_bytes() -> None:
    """A result without secrets is stored byte for byte (Freqtrade's own masks are kept)."""
    data = _result_zip({"exchange": {"key": "", "secret": "REDACTED"}})
    assert _scrubber().nested_zip(data) is data


def _registry_like(path: Path) -> None:
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA secure_delete=OFF")  # as many SQLite builds: freed pages keep data
        conn.execute("CREATE TABLE runs (run_id TEXT PRIMARY KEY, command JSON, params JSON)")
        conn.execute(
            "CREATE TABLE incidents (incident_id TEXT PRIMARY KEY, run_id TEXT "
            "REFERENCES runs(run_id), description TEXT, created REAL)"
        )
        conn.execute(
            "INSERT INTO runs VALUES ('run_1', ?, ?)",
            (
                json.dumps(["trade", f"--password={SECRET}"]),
                json.dumps({"chat": 987654, "x": "ok"}),
            ),
        )
        conn.execute(
            "INSERT INTO incidents VALUES ('incident_1', 'run_1', ?, 1.5)",
            (f"Freqtrade said: {{'password': '{SECRET}'}} token=abcdef123",),
        )
        conn.execute("INSERT INTO incidents VALUES ('incident_2', NULL, ?, 2.5)", (SECRET * 50,))
        conn.execute("DELETE FROM incidents WHERE incident_id = 'incident_2'")
    conn.close()


def test_database_when_registry_holds_secrets_then_masked_and_no_freed_page_keeps_them(
    tmp_path: Path,
) -> None:
    """Text cells are masked, JSON cells stay JSON, keys stay, deleted rows are really gone."""
    path = tmp_path / "registry.sqlite"
    _registry_like(path)
    assert (SECRET * 3).encode() in path.read_bytes()  # the deleted row, in a freed page
    scrubber = _scrubber()

    masked = scrubber.database(path, "registry", by_context=True)

    assert masked == 2
    assert SECRET[:8].encode() not in path.read_bytes()
    assert not Path(f"{path}-wal").exists()
    with sqlite3.connect(path) as conn:
        command, params = conn.execute("SELECT command, params FROM runs").fetchone()
        [(incident_id, description)] = conn.execute(
            "SELECT incident_id, description FROM incidents"
        )
    conn.close()
    assert json.loads(command) == ["trade", "--password=[REDACTED]"]
    assert json.loads(params) == {"chat": 987654, "x": "ok"}
    assert incident_id == "incident_1"
    assert description == "Freqtrade said: {'password': '[REDACTED]'} token=[REDACTED]"
    assert scrubber.changed["registry"] == 2


def test_database_when_trades_then_known_values_only(tmp_path: Path) -> None:
    """Trade data is masked by known values only: a tag that merely looks like one stays."""
    path = tmp_path / "tradesv3.sqlite"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE trades (id INTEGER PRIMARY KEY, enter_tag TEXT, note TEXT)")
        conn.execute("INSERT INTO trades VALUES (1, 'token=abc123', ?)", (f"x {SECRET}",))
    conn.close()
    assert _scrubber().database(path, "trades", by_context=False) == 1
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT enter_tag, note FROM trades").fetchone() == (
            "token=abc123",
            "x [REDACTED]",
        )
    conn.close()


def test_from_sources_when_configs_and_dotenv_then_their_secrets_known(tmp_path: Path) -> None:
    """Config secrets (comments allowed, as Freqtrade allows) and .env secrets are learnt;
    an unreadable config is noted."""
    config = tmp_path / "config.json"
    config.write_text('{\n // comment\n "exchange": {"secret": "cfg-secret-1",},\n}')
    broken = tmp_path / "broken.json"
    broken.write_bytes(b"\xff{")
    dotenv = tmp_path / ".env"
    dotenv.write_text("BINANCE_API_SECRET=env-file-secret\nRISK_MAX=3\n")

    scrubber = Scrubber.from_sources({}, dotenv, [config, broken])

    assert scrubber.redactor.values == {"cfg-secret-1", "env-file-secret"}
    assert [n.split(" could")[0] for n in scrubber.notes] == [f"config {broken}"]


def test_config_files_when_registry_names_configs_then_included(tmp_path: Path) -> None:
    """Configs under configs/, beside user_data and those the registry's runs used."""
    user_data = tmp_path / "user_data"
    (user_data / "configs").mkdir(parents=True)
    (user_data / "configs" / "a.json").write_text("{}")
    (user_data / "config.json").write_text("{}")
    elsewhere = tmp_path / "elsewhere.json"
    elsewhere.write_text("{}")
    registry = tmp_path / "registry.sqlite"
    with sqlite3.connect(registry) as conn:
        conn.execute("CREATE TABLE runs (config_path TEXT)")
        conn.execute(
            "INSERT INTO runs VALUES (?)", (f"{user_data / 'configs' / 'a.json'},{elsewhere}",)
        )
    conn.close()
    assert config_files(user_data, registry) == [
        user_data / "configs" / "a.json",
        user_data / "config.json",
        elsewhere,
    ]

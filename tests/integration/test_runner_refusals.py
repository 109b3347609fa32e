"""Freqtrade refusing or failing is a failed run, whatever Freqtrade's exit code; and no
secret reaches the terminal, a file or the registry on the way.

Real Freqtrade, one throwaway project per case, all cases started at once (each is a few
seconds of imports). Members of the class "Freqtrade refused but exited 0":

* ``trade --dry-run`` with the API server on and no username (a password set in the
  environment, a JWT secret in a config file: Freqtrade prints both in its error);
* ``backtesting`` with a config value of the wrong type;
* ``webserver`` with no ``api_server`` section;
* ``download-data`` of a pair the exchange does not list (the runner's own offline
  pre-check is bypassed: the loopback exchange is started by the test);
* ``lookahead-analysis`` of a strategy that does not exist.

Beside them a backtest that succeeds with API credentials in the environment and a
config file: Freqtrade stores the config beside its result, which must hold no secret
either.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from app.offline_exchange.overlay import ccxt_overlay
from app.offline_exchange.server import OfflineExchange
from tests.helpers import clean_env, make_project

pytestmark = pytest.mark.freqtrade

PASSWORD = "Env-Passw0rd-4-the-API"  # test values that must never be seen
JWT = "Config-JWT-secret-0123456789-abcdef"
BACKTEST_CONFIG = "user_data/configs/config.backtest.json"
REFUSED = "Freqtrade refused to run (it exited 0): Invalid configuration. Reason: "


@dataclass
class Case:
    """One refused command and what it left behind."""

    project: Path
    proc: subprocess.Popen[str]
    stdout: str = ""
    stderr: str = ""


def _write(project: Path, name: str, content: dict[str, object]) -> str:
    path = project / name
    path.write_text(json.dumps(content))
    return str(path)


def _start(project: Path, args: list[str], env: dict[str, str] | None = None) -> Case:
    proc = subprocess.Popen(
        [sys.executable, "-m", "app", "freqtrade", *args],
        cwd=project,
        env=clean_env(env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    return Case(project, proc)


def _runs(project: Path) -> list[tuple[str, int, str]]:
    db = project / "user_data" / "registry" / "strategies_registry.sqlite"
    with sqlite3.connect(db) as conn:
        return conn.execute("select status, exit_code, end_reason from runs").fetchall()


def _incidents(project: Path) -> list[tuple[str, str]]:
    db = project / "user_data" / "registry" / "strategies_registry.sqlite"
    with sqlite3.connect(db) as conn:
        return conn.execute("select severity, description from incidents").fetchall()


@pytest.fixture(scope="module")
def cases(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Case]]:
    """Start every case at once; wait for all of them."""
    root = tmp_path_factory.mktemp("refusals")
    projects = {name: make_project(root / name) for name in
                ("api", "bad_value", "webserver", "download", "analysis", "backtest")}  # fmt: skip
    api = projects["api"]
    api_config = _write(api, "btc.json", {
        "stake_currency": "BTC", "stake_amount": 0.05, "dry_run_wallet": 1,
        "exchange": {"pair_whitelist": ["ETH/BTC"]},
        "api_server": {"enabled": True, "jwt_secret_key": JWT},
    })  # fmt: skip
    bad = _write(projects["bad_value"], "bad.json", {"max_open_trades": "lots"})
    api_off = _write(projects["backtest"], "api.json", {"api_server": {
        "enabled": False, "listen_ip_address": "127.0.0.1", "listen_port": 8080,
        "username": "backtest-user", "jwt_secret_key": JWT,
    }})  # fmt: skip
    with OfflineExchange(shared_data) as exchange:
        overlay = _write(projects["download"], "exchange.json", ccxt_overlay(exchange.url))
        started = {
            "api": _start(
                api,
                ["--offline", "--offline-datadir", str(shared_data), "trade", "--dry-run",
                 "-c", "user_data/configs/config.testnet.json", "-c", api_config,
                 "--strategy", "MaCrossoverStrategy"],
                {"FREQTRADE__API_SERVER__PASSWORD": PASSWORD},
            ),
            "bad_value": _start(
                projects["bad_value"],
                ["backtesting", "-c", BACKTEST_CONFIG, "-c", bad, "--strategy",
                 "MaCrossoverStrategy", "--datadir", str(shared_data)],
            ),
            "webserver": _start(projects["webserver"], ["webserver", "-c", BACKTEST_CONFIG]),
            "download": _start(
                projects["download"],
                ["download-data", "-c", BACKTEST_CONFIG, "-c", overlay, "--datadir",
                 str(projects["download"] / "candles"), "--pairs", "FOO/BTC",
                 "--timeframes", "5m", "--timerange", "20180110-20180111"],
            ),
            "backtest": _start(
                projects["backtest"],
                ["--offline", "backtesting", "-c", BACKTEST_CONFIG, "-c", api_off,
                 "--strategy", "MaCrossoverStrategy", "--datadir", str(shared_data),
                 "--pairs", "ETH/BTC", "--timerange", "20180110-20180115"],
                {"FREQTRADE__API_SERVER__PASSWORD": PASSWORD},
            ),
            "analysis": _start(
                projects["analysis"],
                ["lookahead-analysis", "-c", BACKTEST_CONFIG, "--strategy", "NoSuchStrategy",
                 "--datadir", str(shared_data), "--timerange", "20180110-20180120"],
            ),
        }  # fmt: skip
        for case in started.values():
            case.stdout, case.stderr = case.proc.communicate(timeout=900)
    yield started


@pytest.mark.parametrize(
    ("name", "code", "reason"),
    [
        ("api", 2, f"{REFUSED}'username' is a required property"),
        ("bad_value", 2, f"{REFUSED}'lots' is not of type 'integer'"),
        ("webserver", 2, f"{REFUSED}'api_server' is a required property"),
        ("download", 1, "exited 0 but logged an error: No pairs available for download."),
        ("analysis", 1, "exited 0 but logged an error: There were no strategies specified"),
    ],
)  # fmt: skip
def test_refused_when_freqtrade_exits_0_then_failed_with_reason_and_non_zero_exit(
    cases: dict[str, Case], name: str, code: int, reason: str
) -> None:
    """Each refusal: exit code non-zero, run failed with the first error line, an incident."""
    case = cases[name]
    [(status, exit_code, end_reason)] = _runs(case.project)
    [(severity, description)] = _incidents(case.project)

    assert case.proc.returncode == code, case.stderr[-3000:]
    assert (status, exit_code) == ("failed", code)
    assert end_reason.startswith(reason), end_reason
    assert severity == "error"
    assert reason in description
    assert f"failed: {reason}" in case.stderr
    assert '"message": "run_succeeded"' not in case.stderr


def _stored(project: Path) -> dict[str, bytes]:
    """Every file under user_data, zip archives opened member by member."""
    blobs: dict[str, bytes] = {}
    for path in (project / "user_data").rglob("*"):
        if not path.is_file():
            continue
        blobs[str(path)] = path.read_bytes()
        if path.suffix == ".zip":
            with zipfile.ZipFile(path) as archive:
                for member in archive.namelist():
                    blobs[f"{path}:{member}"] = archive.read(member)
    return blobs


@pytest.mark.parametrize("name", ["api", "backtest"])
def test_secrets_when_freqtrade_prints_or_stores_config_then_none_in_output_files_or_db(
    cases: dict[str, Case], name: str
) -> None:
    """The env password and the config's JWT secret, printed by Freqtrade in its error or
    stored with its backtest result, are in no stdout, stderr, file under user_data (logs,
    incident excerpts, result archives) or registry database."""
    case = cases[name]
    blobs = _stored(case.project)
    leaks = [p for p, blob in blobs.items() for s in (PASSWORD, JWT) if s.encode() in blob]

    assert any(p.endswith(".sqlite") for p in blobs)
    assert any("/logs/freqtrade/" in p for p in blobs)
    for secret in (PASSWORD, JWT):
        assert secret not in case.stdout + case.stderr
    assert leaks == []
    if name == "api":  # Freqtrade did print the section, masked
        assert "'password': '[REDACTED]'" in case.stderr
        assert "'jwt_secret_key': '[REDACTED]'" in case.stderr
        assert any("/logs/incidents/" in p for p in blobs)
    else:  # the run succeeded and its result archive holds the (masked) config
        assert case.proc.returncode == 0, case.stderr[-3000:]
        assert any(p.endswith("_config.json") for p in blobs)

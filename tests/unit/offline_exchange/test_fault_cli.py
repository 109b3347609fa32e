"""``tradingbot offline-exchange --faults FILE`` as a user runs it."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.helpers import clean_env, run_cli
from tests.unit.offline_exchange.candles import write_candles


@pytest.fixture
def datadir(tmp_path: Path) -> Path:
    write_candles(tmp_path / "data" / "ETH_BTC-1m.feather", 500, timeframe="1m")
    return tmp_path / "data"


@pytest.mark.parametrize(
    ("events", "mode", "message"),
    [
        ([{"at_s": 0, "for_s": 5, "fault": "http_599", "endpoint": "*"}], "replay", "http_599"),
        ([{"at_s": 0, "for_s": 5, "fault": "gap", "endpoint": "klines"}], "historic", "replay"),
    ],
)
def test_cli_when_bad_faults_then_exit_2_before_serving(
    tmp_path: Path, datadir: Path, events: list[dict[str, object]], mode: str, message: str
) -> None:
    """A bad faults file stops the command with exit 2 and the problem, serving nothing."""
    faults = tmp_path / "faults.json"
    faults.write_text(json.dumps({"events": events}))
    result = run_cli(
        ["offline-exchange", "--datadir", str(datadir), "--mode", mode, "--faults", str(faults)],
        tmp_path,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.startswith("Error: ")
    assert message in result.stderr
    assert "serving" not in result.stdout


def test_cli_when_faults_given_then_served_from_start_and_stops_on_sigterm(
    tmp_path: Path, datadir: Path
) -> None:
    """The standalone server announces its faults, answers klines with the scheduled 500 from
    its start, serves other endpoints, and exits 0 on SIGTERM."""
    faults = tmp_path / "faults.json"
    event = {"at_s": 0, "for_s": 600, "fault": "http_500", "endpoint": "klines"}
    faults.write_text(json.dumps({"events": [event]}))
    args = ["offline-exchange", "--datadir", str(datadir), "--mode", "replay", "--faults"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "app", *args, str(faults)],
        cwd=tmp_path,
        env=clean_env(),
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        lines = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not any("Ctrl-C" in x for x in lines):
            lines.append(proc.stdout.readline())
        url = next(x for x in lines if x.startswith("Offline exchange")).split(" at ")[1].split()[0]
        with pytest.raises(urllib.error.HTTPError) as caught:
            urllib.request.urlopen(f"{url}/api/v3/klines?symbol=ETHBTC&interval=1m", timeout=10)
        with urllib.request.urlopen(f"{url}/api/v3/ticker/price?symbol=ETHBTC", timeout=10) as ok:
            assert json.loads(ok.read())["symbol"] == "ETHBTC"
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=30)
    assert caught.value.code == 500
    assert "fault: http_500 on klines at 0-600 s\n" in lines
    assert code == 0

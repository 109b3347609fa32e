"""The exporter's HTTP server and CLI (app/exporter/server.py, cli.py), over real HTTP."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from app.cli import main
from app.errors import ConfigError
from app.exporter.service import build_server
from app.exporter.settings import ExporterSettings
from app.settings import load_settings
from tests.helpers import REPO_ROOT, clean_env, run_cli


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    """An exporter over an empty project in ``tmp_path`` (no registry yet), on a free port."""
    env = {"RISK_STATE_DIR": str(tmp_path / "state"), "RISK_DB_PATH": str(tmp_path / "r.sqlite")}
    risk = load_settings(env, dotenv_path=None)
    with build_server(risk, ExporterSettings(), host="127.0.0.1", port=0) as running:
        yield running.url


def _get(url: str, accept: str | None = None) -> tuple[int, str, str]:
    request = urllib.request.Request(url, headers={"Accept": accept} if accept else {})
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, answer.headers["Content-Type"], answer.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers["Content-Type"], exc.read().decode()


def test_health_when_asked_then_status_ok(server: str) -> None:
    """/health answers {"status": "ok"} as JSON."""
    status, content_type, body = _get(f"{server}/health")

    assert (status, content_type, json.loads(body)) == (200, "application/json", {"status": "ok"})


def test_metrics_when_scraped_then_prometheus_text_with_every_source(server: str) -> None:
    """/metrics parses as Prometheus text; the missing registry shows as its source down."""
    status, content_type, body = _get(f"{server}/metrics")
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(body)
        for s in family.samples
    }

    assert status == 200
    assert content_type.startswith("text/plain; version=0.0.4")
    assert samples[("tradingbot_circuit_breaker_active", ())] == 0.0
    up = {dict(labels)["source"]: v for (name, labels), v in samples.items()
          if name == "tradingbot_exporter_source_up"}  # fmt: skip
    assert up == {"breaker": 1.0, "slots": 1.0, "registry": 0.0, "guard": 1.0}


def test_metrics_when_openmetrics_accepted_then_openmetrics(server: str) -> None:
    """Prometheus asks for OpenMetrics first; it gets it, ending with # EOF."""
    status, content_type, body = _get(
        f"{server}/metrics", accept="application/openmetrics-text;version=1.0.0"
    )

    assert status == 200
    assert content_type.startswith("application/openmetrics-text")
    assert body.rstrip().endswith("# EOF")


def test_other_paths_and_methods_when_asked_then_404_and_405(server: str) -> None:
    """Unknown paths are 404; writing methods are 405."""
    assert _get(f"{server}/")[0] == 404
    request = urllib.request.Request(f"{server}/metrics", data=b"x", method="POST")
    with pytest.raises(urllib.error.HTTPError) as excinfo:
        urllib.request.urlopen(request, timeout=10)
    assert excinfo.value.code == 405


def test_server_when_port_taken_then_config_error(tmp_path: Path) -> None:
    """A taken port fails at once, naming the address and the fix."""
    risk = load_settings({"RISK_STATE_DIR": str(tmp_path)}, dotenv_path=None)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(ConfigError, match=f"cannot listen on 127.0.0.1:{port}"):
            build_server(risk, ExporterSettings(), host="127.0.0.1", port=port)


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["--host", "0.0.0.0"], {}, ("--host 0.0.0.0 is not a loopback address; the exporter "
         "binds loopback only. Pass --allow-remote")),
        (["--port", "70000"], {}, "--port 70000 is not a TCP port"),
        ([], {"EXPORTER_BOTS": "oops"}, "EXPORTER_BOTS='oops': 'oops' is not NAME=URL"),
        ([], {"RISK_CONCURRENCY_TTL_SEC": "-1"}, "RISK_CONCURRENCY_TTL_SEC='-1' is invalid"),
    ],
)  # fmt: skip
def test_cli_when_argument_or_setting_bad_then_exit_2_naming_it(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    env: dict[str, str],
    message: str,
) -> None:
    """`tradingbot exporter` refuses bad flags and settings before binding anything."""
    monkeypatch.chdir(tmp_path)
    for name in [n for n in os.environ if n.startswith(("RISK_", "EXPORTER_", "FREQTRADE__"))]:
        monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)

    code = main(["exporter", *args])

    assert code == 2
    assert message in capsys.readouterr().err


def test_cli_when_run_as_user_then_same_refusal(tmp_path: Path) -> None:
    """As a subprocess too: a non-loopback --host without --allow-remote exits 2."""
    result = run_cli(["exporter", "--host", "192.0.2.1"], tmp_path, timeout=120)

    assert result.returncode == 2, result.stderr
    assert "--host 192.0.2.1 is not a loopback address" in result.stderr


def test_script_when_started_then_serves_until_sigterm(tmp_path: Path) -> None:
    """`python scripts/exporter.py --port 0` serves /health and stops cleanly on SIGTERM."""
    proc = subprocess.Popen(
        [sys.executable, str(REPO_ROOT / "scripts" / "exporter.py"), "--port", "0"],
        cwd=tmp_path,
        env=clean_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        url = line.split()[2].removesuffix("/metrics")
        status, _, body = _get(f"{url}/health")
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)

    assert (status, json.loads(body)) == (200, {"status": "ok"})
    assert proc.returncode == 0, err
    assert "Exporter stopped." in out
    assert json.loads(err.splitlines()[0])["message"] == "exporter_started"


def test_metrics_when_scraper_timeout_header_then_answers_before_it() -> None:
    """A source slower than Prometheus's scrape timeout shows down instead of making the
    whole scrape late (which Prometheus would count as a failed scrape)."""
    from app.exporter.collector import TradingbotCollector
    from app.exporter.server import ExporterServer
    from tests.unit.exporter.test_collector import Hanging

    hanging = Hanging("slow")
    collector = TradingbotCollector([hanging], deadline_s=30)
    with ExporterServer(collector, host="127.0.0.1", port=0) as running:
        request = urllib.request.Request(
            f"{running.url}/metrics", headers={"X-Prometheus-Scrape-Timeout-Seconds": "0.75"}
        )
        started = time.monotonic()
        with urllib.request.urlopen(request, timeout=10) as answer:
            body = answer.read().decode()
        took = time.monotonic() - started
        hanging.release.set()

    assert took < 2.0
    assert 'tradingbot_exporter_source_up{source="slow"} 0.0' in body

"""End to end: a dry-run bot, the exporter, Prometheus, Alertmanager and (fake) Telegram.

All real except Telegram's cloud: a dry-run Freqtrade bot on the offline exchange with
its REST API on a free loopback port (a generated login), the exporter polling it and
reading the guard's metrics file, Debian's Prometheus 2.42 scraping the exporter every
two seconds with the real alerts.yml (its ``for:`` durations scaled down to seconds: the
promtool tests prove the real ones) and Debian's Alertmanager 0.25 with the real
template rendered by render-config.sh (group waits shortened to 1 s) sending to a local
fake of the Telegram Bot API. One stack per module; the tests run in order.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from app.exporter.server import ExporterServer
from app.exporter.service import build_server
from app.exporter.settings import load_exporter_settings
from app.registry import Registry
from app.settings import load_settings
from tests.fakes.telegram_api import FakeTelegram
from tests.helpers import REPO_ROOT, clean_env, dry_run_args, make_project

pytestmark = pytest.mark.freqtrade

PROMETHEUS = shutil.which("prometheus")
ALERTMANAGER = shutil.which("prometheus-alertmanager")
BOT = "e2e-bot"
TOKEN = "7000001:AAH-e2e_fake_token_for_tests_0000"
CHAT_ID = "-1001234"
GUARD_RULES = {  # the daily rules and the streak on (generous), so their metrics exist
    "RISK_MAX_DAILY_DRAWDOWN_PCT": "0.9",
    "RISK_DAILY_LOSS_CAP_PCT": "0.9",
    "RISK_LOSS_STREAK_MAX": "50",
}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def get_json(url: str, params: dict[str, str] | None = None) -> Any:
    query = f"?{urllib.parse.urlencode(params)}" if params else ""
    with urllib.request.urlopen(url + query, timeout=10) as answer:
        return json.loads(answer.read())


def wait_for(what: str, check: Callable[[], Any], timeout: float = 120) -> Any:
    """Poll ``check`` until it returns something truthy; fail naming ``what``."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
            if last:
                return last
        except OSError as exc:  # a server still starting
            last = exc
        time.sleep(0.25)
    pytest.fail(f"timed out waiting for {what}; last: {last!r}")


@dataclass
class Stack:
    project: Path
    bot: subprocess.Popen[bytes]
    exporter: ExporterServer
    prometheus_url: str
    telegram: FakeTelegram

    def query(self, expr: str) -> list[dict[str, Any]]:
        answer = get_json(f"{self.prometheus_url}/api/v1/query", {"query": expr})
        assert answer["status"] == "success", answer
        result: list[dict[str, Any]] = answer["data"]["result"]
        return result

    def value(self, expr: str) -> float | None:
        result = self.query(expr)
        return float(result[0]["value"][1]) if result else None

    def alert_states(self, name: str) -> set[str]:
        alerts = get_json(f"{self.prometheus_url}/api/v1/alerts")["data"]["alerts"]
        return {a["state"] for a in alerts if a["labels"]["alertname"] == name}

    def sent(self, text: str) -> list[Any]:
        """Telegram messages containing ``text``."""
        return [m for m in self.telegram.messages if text in m.text]

    def scrape(self) -> str:
        with urllib.request.urlopen(f"{self.exporter.url}/metrics", timeout=10) as answer:
            return str(answer.read().decode())


def breaker(project: Path, *args: str) -> None:
    """The real breaker CLI in the project."""
    subprocess.run(
        [sys.executable, str(REPO_ROOT / "scripts" / "circuit_breaker.py"), *args],
        cwd=project, env=clean_env(), check=True, capture_output=True,
    )  # fmt: skip


def _fill_registry(project: Path) -> None:
    """A succeeded backtest with its drawdown and a successful backup, as the tools record."""
    url = f"sqlite:///{project / 'user_data' / 'registry' / 'strategies_registry.sqlite'}"
    start = datetime.now(UTC) - timedelta(hours=1)
    with Registry(url) as registry:
        run = registry.start_run(kind="backtest", correlation_id="e2e", strategy="Guarded",
                                 started_utc=start)  # fmt: skip
        registry.add_metrics(run, {"max_drawdown_account": 0.12})
        registry.finish_run(run, status="succeeded", exit_code=0)
        backup = registry.start_run(kind="other", correlation_id="e2e",
                                    params={"operation": "backup"})  # fmt: skip
        registry.finish_run(backup, status="succeeded", exit_code=0)


def _start_bot(project: Path, data: Path, api_port: int, login: dict[str, str]) -> Any:
    args = dry_run_args(project, data, ["ETH/BTC", "LTC/BTC"])
    api = project / "user_data" / "configs" / "api.json"
    api.write_text(json.dumps({
        "bot_name": BOT,
        "api_server": {"enabled": True, "listen_ip_address": "127.0.0.1",
                       "listen_port": api_port, "verbosity": "error"},
    }))  # fmt: skip
    args += ["-c", str(api), "--strategy-path", str(REPO_ROOT / "tests" / "strategies")]
    args += ["--strategy", "GuardedChurnStrategy"]
    env = clean_env({**login, **GUARD_RULES, "RISK_ALLOW_WHEN_CB": "1"})
    log = (project / "bot.log").open("wb")
    return subprocess.Popen([sys.executable, *args], cwd=project, env=env, stdout=log, stderr=log)


def _alertmanager_config(folder: Path, telegram_url: str) -> Path:
    out = folder / "alertmanager.yml"
    env = {
        "PATH": os.environ["PATH"],
        "ALERTMANAGER_TELEGRAM_BOT_TOKEN": TOKEN,
        "ALERTMANAGER_TELEGRAM_CHAT_ID": CHAT_ID,
        "ALERTMANAGER_TELEGRAM_API_URL": telegram_url,
    }
    folder.mkdir(parents=True, exist_ok=True)
    render = REPO_ROOT / "config" / "alertmanager" / "render-config.sh"
    template = REPO_ROOT / "config" / "alertmanager" / "alertmanager.yml"
    subprocess.run(["sh", str(render), str(template), str(out)], env=env, check=True)
    out.write_text(re.sub(r"group_wait: \d+s", "group_wait: 1s", out.read_text()))
    return out


def _prometheus_config(folder: Path, exporter_port: int, am_port: int) -> Path:
    rules = (REPO_ROOT / "config" / "prometheus" / "alerts.yml").read_text()
    (folder / "alerts.yml").write_text(re.sub(r"for: \d+m", "for: 4s", rules))
    config = folder / "prometheus.yml"
    config.write_text(json.dumps({  # JSON is YAML
        "global": {"scrape_interval": "2s", "evaluation_interval": "1s",
                   "scrape_timeout": "2s"},
        "rule_files": ["alerts.yml"],
        "alerting": {"alertmanagers": [{"static_configs": [
            {"targets": [f"127.0.0.1:{am_port}"]}]}]},
        "scrape_configs": [{"job_name": "tradingbot", "static_configs": [
            {"targets": [f"127.0.0.1:{exporter_port}"]}]}],
    }))  # fmt: skip
    return config


def _stop(proc: subprocess.Popen[Any]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@pytest.fixture(scope="module")
def stack(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Bot, exporter, Prometheus, Alertmanager and the fake Telegram, started once."""
    if PROMETHEUS is None or ALERTMANAGER is None:
        pytest.skip("apt-get install prometheus prometheus-alertmanager (.ci/run does)")
    root = tmp_path_factory.mktemp("observability")
    project = make_project(root / "project")
    _fill_registry(project)
    # The replayed candles give the bot entry signals right after its start (then once a
    # candle, every 5 minutes): with the breaker on from the start those are refused.
    breaker(project, "enable", "--reason", "e2e start")
    login = {"FREQTRADE__API_SERVER__USERNAME": f"ops-{secrets.token_hex(4)}",
             "FREQTRADE__API_SERVER__PASSWORD": secrets.token_urlsafe(16)}  # fmt: skip
    api_port, am_port, prom_port = free_port(), free_port(), free_port()
    processes: list[subprocess.Popen[Any]] = []
    with FakeTelegram(tokens={TOKEN}) as telegram:
        try:
            bot = _start_bot(project, shared_data, api_port, login)
            processes.append(bot)
            risk = load_settings(
                {"RISK_STATE_DIR": str(project / "user_data" / "state"),
                 "RISK_DB_PATH": str(project / "user_data" / "registry"
                                     / "strategies_registry.sqlite")},
                dotenv_path=None,
            )  # fmt: skip
            exporter_env = {**login, "EXPORTER_BOTS": f"{BOT}=http://127.0.0.1:{api_port}",
                            "EXPORTER_BOT_TIMEOUT_SEC": "1"}  # fmt: skip
            exporter = build_server(
                risk, load_exporter_settings(exporter_env, dotenv_path=None),
                host="127.0.0.1", port=0,
            ).start()  # fmt: skip
            am_config = _alertmanager_config(root / "alertmanager", telegram.url)
            processes.append(subprocess.Popen(
                [str(ALERTMANAGER), f"--config.file={am_config}",
                 f"--storage.path={root / 'alertmanager' / 'data'}",
                 f"--web.listen-address=127.0.0.1:{am_port}", "--cluster.listen-address="],
                stdout=subprocess.DEVNULL, stderr=(root / "alertmanager.log").open("wb"),
            ))  # fmt: skip
            prom_dir = root / "prometheus"
            prom_dir.mkdir()
            prom_config = _prometheus_config(prom_dir, exporter.port, am_port)
            processes.append(subprocess.Popen(
                [str(PROMETHEUS), f"--config.file={prom_config}",
                 f"--storage.tsdb.path={prom_dir / 'data'}",
                 f"--web.listen-address=127.0.0.1:{prom_port}"],
                stdout=subprocess.DEVNULL, stderr=(root / "prometheus.log").open("wb"),
            ))  # fmt: skip
            yield Stack(project, bot, exporter, f"http://127.0.0.1:{prom_port}", telegram)
            exporter.shutdown()
        finally:
            for proc in reversed(processes):
                _stop(proc)


def test_stack_when_running_then_bot_guard_and_registry_metrics_reach_prometheus(
    stack: Stack,
) -> None:
    """Prometheus sees the bot up and running, its guard HALTED by the breaker with its
    refused entries counted, its limits, and the registry's backtest drawdown and backup,
    all through the exporter."""
    refused = wait_for("the bot's refusals in Prometheus", lambda: stack.value(
        f'tradingbot_guard_refusals_total{{bot="{BOT}",reason="CIRCUIT_BREAKER"}} > 0 '
        f'and on (bot) tradingbot_bot_up == 1'), timeout=240)  # fmt: skip

    assert refused >= 1
    assert stack.value(f'tradingbot_risk_state{{bot="{BOT}",state="HALTED"}}') == 1.0
    assert stack.value(f'tradingbot_bot_state{{bot="{BOT}",state="running"}}') == 1.0
    assert stack.value(f'tradingbot_daily_drawdown_limit_ratio{{bot="{BOT}"}}') == 0.9
    assert stack.value(f'tradingbot_bot_max_open_trades{{bot="{BOT}"}}') == 5.0
    age = stack.value(f'time() - tradingbot_bot_last_process_timestamp_seconds{{bot="{BOT}"}}')
    assert age is not None and age < 120
    assert stack.value('tradingbot_strategy_max_drawdown_ratio{strategy="Guarded"}') == 0.12
    assert stack.value("time() - tradingbot_last_backup_timestamp_seconds < 600") is not None
    sources = stack.query("max_over_time(tradingbot_exporter_source_up[1m])")
    assert {s["metric"]["source"]: s["value"][1] for s in sources} == {
        "breaker": "1", "slots": "1", "registry": "1", "guard": "1", f"bot:{BOT}": "1",
    }  # fmt: skip


def _panel_queries() -> list[tuple[str, str]]:
    dashboard = json.loads((REPO_ROOT / "config" / "grafana" / "dashboards" /
                            "tradingbot.json").read_text())  # fmt: skip
    return [(p["title"], t["expr"]) for p in dashboard["panels"] if p["type"] != "row"
            for t in p["targets"]]  # fmt: skip


def test_dashboard_when_queried_then_every_panel_parses_and_uses_scraped_metrics(
    stack: Stack,
) -> None:
    """Each panel's PromQL (Grafana variables filled in) is accepted by Prometheus and names
    only metrics present in a real scrape of the exporter."""
    from tests.unit.exporter.test_dashboard import metric_names

    wait_for("guard metrics in a scrape", lambda: "tradingbot_loss_streak{" in stack.scrape())
    scraped = {
        line.split("{")[0].split(" ")[0]
        for line in stack.scrape().splitlines()
        if line and not line.startswith("#")
    }
    families = set().union(*(metric_names(name) for name in scraped))
    for title, expr in _panel_queries():
        concrete = expr.replace("$__rate_interval", "1m").replace("$bot", ".*")

        stack.query(concrete)  # raises unless Prometheus parsed and ran it

        assert metric_names(expr) <= families, (title, metric_names(expr) - families)


def test_breaker_when_enabled_then_alert_pending_then_firing(stack: Stack) -> None:
    """Disabled with the real CLI, the alert clears and the guard is ACTIVE again; enabled
    again, CircuitBreakerActive goes pending, then firing."""
    breaker(stack.project, "disable", "--reason", "e2e checked")
    wait_for("the guard ACTIVE and the alert gone", lambda: stack.value(
        f'tradingbot_risk_state{{bot="{BOT}",state="ACTIVE"}} == 1') == 1.0
        and not stack.alert_states("CircuitBreakerActive"), timeout=60)  # fmt: skip
    seen: set[str] = set()

    def firing() -> bool:
        seen.update(stack.alert_states("CircuitBreakerActive"))
        return "firing" in seen

    # Poll while the CLI runs: the pending phase (4 s here) may end before it returns.
    cli = subprocess.Popen(
        [sys.executable, str(REPO_ROOT / "scripts" / "circuit_breaker.py"), "enable",
         "--reason", "e2e drill"],
        cwd=stack.project, env=clean_env(), stdout=subprocess.DEVNULL,
    )  # fmt: skip

    wait_for("CircuitBreakerActive firing", firing, timeout=60)
    assert cli.wait(timeout=60) == 0
    assert "pending" in seen
    assert stack.value(f'tradingbot_risk_state{{bot="{BOT}",state="HALTED"}}') == 1.0


def test_alertmanager_when_warning_fires_then_silent_telegram_message(stack: Stack) -> None:
    """The firing CircuitBreakerActive reaches Telegram through the real Alertmanager, as a
    silent (warning) message naming the alert, its summary and its playbook."""
    messages = wait_for("a Telegram message", lambda: stack.sent("CircuitBreakerActive"))

    message = messages[0]
    assert message.chat_id == CHAT_ID
    assert message.text.startswith("FIRING")
    assert "Circuit breaker active" in message.text
    assert "docs/RUNBOOK.md#circuitbreakeractive" in message.text
    assert message.params.get("disable_notification") in (True, "true")
    assert message.params.get("parse_mode") == "HTML"


def test_bot_when_stopped_then_bot_up_drops_and_botdown_pages(stack: Stack) -> None:
    """Stopping the bot: tradingbot_bot_up drops to 0 and BotDown reaches Telegram as a page
    (with sound), naming the bot."""
    _stop(stack.bot)

    wait_for("bot_up 0", lambda: stack.value(f'tradingbot_bot_up{{bot="{BOT}"}} == 0') == 0.0)
    messages = wait_for("the BotDown page", lambda: stack.sent("BotDown"))

    assert f"Bot {BOT} is down" in messages[0].text
    assert messages[0].params.get("disable_notification") in (False, "false", None)

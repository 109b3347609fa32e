"""A dry-run bot's guard halting for the day sends its message without slowing the loop.

One module-scoped offline dry-run bot (``AlwaysInStrategy``: enters at once, never
exits) runs with ``RISK_DAILY_LOSS_CAP_PCT`` so small that the entry fees alone reach it,
while the fake Bot API *hangs* every request longer than the sender's read timeout. The
guard halts the bot; the notifier's sends time out in the background; then Telegram
answers again and the message arrives on the notifier's next attempt. The bot records
the wall-clock time of every ``bot_loop_start``.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.telegram_api import FakeTelegram, SentMessage
from tests.helpers import API_ENV, REPO_ROOT, clean_env, dry_run_args, make_project

pytestmark = pytest.mark.freqtrade

TOKEN = "987654321:AAFdryRunBotTokenOfTheOpsBot123456"
SECRET = TOKEN.split(":", 1)[1]
HANG_S = 6.0  # longer than the notifier's read timeout (4 s): every send times out


@dataclass
class BotRun:
    """What the module's bot left behind."""

    project: Path
    messages: list[SentMessage]
    lines: list[dict[str, Any]]
    loops: list[float]
    output: str


def _lines(project: Path) -> list[dict[str, Any]]:
    path = project / "user_data" / "logs" / "risk.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _wait(project: Path, proc: subprocess.Popen[bytes], message: str) -> dict[str, Any]:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and proc.poll() is None:
        found = [line for line in _lines(project) if line["message"] == message]
        if found:
            return found[0]
        time.sleep(0.5)
    pytest.fail(f"no {message} line; bot output: {(project / 'bot.log').read_text()[-3000:]}")


@pytest.fixture(scope="module")
def bot_run(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[BotRun]:
    """Run the bot until the halt message arrived after the outage, then stop it."""
    project = make_project(tmp_path_factory.mktemp("telegram-bot"))
    fills = project / "user_data" / "configs" / "fill-at-once.json"
    fills.write_text(json.dumps({"entry_pricing": {"price_side": "other"},
                                 "exit_pricing": {"price_side": "other"}}))  # fmt: skip
    args = [*dry_run_args(project, shared_data, ["ETH/BTC", "LTC/BTC"]), "-c", str(fills)]
    args += ["--strategy-path", str(REPO_ROOT / "tests" / "strategies")]
    args += ["--strategy", "AlwaysInStrategy"]
    with FakeTelegram({TOKEN}) as tg:
        env = clean_env({
            **API_ENV,
            "RISK_DAILY_LOSS_CAP_PCT": "0.00005",
            "TELEGRAM_BOT_TOKEN": TOKEN,
            "TELEGRAM_CHAT_ID": "4242",
            "TELEGRAM_API_URL": tg.url,
        })  # fmt: skip
        tg.hang(HANG_S)
        with (project / "bot.log").open("w") as out:
            proc = subprocess.Popen(
                [sys.executable, *args], cwd=project, env=env, stdout=out, stderr=out
            )
            try:
                _wait(project, proc, "telegram_send_failed")  # the halt's first attempt
                tg.hang(0)
                tg.wait_for_messages(1, timeout=120)
            finally:
                proc.send_signal(signal.SIGTERM)
                proc.wait(timeout=120)
        messages = list(tg.messages)
    loops = [float(x) for x in (project / "user_data" / "loop_times.txt").read_text().split()]
    yield BotRun(project, messages, _lines(project), loops, (project / "bot.log").read_text())


def test_dry_run_guard_when_daily_loss_cap_reached_then_halt_message_sent(
    bot_run: BotRun,
) -> None:
    """The guard's HALTED (DAILY_LOSS_CAP) reaches the chat: bot, reason, until, ids."""
    (halted,) = bot_run.messages
    (change,) = [
        line
        for line in bot_run.lines
        if line["message"] == "risk_state_changed" and line["new"] == "HALTED"
    ]
    lines = halted.text.splitlines()

    assert change["reason"] == "DAILY_LOSS_CAP"
    assert lines[0].startswith("[WARNING] Bot HALTED: AlwaysInStrategy (DAILY_LOSS_CAP) until ")
    assert lines[0].endswith(" 00:00Z")
    assert lines[1].startswith("detail: today's loss ")
    assert f"correlation_id {change['correlation_id']}" in halted.text
    assert "run_id run_" in halted.text


def test_dry_run_guard_when_telegram_hangs_then_bot_loop_keeps_its_pace(bot_run: BotRun) -> None:
    """While each send hung for its whole read timeout, the bot loop went on: loops
    started inside every such window (a send in the loop would have left none)."""
    failures = [
        datetime.fromisoformat(line["ts"].replace("Z", "+00:00")).timestamp()
        for line in bot_run.lines
        if line["message"] == "telegram_send_failed"
    ]
    sent = [line for line in bot_run.lines if line["message"] == "telegram_sent"]

    assert failures, "no send timed out: the test would prove nothing"
    assert sent and sent[0]["attempts"] == len(failures) + 1
    for failed_at in failures:
        # The send was in flight for the read timeout (4 s) before it failed.
        inside = [t for t in bot_run.loops if failed_at - 3.5 < t < failed_at - 0.5]
        assert len(inside) >= 2, (failed_at, bot_run.loops)


def test_dry_run_bot_when_done_then_token_in_no_file_and_no_output(bot_run: BotRun) -> None:
    """risk.jsonl, Freqtrade's own log, the trade database, the registry (outbox and
    incidents) and the bot's output hold no trace of the token."""
    files = [p for p in bot_run.project.rglob("*") if p.is_file()]
    freqtrade_logs = [p for p in files if "logs/freqtrade" in str(p)]

    assert freqtrade_logs
    assert any(p.name.endswith(".sqlite") for p in files)
    for path in files:
        assert SECRET.encode() not in path.read_bytes(), path
    assert SECRET not in bot_run.output

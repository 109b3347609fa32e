"""Telegram messages and commands with real processes against the fake Bot API.

Every CLI runs as a user runs it (a subprocess in a throwaway project) with TELEGRAM_*
pointing at :class:`FakeTelegram`; each test ends by searching every file the processes
wrote (logs, registry, state) and their output for the token.
"""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes.telegram_api import FakeTelegram
from tests.helpers import REPO_ROOT, clean_env, run_cli

TOKEN = "987654321:AAFintegrationTokenOfTheOpsBot12345"
SECRET = TOKEN.split(":", 1)[1]
CHAT, STRANGER = 4242, 777
BREAKER = REPO_ROOT / "scripts" / "circuit_breaker.py"
BACKUP = REPO_ROOT / "scripts" / "backup_restore.py"


@pytest.fixture
def tg() -> Iterator[FakeTelegram]:
    """The fake Bot API for one test."""
    with FakeTelegram({TOKEN}) as fake:
        yield fake


def telegram_env(tg: FakeTelegram, **more: str) -> dict[str, str]:
    """Telegram on, pointing at the fake."""
    env = {"TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_CHAT_ID": str(CHAT), "TELEGRAM_API_URL": tg.url}
    return {**env, **more}


def script(
    path: Path, project: Path, *args: str, env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    """Run one of scripts/*.py in ``project``."""
    return subprocess.run(
        [sys.executable, str(path), *args],
        cwd=project,
        env=clean_env(env),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def outbox(project: Path) -> list[tuple[str, str, str]]:
    """(status, event, text) of every outbox row, in id order."""
    db = project / "user_data" / "registry" / "strategies_registry.sqlite"
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT status, event, text FROM outbox_messages ORDER BY id")
        return [(str(a), str(b), str(c)) for a, b, c in rows]


def assert_no_token(project: Path, *outputs: str) -> None:
    """Neither the token nor its secret half in any file under ``project`` or any output."""
    for path in project.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert SECRET.encode() not in data, f"token found in {path}"
    for text in outputs:
        assert SECRET not in text


def test_breaker_cli_and_refused_run_when_telegram_up_then_each_message_sent_before_exit(
    project: Path, tg: FakeTelegram
) -> None:
    """enable (first answered 429: retry_after obeyed), a backtest the breaker refuses,
    disable: each process has delivered its message when it exits."""
    env = telegram_env(tg)
    tg.rate_limit(1, retry_after=1, methods={"sendMessage"})
    enabled = script(BREAKER, project, "enable", "--reason", "exchange outage", "--minutes",
                     "30", env=env)  # fmt: skip
    after_enable = [m.text for m in tg.messages]
    refused = run_cli(["freqtrade", "backtesting", "-c", "user_data/configs/config.backtest.json",
                       "--strategy", "MaCrossoverStrategy"], project, env=env)  # fmt: skip
    after_refusal = [m.text for m in tg.messages]
    disabled = script(BREAKER, project, "disable", "--reason", "outage over", env=env)

    assert (enabled.returncode, refused.returncode, disabled.returncode) == (0, 10, 0)
    (first,) = after_enable
    assert first.startswith("[WARNING] Circuit breaker ENABLED until ")
    assert "reason: exchange outage" in first
    limited, sent = [t for m, s, t in tg.requests.log if m == "sendMessage"][:2]
    assert sent - limited >= 1.0  # Telegram said: retry after 1 s
    assert after_refusal[1].startswith(
        "[WARNING] Run refused: backtest MaCrossoverStrategy (CIRCUIT_BREAKER)"
    )
    assert "run_id run_" in after_refusal[1]
    assert tg.messages[2].text.startswith("[INFO] Circuit breaker disabled (was active)")
    assert [status for status, _, _ in outbox(project)] == ["sent"] * 3
    assert_no_token(project, enabled.stderr, refused.stderr, disabled.stderr)


def test_breaker_cli_when_telegram_down_then_exits_normally_and_once_delivers_in_order(
    project: Path, tg: FakeTelegram
) -> None:
    """During an outage the breaker still changes and both processes exit 0; the messages
    wait in the outbox and `tradingbot telegram --once` delivers them in order."""
    env = telegram_env(tg)
    tg.down()
    enabled = script(BREAKER, project, "enable", "--reason", "outage test", env=env)
    disabled = script(BREAKER, project, "disable", env=env)
    waiting = outbox(project)
    tg.up()
    once = run_cli(["telegram", "--once"], project, env=env)

    assert (enabled.returncode, disabled.returncode, once.returncode) == (0, 0, 0), once.stderr
    assert "ACTIVE" in enabled.stdout
    assert [(s, e) for s, e, _ in waiting] == [
        ("pending", "circuit_breaker_enabled"),
        ("pending", "circuit_breaker_disabled"),
    ]
    assert [m.text.splitlines()[0] for m in tg.messages] == [
        "[WARNING] Circuit breaker ENABLED until a person disables it: entries and runs stop",
        "[INFO] Circuit breaker disabled (was active): entries and runs may resume",
    ]
    assert "Delivered 2 messages" in once.stdout
    assert_no_token(project, enabled.stderr, disabled.stderr, once.stdout, once.stderr)


FLAP = """
from app.registry import Registry
from app.risk import breaker_commands
from app.settings import get_settings
from pathlib import Path
file = Path("user_data/state/circuit_breaker.json")
registry = Registry.from_settings(get_settings())
for n in range(10):
    breaker_commands.enable(file, reason=f"flap {n}", until=None, recorder=registry)
    breaker_commands.disable(file, reason=f"flap {n}", recorder=registry)
"""


def test_breaker_when_flapping_20_times_then_3_messages_and_one_summary_waiting(
    project: Path, tg: FakeTelegram
) -> None:
    """20 breaker changes in a few seconds reach the chat as 3 messages; the other 17 are
    one held summary ('... and 17 more circuit breaker changes') ending with the latest."""
    flapped = subprocess.run(
        [sys.executable, "-c", FLAP], cwd=project, env=clean_env(telegram_env(tg)),
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip

    assert flapped.returncode == 0, flapped.stderr[-2000:]
    assert len(tg.messages) == 3
    rows = outbox(project)
    held = [text for status, _, text in rows if status == "held"]
    assert len(rows) == 4
    assert len(held) == 1
    assert held[0].startswith("... and 17 more circuit breaker changes (rate limit: 3 messages")
    assert "reason: flap 9" in held[0]
    assert_no_token(project, flapped.stderr)


def test_backup_and_refused_restore_when_run_then_both_reported(
    project: Path, tg: FakeTelegram
) -> None:
    """A real backup says 'Backup succeeded' with its folder; a refused restore says so."""
    env = telegram_env(tg)
    made = script(BACKUP, project, "backup", env=env)
    refused = script(BACKUP, project, "restore", str(project / "no-such-backup"), env=env)

    assert (made.returncode, refused.returncode) == (0, 6), made.stderr + refused.stderr
    backup, restore = [m.text for m in tg.messages]
    assert backup.startswith("[INFO] Backup succeeded\nbackup: user_data/backups/backup_")
    assert restore.startswith("[WARNING] Restore refused: nothing was changed")
    assert "problem: " in restore
    assert_no_token(project, made.stdout, made.stderr, refused.stderr)


def test_once_when_commands_from_allowed_and_other_chat_then_only_allowed_obeyed(
    project: Path, tg: FakeTelegram
) -> None:
    """/halt from the operator's chat enables the breaker; /resume from a stranger does
    nothing, gets no answer and becomes an incident (who and what); /status shows it."""
    tg.push_update(chat_id=CHAT, text="/halt 30 exchange outage")
    tg.push_update(chat_id=STRANGER, user_id=778, username="mallory", text="/resume\x1b[2J now")
    tg.push_update(chat_id=CHAT, text="/status")
    tg.push_update(chat_id=CHAT, text="/incidents 2")

    once = run_cli(["telegram", "--once"], project, env=telegram_env(tg))

    assert once.returncode == 0, once.stderr[-2000:]
    answers = [m.text for m in tg.messages if m.text[:1] != "["]
    assert all(m.chat_id == str(CHAT) for m in tg.messages)
    assert answers[0].startswith("Circuit breaker ACTIVE until ")
    assert answers[1].startswith("Circuit breaker: ACTIVE (circuit breaker active until")
    assert "exchange outage" in answers[1]
    db = project / "user_data" / "registry" / "strategies_registry.sqlite"
    with sqlite3.connect(db) as conn:
        incidents = [row[0] for row in conn.execute("SELECT description FROM incidents")]
    (refusal,) = [i for i in incidents if "not in TELEGRAM_ALLOWED_CHAT_IDS" in i]
    assert "user @mallory (id 778) in chat 777" in refusal
    assert 'sent "/resume\\x1b[2J now"' in refusal  # cut and escaped, never raw
    (halt,) = [i for i in incidents if "Telegram /halt" in i]
    assert "user @operator (id 4242) in chat 4242" in halt
    assert tg.pending_updates == 0  # acknowledged: not answered twice
    assert_no_token(project, once.stdout, once.stderr)


def test_service_when_running_then_answers_and_delivers_what_an_outage_left(
    project: Path, tg: FakeTelegram
) -> None:
    """`tradingbot telegram` answers /status, and delivers a message that a CLI left in
    the outbox during an outage; SIGTERM stops it with exit code 0."""
    env = telegram_env(tg)
    tg.down()
    script(BREAKER, project, "enable", "--reason", "left behind", env=env)
    tg.up()
    service = subprocess.Popen(
        [sys.executable, "-m", "app", "telegram"], cwd=project, env=clean_env(env),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        left = tg.wait_for_messages(1, timeout=60)[0]
        tg.push_update(chat_id=CHAT, text="/runs 3")
        answer = tg.wait_for_messages(2, timeout=60)[1]
    finally:
        service.send_signal(signal.SIGTERM)
        out, err = service.communicate(timeout=60)

    assert service.returncode == 0, err[-2000:]
    assert "reason: left behind" in left.text
    assert answer.text.startswith("No runs recorded yet.")
    assert_no_token(project, out, err)


def test_breaker_cli_when_telegram_off_then_no_outbox_row_and_no_request(
    project: Path, tg: FakeTelegram
) -> None:
    """Without TELEGRAM_BOT_TOKEN nothing is queued or sent: the outbox stays empty."""
    enabled = script(BREAKER, project, "enable", "--reason", "quiet", env={})

    assert enabled.returncode == 0, enabled.stderr
    assert outbox(project) == []
    assert tg.requests.log == []


def test_service_when_token_is_freqtrades_then_refused_naming_the_config(
    project: Path, tg: FakeTelegram
) -> None:
    """The own-token rule: exit 2 naming the config file, never the token."""
    config = project / "user_data" / "configs" / "config.mainnet.json"
    config.write_text(json.dumps({"telegram": {"enabled": True, "token": TOKEN, "chat_id": "1"}}))

    result = run_cli(["telegram", "--once"], project, env=telegram_env(tg))

    assert result.returncode == 2
    assert "is the token of Freqtrade's own Telegram bot" in result.stderr
    assert str(config.relative_to(project)) in result.stderr
    assert tg.requests.log == []
    assert SECRET not in result.stdout + result.stderr

"""config/alertmanager: the template, its renderer, and routing by severity.

The renderer (render-config.sh) runs as the compose file runs it (``sh``); the rendered
file is checked by the real ``amtool`` of Alertmanager 0.25 (Debian's
``prometheus-alertmanager``). Delivery to Telegram is proven end to end in
tests/integration/test_observability_e2e.py.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from tests.helpers import REPO_ROOT

FOLDER = REPO_ROOT / "config" / "alertmanager"
TEMPLATE = FOLDER / "alertmanager.yml"
RENDER = FOLDER / "render-config.sh"
AMTOOL = shutil.which("amtool")
TOKEN = "7000001:AAH-test_token_not_a_secret_000000"
GOOD = {"ALERTMANAGER_TELEGRAM_BOT_TOKEN": TOKEN, "ALERTMANAGER_TELEGRAM_CHAT_ID": "-1001234"}
needs_amtool = pytest.mark.skipif(
    AMTOOL is None, reason="amtool missing: apt-get install prometheus-alertmanager"
)


def render(tmp_path: Path, env: dict[str, str]) -> tuple[subprocess.CompletedProcess[str], Path]:
    """Run render-config.sh with only ``env`` (and PATH) set."""
    out = tmp_path / "alertmanager.yml"
    result = subprocess.run(
        ["sh", str(RENDER), str(TEMPLATE), str(out)],
        env={"PATH": os.environ["PATH"], **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return result, out


def amtool(*args: str) -> subprocess.CompletedProcess[str]:
    assert AMTOOL is not None
    return subprocess.run([AMTOOL, *args], capture_output=True, text=True, timeout=60, check=False)


def test_template_when_read_then_no_credential_committed() -> None:
    """The committed file holds placeholders, never a token or a chat id."""
    text = TEMPLATE.read_text()

    assert 'bot_token: "${ALERTMANAGER_TELEGRAM_BOT_TOKEN}"' in text
    assert "chat_id: ${ALERTMANAGER_TELEGRAM_CHAT_ID}" in text
    assert not re.search(r"\b\d{5,}:[A-Za-z0-9_-]{20,}", text)


@needs_amtool
def test_render_when_values_set_then_amtool_accepts_and_file_private(tmp_path: Path) -> None:
    """The rendered config passes `amtool check-config`; it is readable by its owner only."""
    result, out = render(tmp_path, GOOD)

    assert result.returncode == 0, result.stderr
    check = amtool("check-config", str(out))
    assert check.returncode == 0, check.stdout + check.stderr
    assert f'bot_token: "{TOKEN}"' in out.read_text()
    assert "chat_id: -1001234" in out.read_text()
    assert 'api_url: "https://api.telegram.org"' in out.read_text()
    assert stat.S_IMODE(out.stat().st_mode) == 0o600


@needs_amtool
@pytest.mark.parametrize(
    ("labels", "receiver"),
    [
        (["severity=page", "alertname=BotDown", "bot=a"], "telegram-page"),
        (["severity=warning", "alertname=BackupTooOld"], "telegram-warning"),
        (["alertname=Unlabelled"], "telegram-warning"),
    ],
)
def test_routes_when_severity_given_then_page_and_warning_receivers(
    tmp_path: Path, labels: list[str], receiver: str
) -> None:
    """Pages go to the ringing receiver, warnings (and anything else) to the silent one."""
    _, out = render(tmp_path, GOOD)

    result = amtool("config", "routes", "test", f"--config.file={out}", *labels)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == receiver


def test_template_when_read_then_warnings_silent_and_intervals_bearable() -> None:
    """Warnings arrive without a sound; pages repeat hourly, warnings twice a day."""
    text = TEMPLATE.read_text()

    page, warning = text.split("  - name: telegram-page")[1].split("  - name: telegram-warning")
    assert "disable_notifications: false" in page
    assert "disable_notifications: true" in warning
    assert "repeat_interval: 1h" in text and "repeat_interval: 12h" in text
    assert "group_by: [alertname, bot]" in text


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"ALERTMANAGER_TELEGRAM_CHAT_ID": "-1"}, "ALERTMANAGER_TELEGRAM_BOT_TOKEN is missing"),
        ({**GOOD, "ALERTMANAGER_TELEGRAM_BOT_TOKEN": "not a token|x"},
         "ALERTMANAGER_TELEGRAM_BOT_TOKEN is missing or not a Telegram bot token"),
        ({**GOOD, "ALERTMANAGER_TELEGRAM_CHAT_ID": "replace-with-your-chat-id"},
         "ALERTMANAGER_TELEGRAM_CHAT_ID='replace-with-your-chat-id' is not a chat id"),
        ({**GOOD, "ALERTMANAGER_TELEGRAM_API_URL": "http://x/y?a=1&b=2"},
         "ALERTMANAGER_TELEGRAM_API_URL='http://x/y?a=1&b=2' is not an http(s) URL"),
    ],
)  # fmt: skip
def test_render_when_value_bad_then_exit_2_naming_it_and_nothing_written(
    tmp_path: Path, env: dict[str, str], message: str
) -> None:
    """Bad values stop the container start with the variable and the fix; the token's
    value is never printed and no config is written."""
    result, out = render(tmp_path, env)

    assert result.returncode == 2
    assert message in result.stderr
    assert "not a token|x" not in result.stderr
    assert not out.exists()

"""Helpers shared by tests: paths of the repo and the real market data, CLI runner."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"
SHARED_BINANCE = SHARED_DATA / "binance"
# The seven 5m spot pairs of the shared data.
SHARED_PAIRS = ("ADA/BTC", "DASH/BTC", "ETC/BTC", "ETH/BTC", "LTC/BTC", "NXT/BTC", "TRX/BTC")
# API credentials Freqtrade's schema requires when api_server is configured (test values).
API_ENV = {
    "FREQTRADE__API_SERVER__USERNAME": "tester",
    "FREQTRADE__API_SERVER__PASSWORD": "test-password-not-secret",
    "FREQTRADE__API_SERVER__JWT_SECRET_KEY": "test-jwt-secret-key-with-32-characters-or-more",
}


def clean_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for CLI subprocesses: no RISK_/FREQTRADE__/TELEGRAM_ from the shell."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("RISK_", "FREQTRADE__", "TRADINGBOT_", "TELEGRAM_"))
    }
    env.update(extra or {})
    return env


def run_cli(
    args: Sequence[str],
    cwd: Path,
    env: Mapping[str, str] | None = None,
    timeout: float = 600,
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m app ARGS`` as a user would; capture output."""
    return subprocess.run(
        [sys.executable, "-m", "app", *args],
        cwd=cwd,
        env=clean_env(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def make_project(root: Path) -> Path:
    """Fill ``root`` with a clean project: the repo's configs, strategies and hyperopt losses.

    CLIs run with ``root`` as their working directory, so registry, results, logs and
    state land there. Promoted parameter files are operator state and are left out.
    """
    user_data = root / "user_data"
    for folder in ("configs", "strategies", "hyperopts"):
        source = REPO_ROOT / "user_data" / folder
        if source.is_dir():
            shutil.copytree(
                source,
                user_data / folder,
                ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
            )
    for params in (user_data / "strategies").glob("*.json"):
        params.unlink()
    return root


def dry_run_args(project: Path, datadir: Path, pairs: Sequence[str]) -> list[str]:
    """Arguments after ``python`` for an offline BTC dry-run bot on ``pairs`` in ``project``.

    Writes the overlay config (no API server, one-second loops) into the project; the
    caller appends the strategy and any further Freqtrade arguments.
    """
    overlay = project / "user_data" / "configs" / "offline-btc.json"
    overlay.write_text(
        json.dumps(
            {
                "stake_currency": "BTC",
                "stake_amount": 0.05,
                "dry_run_wallet": 1,
                "exchange": {"pair_whitelist": list(pairs)},
                "api_server": {"enabled": False},
                "internals": {"process_throttle_secs": 1},
            }
        )
    )
    return [
        "-m", "app", "freqtrade", "--offline", "--offline-datadir", str(datadir),
        "trade", "--dry-run",
        "-c", "user_data/configs/config.testnet.json", "-c", str(overlay),
    ]  # fmt: skip

"""Shared fixtures: where the real market data is, and a throwaway project folder.

Tests that need ``../shared/data`` skip with a reason when it is absent, unless
``TRADINGBOT_REQUIRE_SHARED_DATA=1`` (set by ``.ci/run``) makes its absence a failure.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import freqtrade_state
from tests.helpers import SHARED_BINANCE, make_project


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data/binance``; skip (or fail in CI) when it is not there."""
    if not SHARED_BINANCE.is_dir():
        reason = f"real market data not found at {SHARED_BINANCE} (../shared/data)"
        if os.environ.get("TRADINGBOT_REQUIRE_SHARED_DATA") == "1":
            pytest.fail(f"{reason}; .ci/run requires it")
        pytest.skip(reason)
    return SHARED_BINANCE


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A throwaway project folder (see :func:`tests.helpers.make_project`)."""
    return make_project(tmp_path)


@pytest.fixture(autouse=True)
def _freqtrade_persistence() -> Iterator[None]:
    """Freqtrade's trade persistence (database or backtest mode, sessions, backtest lists)
    is as before the test, whatever the test did (see tests/freqtrade_state.py)."""
    saved = freqtrade_state.save()
    yield
    freqtrade_state.restore(saved)


@pytest.fixture(autouse=True, scope="session")
def _no_real_telegram() -> None:
    """A developer's real TELEGRAM_* settings must not make the tests message their chat."""
    for name in [n for n in os.environ if n.upper().startswith("TELEGRAM_")]:
        del os.environ[name]

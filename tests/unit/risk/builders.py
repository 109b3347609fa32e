"""Snapshot and entry builders for the guard's unit tests (plain values, no Freqtrade)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from app.circuit_breaker import BreakerState, BreakerStatus
from app.risk.snapshot import AccountSnapshot, Candle, EntryRequest, GuardContext, OpenPosition
from app.settings import RiskSettings, load_settings

NOW = datetime(2025, 8, 17, 12, 0, tzinfo=UTC)
MIDNIGHT = datetime(2025, 8, 17, tzinfo=UTC)
NEXT_MIDNIGHT = MIDNIGHT + timedelta(days=1)
BREAKER_FILE = Path("state/circuit_breaker.json")
# Stakes round-trip through amount x rate, so the size and exposure rules allow up to 1e-9
# (relative, inclusive) above their limit: (relative excess, allowed).
FLOAT_NOISE = ((5e-10, True), (1e-9, True), (3e-9, False), (1e-6, False))
# No exposure at all is possible from these wallets, not even a zero stake.
NOT_POSITIVE_WALLETS = (0.0, -10.0)


def breaker(
    status: BreakerStatus = BreakerStatus.INACTIVE,
    *,
    until: datetime | None = None,
    reason: str | None = None,
    problem: str | None = None,
) -> BreakerState:
    """A breaker state as the file reader would return it."""
    return BreakerState(status, BREAKER_FILE, reason=reason, until=until, problem=problem)


def account(
    *,
    taken_at: datetime = NOW,
    wallet: float = 1000.0,
    positions: tuple[OpenPosition, ...] = (),
    breaker_state: BreakerState | None = None,
    **fields: Any,
) -> AccountSnapshot:
    """An account with a 1000 wallet, nothing open and an inactive breaker by default."""
    return AccountSnapshot.build(
        taken_at=taken_at,
        breaker=breaker_state or breaker(),
        wallet=wallet,
        open_positions=positions,
        **fields,
    )


def entry(**fields: Any) -> EntryRequest:
    """A long entry of stake 10 at rate 100 on 5m candles."""
    base = EntryRequest(pair="ETH/BTC", side="long", rate=100.0, stake=10.0, timeframe_sec=300)
    return replace(base, **fields)


def ctx(
    acct: AccountSnapshot | None = None,
    ent: EntryRequest | None = None,
    candle: Candle | None = None,
) -> GuardContext:
    """A rule context; ``ent=None`` means the account-state evaluation."""
    return GuardContext(acct or account(), ent, candle)


def settings(**env: str) -> RiskSettings:
    """Settings from explicit RISK_* values only (no .env, no process environment)."""
    return load_settings({f"RISK_{k.upper()}": v for k, v in env.items()}, dotenv_path=None)

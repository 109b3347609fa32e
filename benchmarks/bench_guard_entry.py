"""Entry-check latency with every guard rule on: 100,000 calls, median and p99 in microseconds.

Three measurements, each against a baseline measured in the same run:

1. ``Guard.check_entry`` on a fixed snapshot, every rule on and passing (the common case);
2. the same with a refusal (the ``_deny`` path: counters, log level check, state);
3. ``GuardedStrategy.confirm_trade_entry`` as Freqtrade calls it in a backtest, with three
   open trades, real candle arrays and a new ``current_time`` per call (so the snapshot is
   rebuilt every time). Needs ../shared/data; skipped without it.
4. the same call with the live guard's metrics publisher (app/risk/publish.py) attached
   and without, alternating in blocks: the ratio is what publishing costs an entry.

The baseline is Freqtrade's own default ``IStrategy.confirm_trade_entry`` (returns True),
timed the same way, so the ratio shows what the guard adds per entry.

    .venv/bin/python benchmarks/bench_guard_entry.py [--calls 100000]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED = REPO_ROOT.parent / "shared" / "data" / "binance"
sys.path.insert(0, str(REPO_ROOT))

from freqtrade.data.dataprovider import DataProvider  # noqa: E402
from freqtrade.enums import CandleType, RunMode  # noqa: E402
from freqtrade.persistence import LocalTrade  # noqa: E402
from freqtrade.strategy import IStrategy  # noqa: E402

from app.circuit_breaker import BreakerState, BreakerStatus  # noqa: E402
from app.logs import configure_logging  # noqa: E402
from app.risk.breaker_view import MemoryBreakerView  # noqa: E402
from app.risk.guard import Guard, GuardMode  # noqa: E402
from app.risk.snapshot import AccountSnapshot, Candle, EntryRequest, OpenPosition  # noqa: E402
from app.settings import RiskSettings, load_settings  # noqa: E402

NOW = datetime(2018, 1, 15, 12, 0, tzinfo=UTC)
# Every rule on, limits generous enough that a normal entry passes all of them.
ALL_RULES = {
    "RISK_LIVE_MAX_CONCURRENT_TRADES": "10",
    "RISK_LIVE_MAX_PER_MARKET_EXPOSURE_PCT": "0.5",
    "RISK_MAX_EXPOSURE_PCT": "0.9",
    "RISK_MAX_POSITION_PCT": "0.2",
    "RISK_DAILY_LOSS_CAP_PCT": "0.5",
    "RISK_MAX_DAILY_DRAWDOWN_PCT": "0.5",
    "RISK_LOSS_STREAK_MAX": "50",
    "RISK_SESSION_COOLDOWN_MINUTES": "60",
    "RISK_DATA_STALE_TIMEOUT_SEC": "600",
    "RISK_MAX_ENTRY_DEVIATION_PCT": "0.2",
    "RISK_NEAR_LIQ_BUFFER_MULTIPLIER": "1.5",
    "RISK_MAX_LEVERAGE": "5",
}


def measure(fn: Callable[[int], object], calls: int) -> list[int]:
    """Nanoseconds per call of ``fn(i)``; 1,000 warm-up calls first."""
    for i in range(1000):
        fn(i)
    samples = []
    clock = time.perf_counter_ns
    for i in range(calls):
        start = clock()
        fn(i)
        samples.append(clock() - start)
    return samples


def report(name: str, samples: list[int], baseline: list[int]) -> None:
    ordered = sorted(samples)
    median = statistics.median(ordered) / 1000
    p99 = ordered[int(len(ordered) * 0.99) - 1] / 1000
    base_median = statistics.median(baseline) / 1000
    base_p99 = sorted(baseline)[int(len(baseline) * 0.99) - 1] / 1000
    print(
        f"{name:<52} median {median:7.2f} us  p99 {p99:7.2f} us  "
        f"(x{median / base_median:6.1f} / x{p99 / base_p99:6.1f} of baseline)"
    )


def guard_and_inputs(settings: RiskSettings) -> tuple[Guard, AccountSnapshot, EntryRequest]:
    guard = Guard(
        settings,
        mode=GuardMode.BACKTEST,
        breaker=MemoryBreakerView(),
        incidents=None,
        correlation_id="bench",
    )
    account = AccountSnapshot.build(
        taken_at=NOW,
        breaker=BreakerState(BreakerStatus.INACTIVE, Path("<bench>")),
        wallet=1.0,
        open_positions=[OpenPosition(p, 0.05) for p in ("ADA/BTC", "ETC/BTC", "LTC/BTC")],
        realised_today=-0.002,
        unrealised=-0.001,
        day_peak_equity=1.0,
        loss_streak=2,
        last_loss_at=NOW - timedelta(hours=1),
    )
    entry = EntryRequest(
        pair="ETH/BTC",
        side="long",
        rate=0.1,
        stake=0.05,
        timeframe_sec=300,
        leverage=3.0,
        stoploss=-0.05,
        liquidation_price=0.068,
    )
    return guard, account, entry


def strategy_confirm(settings_env: dict[str, str]) -> tuple[Any, Callable[[int], object]] | None:
    """A backtest GuardedStrategy with three open trades and its confirm_trade_entry(i)."""
    if not SHARED.is_dir():
        print(f"(skipping the strategy benchmarks: no data at {SHARED})")
        return None
    import os

    from tests.strategies.churn_strategies import GuardedChurnStrategy

    os.environ.update(settings_env)
    config: dict[str, Any] = {
        "runmode": RunMode.BACKTEST,
        "timeframe": "5m",
        "stake_currency": "BTC",
        "candle_type_def": CandleType.SPOT,
        "dataformat_ohlcv": "feather",
        "datadir": SHARED,
        "timerange": None,
    }

    class Wallets:
        def get_total_stake_amount(self) -> float:
            return 1.0

    strategy = GuardedChurnStrategy(config)
    strategy.dp = DataProvider(config, None)
    strategy.wallets = Wallets()
    strategy.bot_start()
    LocalTrade.reset_trades()
    for pair in ("ADA/BTC", "ETC/BTC", "LTC/BTC"):
        LocalTrade.add_bt_trade(
            LocalTrade(
                pair=pair,
                stake_amount=0.05,
                open_rate=0.001,
                amount=50.0,
                fee_open=0.001,
                fee_close=0.001,
                open_date=NOW - timedelta(days=1),
                is_open=True,
                exchange="binance",
            )
        )
    step = timedelta(minutes=5)
    start = datetime(2018, 1, 12, tzinfo=UTC)
    span = 2000  # stay inside the candle data

    def confirm(i: int) -> object:
        return strategy.confirm_trade_entry(
            pair="ETH/BTC",
            order_type="limit",
            amount=0.5,
            rate=0.1,
            time_in_force="GTC",
            current_time=start + (i % span) * step,
            entry_tag=None,
            side="long",
        )

    return strategy, confirm


def bench_strategy(settings_env: dict[str, str], calls: int) -> list[int] | None:
    """confirm_trade_entry through GuardedStrategy with a snapshot rebuilt every call."""
    made = strategy_confirm(settings_env)
    if made is None:
        return None
    samples = measure(made[1], calls)
    LocalTrade.reset_trades()
    return samples


def bench_publish(settings_env: dict[str, str], calls: int, rounds: int = 10) -> None:
    """The same call with the live guard's metrics publisher attached vs not.

    The two sides alternate in ``rounds`` blocks (so load changes hit both); between
    blocks the publisher folds its timings and writes its file, as once per bot loop.
    """
    import tempfile

    from app.risk.publish import GuardPublisher

    made = strategy_confirm(settings_env)
    if made is None:
        return
    strategy, confirm = made
    runtime = strategy.guard_runtime
    folder = Path(tempfile.mkdtemp(prefix="bench-guard-"))
    publisher = GuardPublisher(folder / "bench.json", bot="bench", strategy="S",
                               drawdown_limit=0.5, loss_cap=0.5, tracks_streak=True)  # fmt: skip
    block = max(calls // rounds, 1000)
    sides: dict[str, list[int]] = {"without": [], "with": []}
    for _ in range(rounds):
        for side in ("without", "with"):
            runtime.publisher = publisher if side == "with" else None
            sides[side] += measure(confirm, block)
            if side == "with":
                publisher.publish(runtime.guard, None, NOW)
    runtime.publisher = None
    LocalTrade.reset_trades()
    report("confirm_trade_entry, metrics NOT published", sides["without"], sides["without"])
    report("confirm_trade_entry, metrics published", sides["with"], sides["without"])
    ratio = statistics.median(sides["with"]) / statistics.median(sides["without"])
    print(f"published / not published, median per call: x{ratio:.3f} (aim <= 1.02)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=100_000)
    args = parser.parse_args()
    configure_logging(log_file=None, to_stderr=False)  # measure the guard, not the terminal

    base_strategy_call = IStrategy.confirm_trade_entry

    def baseline(i: int) -> object:
        return base_strategy_call(None, "ETH/BTC", "limit", 0.5, 0.1, "GTC", NOW, None, "long")

    base = measure(baseline, args.calls)
    settings = load_settings(ALL_RULES, dotenv_path=None)
    guard, account, entry = guard_and_inputs(settings)
    candle = Candle(NOW - timedelta(minutes=5), 0.1)
    print(f"{args.calls:,} calls each; rules on: {', '.join(r.name for r in guard.rules)}")
    report("baseline: IStrategy.confirm_trade_entry", base, base)

    allowed = measure(lambda _i: guard.check_entry(account, entry, NOW, lambda: candle), args.calls)
    assert guard.refusals == {}, guard.refusals
    report("Guard.check_entry, every rule on, allowed", allowed, base)

    full = AccountSnapshot.build(
        taken_at=NOW,
        breaker=account.breaker,
        wallet=1.0,
        open_positions=[OpenPosition(f"P{n}/BTC", 0.01) for n in range(10)],
    )
    refused = measure(lambda _i: guard.check_entry(full, entry, NOW, lambda: candle), args.calls)
    report("Guard.check_entry, refused (MAX_CONCURRENT_TRADES)", refused, base)

    strategy = bench_strategy(ALL_RULES, args.calls)
    if strategy is not None:
        report("GuardedStrategy.confirm_trade_entry, new snapshot", strategy, base)
    bench_publish(ALL_RULES, args.calls)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

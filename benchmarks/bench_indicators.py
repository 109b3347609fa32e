"""Each strategy's ``populate_indicators`` against direct TA-Lib calls for the same indicators.

On the 7 shared 5m pairs (../shared/data), in two modes:

* ``backtest``: parameters at their values (what a backtest or a bot computes);
* ``hyperopt``: every value of every hyperopt range (what hyperopt precomputes once).

The baseline calls the same TA-Lib functions on the NumPy columns of the same fresh
candle frame, for the same periods (plus the same one-candle shifts), and builds no
DataFrame; the ratio strategy / baseline is the cost of the strategy's DataFrame handling
(target <= 2). Best of ``--repeats``, the two sides run in turns.

    .venv/bin/python benchmarks/bench_indicators.py [--repeats 7]
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import talib
from freqtrade.enums import HyperoptState
from freqtrade.optimize.hyperopt_tools import HyperoptStateContainer
from freqtrade.strategy.parameters import BaseParameter

REPO_ROOT = Path(__file__).resolve().parents[1]
DATA = REPO_ROOT.parent / "shared" / "data" / "binance"
STRATEGIES = REPO_ROOT / "user_data" / "strategies"
PAIRS = ["ADA/BTC", "DASH/BTC", "ETC/BTC", "ETH/BTC", "LTC/BTC", "NXT/BTC", "TRX/BTC"]
COLUMNS = ("open", "high", "low", "close", "volume")
Arrays = dict[str, np.ndarray]


def _shift(values: np.ndarray) -> np.ndarray:
    out = np.empty_like(values)
    out[0] = np.nan
    out[1:] = values[:-1]
    return out


def _rising(values: np.ndarray, lag: int) -> np.ndarray:
    out = np.zeros_like(values)
    out[lag:] = values[lag:] > values[:-lag]
    return out


def direct_ma(s: Any, a: Arrays) -> list[np.ndarray]:
    emas = {*s.buy_fast.range, *s.buy_slow.range, *s.sell_fast.range, *s.sell_slow.range}
    out = [talib.EMA(a["close"], timeperiod=p) for p in sorted(emas)]
    for p in s.buy_trend.range:
        sma = talib.SMA(a["close"], timeperiod=p)
        out += [sma, _rising(sma, 12)]
    out.append(talib.ADX(a["high"], a["low"], a["close"], timeperiod=14))
    return out


def direct_breakout(s: Any, a: Arrays) -> list[np.ndarray]:
    out = [_shift(talib.MAX(a["high"], timeperiod=n)) for n in s.buy_channel.range]
    out += [_shift(talib.MIN(a["low"], timeperiod=n)) for n in s.sell_channel.range]
    out.append(talib.ATR(a["high"], a["low"], a["close"], timeperiod=14))
    out.append(_shift(talib.SMA(a["volume"], timeperiod=48)))
    return out


def direct_mean_reversion(s: Any, a: Arrays) -> list[np.ndarray]:
    out = []
    for n in s.buy_bb_period.range:
        out += [talib.SMA(a["close"], timeperiod=n), talib.STDDEV(a["close"], timeperiod=n)]
    out += [talib.RSI(a["close"], timeperiod=n) for n in s.buy_rsi_period.range]
    out.append(talib.ADX(a["high"], a["low"], a["close"], timeperiod=14))
    return out


DIRECT: dict[str, Callable[[Any, Arrays], list[np.ndarray]]] = {
    "MaCrossoverStrategy": direct_ma,
    "BreakoutStrategy": direct_breakout,
    "MeanReversionStrategy": direct_mean_reversion,
}


def load_strategy(name: str) -> Any:
    spec = importlib.util.spec_from_file_location(f"bench_{name}", STRATEGIES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    strategy = getattr(module, name)({"timeframe": "5m", "stake_currency": "BTC"})
    strategy.ft_load_hyper_params(hyperopt=False)
    return strategy


def set_mode(strategy: Any, hyperopt: bool) -> None:
    """``.range`` is every value in hyperopt's indicator phase, else just the value."""
    HyperoptStateContainer.set_state(
        HyperoptState.INDICATORS if hyperopt else HyperoptState.OPTIMIZE
    )
    for attr in vars(type(strategy)).values():
        if isinstance(attr, BaseParameter):
            attr.in_space = hyperopt


def best_of_alternating(
    repeats: int, first: Callable[[], object], second: Callable[[], object]
) -> tuple[float, float]:
    """Best wall time of each, run in turns so both see the same machine load."""
    times: tuple[list[float], list[float]] = ([], [])
    for _ in range(repeats):
        for fn, bucket in ((first, times[0]), (second, times[1])):
            gc.collect()
            gc.disable()  # as timeit does: a collection of Freqtrade's heap is not ours
            try:
                start = time.perf_counter()
                fn()
                bucket.append(time.perf_counter() - start)
            finally:
                gc.enable()
    return min(times[0]), min(times[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    if not DATA.is_dir():
        raise SystemExit(f"shared data not found at {DATA}")
    frames = {p: pd.read_feather(DATA / f"{p.replace('/', '_')}-5m.feather") for p in PAIRS}
    candles = sum(len(f) for f in frames.values())
    print(f"{len(PAIRS)} pairs, {candles} candles; best of {args.repeats}")
    print(f"{'strategy':24} {'mode':9} {'columns':>7} {'strategy ms':>12} {'TA-Lib ms':>10} "
          f"{'ratio':>6}")  # fmt: skip
    for name, direct in DIRECT.items():
        strategy = load_strategy(name)
        for hyperopt in (False, True):
            set_mode(strategy, hyperopt)

            # Both sides start from a fresh copy of each pair's candles, as Freqtrade
            # hands populate_indicators a new frame per pair.
            def run_strategy(strategy: Any = strategy) -> None:
                for pair, frame in frames.items():
                    strategy.populate_indicators(frame.copy(), {"pair": pair})

            def run_direct(strategy: Any = strategy, direct: Any = direct) -> None:
                for frame in frames.values():
                    fresh = frame.copy()
                    direct(strategy, {c: fresh[c].to_numpy(np.float64) for c in COLUMNS})

            columns = len(direct(strategy, {c: frames[PAIRS[0]][c].to_numpy() for c in COLUMNS}))
            ours, base = best_of_alternating(args.repeats, run_strategy, run_direct)
            mode = "hyperopt" if hyperopt else "backtest"
            print(f"{name:24} {mode:9} {columns:7d} {ours * 1e3:12.2f} {base * 1e3:10.2f} "
                  f"{ours / base:6.2f}")  # fmt: skip


if __name__ == "__main__":
    main()

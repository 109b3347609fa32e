"""``tradingbot demo`` (the main job of ``make demo``) and ``tradingbot sample-data``.

The demo is an offline backtest of ``MaCrossoverStrategy`` through the guarded runner,
printing Freqtrade's own report. Candles come from ``--datadir`` when given, else from
``user_data/data/binance`` when it holds any, else from a SYNTHETIC sample generated
on the spot (and said so, loudly). Heavy imports happen inside the handlers so that
``tradingbot --help`` stays fast.
"""

from __future__ import annotations

import argparse
from pathlib import Path

REAL_DATADIR = Path("user_data/data/binance")
SAMPLE_DATADIR = Path("user_data/data/synthetic")
CONFIG = Path("user_data/configs/config.backtest.json")
STRATEGY = "MaCrossoverStrategy"


def choose_datadir(explicit: Path | None) -> tuple[Path, bool]:
    """The datadir to backtest on and whether it is synthetic (generating it if needed)."""
    from app.datadirs import has_candles, is_synthetic
    from app.sample_data import write_sample

    if explicit is not None:
        return explicit, is_synthetic(explicit)
    if has_candles(REAL_DATADIR):
        return REAL_DATADIR, False
    if not has_candles(SAMPLE_DATADIR):
        write_sample(SAMPLE_DATADIR)
    return SAMPLE_DATADIR, True


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    _register_sample_data(subparsers)
    parser = subparsers.add_parser(
        "demo",
        help="offline backtest of MaCrossoverStrategy through the guard (make demo)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--datadir", type=Path, help="candles to use (default: real if present, else synthetic)"
    )
    parser.set_defaults(handler=_run)


def _register_sample_data(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
) -> None:
    parser = subparsers.add_parser(
        "sample-data",
        help="generate a deterministic SYNTHETIC candle sample (no exchange needed)",
        description="Write seeded synthetic 5m candles (GARCH volatility, fat tails, intraday "
        "volume cycle) in Freqtrade's feather format, with a SYNTHETIC.md marker. They are "
        "not real market prices.",
    )
    parser.add_argument("--out", type=Path, default=SAMPLE_DATADIR, help="target folder")
    parser.add_argument("--days", type=int, default=42, help="length in days (default 42)")
    parser.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    parser.set_defaults(handler=_sample_data)


def _sample_data(args: argparse.Namespace) -> int:
    from app.sample_data import write_sample

    paths = write_sample(args.out, days=args.days, seed=args.seed)
    print(f"Wrote {len(paths)} SYNTHETIC pairs (seed {args.seed}) to {args.out}:")
    for path in paths:
        print(f"  {path.name}")
    return 0


def _banner(text: str) -> None:
    line = "=" * len(text)
    print(f"\n{line}\n{text}\n{line}\n", flush=True)


def _run(args: argparse.Namespace) -> int:
    from app.registry import Registry
    from app.runner.process import raise_on_signals
    from app.runner.runner import GuardedRunner
    from app.settings import get_settings

    raise_on_signals()
    datadir, synthetic = choose_datadir(args.datadir)
    if synthetic:
        _banner(
            f"SYNTHETIC DATA: no exchange candles found, so the demo uses the generated "
            f"sample in {datadir}. The numbers below are NOT real market results."
        )
    else:
        _banner(f"Backtesting {STRATEGY} offline on the candles in {datadir}")
    settings = get_settings()
    runner = GuardedRunner(settings, lambda: Registry.from_settings(settings), offline=True)
    argv = ["backtesting", "-c", str(CONFIG), "--strategy", STRATEGY, "--datadir", str(datadir)]
    code = runner.run(argv)
    runs = runner.registry.list_runs(strategy=STRATEGY, kind="backtest", limit=1)
    if runs:
        run = runs[0]
        print(f"\nRecorded as {run.run_id} ({run.status}).")
        print(f"Details: tradingbot registry show {run.run_id}")
    if synthetic:
        print("Reminder: these results come from SYNTHETIC data.")
    return code

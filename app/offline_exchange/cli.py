"""``tradingbot offline-exchange``: the loopback exchange on its own, in the foreground."""

from __future__ import annotations

import argparse
import json
import signal
import threading
from pathlib import Path


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "offline-exchange",
        help="serve Binance's public API from local candle files on 127.0.0.1",
        description=(
            "Answer what Freqtrade and ccxt ask Binance for (exchangeInfo, klines, tickers, "
            "depth, time) from the feather files in --datadir. Prints the URL and the config "
            "overlay to merge into a Freqtrade config, then serves until SIGINT/SIGTERM."
        ),
    )
    parser.add_argument("--datadir", type=Path, required=True, help="folder of candle files")
    parser.add_argument("--port", type=int, default=0, help="TCP port (default: a free one)")
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    parser.add_argument(
        "--allow-remote",
        action="store_true",
        help="allow --host to be a non-loopback address (the server has no authentication)",
    )
    parser.add_argument(
        "--mode",
        choices=("historic", "replay"),
        default="historic",
        help="historic: candles at their own times; replay: shifted to end now and advancing "
        "with the clock (for dry-run)",
    )
    parser.add_argument(
        "--futures", action="store_true", help="print the overlay for USD-M futures configs"
    )
    parser.add_argument(
        "--faults",
        type=Path,
        metavar="FILE",
        help='inject the faults of FILE ({"events": [...]}, times from the start; see '
        "docs/OFFLINE.md)",
    )
    parser.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    from app.errors import ConfigError
    from app.offline_exchange.overlay import ccxt_overlay
    from app.offline_exchange.replay import Mode
    from app.offline_exchange.server import OfflineExchange

    if not 0 <= args.port <= 65535:
        raise ConfigError(f"--port {args.port} is not a TCP port; use 0-65535 (0 = a free one)")
    schedule = None
    if args.faults is not None:
        from app.offline_exchange.faults import load_fault_file, require_replay

        schedule = load_fault_file(args.faults)
        require_replay(schedule, Mode(args.mode))
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    exchange = OfflineExchange(
        args.datadir,
        host=args.host,
        port=args.port,
        mode=Mode(args.mode),
        allow_remote=args.allow_remote,
        faults=schedule,
    )
    with exchange:
        markets = exchange.state.store
        print(
            f"Offline exchange ({args.mode}) serving {args.datadir} at {exchange.url}", flush=True
        )
        print(f"markets: {len(markets.spot)} spot, {len(markets.futures)} futures", flush=True)
        print("config overlay:", json.dumps(ccxt_overlay(exchange.url, futures=args.futures)))
        for event in schedule.events if schedule else ():
            print(f"fault: {event.describe()} at {event.at_s:g}-{event.end_s:g} s", flush=True)
        print("Press Ctrl-C to stop.", flush=True)
        stop.wait()
    print("Offline exchange stopped.", flush=True)
    return 0

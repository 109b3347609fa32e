"""Offline exchange speed.

    .venv/bin/python benchmarks/bench_offline.py [--rounds 3] [--requests 500]

1. The same Freqtrade backtest (MaCrossoverStrategy, the 7 shared pairs) against the
   offline exchange and against a minimal static ``exchangeInfo`` stub (a bare
   ``http.server`` answering one prebuilt document), alternating, in one script:
   median wall times and their ratio (aim <= 1.05).
2. Request latency of the offline exchange on a keep-alive connection: ``exchangeInfo``
   and a 1000-candle ``klines`` request, median and p99 in milliseconds.

Needs ../shared/data/binance. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import http.client
import http.server
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from app.offline_exchange.overlay import ccxt_overlay
from app.offline_exchange.server import OfflineExchange

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "binance"
PAIRS = ["ADA/BTC", "DASH/BTC", "ETC/BTC", "ETH/BTC", "LTC/BTC", "NXT/BTC", "TRX/BTC"]


class _StubHandler(http.server.BaseHTTPRequestHandler):
    body = b"{}"

    def do_GET(self) -> None:
        if self.path.startswith("/api/v3/exchangeInfo"):
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(self.body)))
            self.end_headers()
            self.wfile.write(self.body)
        else:
            self.send_error(404)

    def log_message(self, *args: object) -> None:
        return


def _static_stub(exchange_info: bytes) -> http.server.ThreadingHTTPServer:
    _StubHandler.body = exchange_info
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _StubHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def _backtest(work: Path, url: str) -> float:
    overlay = work / f"overlay-{url.rsplit(':', 1)[1]}.json"
    overlay.write_text(json.dumps(ccxt_overlay(url)))
    argv = [sys.executable, "-m", "freqtrade", "backtesting", "--strategy", "MaCrossoverStrategy"]
    argv += ["-c", str(ROOT / "user_data/configs/config.backtest.json"), "-c", str(overlay)]
    argv += ["--strategy-path", str(ROOT / "user_data/strategies"), "--datadir", str(DATA)]
    argv += ["--userdir", str(work), "--export", "none", "--cache", "none", "--pairs", *PAIRS]
    start = time.perf_counter()
    subprocess.run(argv, check=True, capture_output=True, cwd=work)
    return time.perf_counter() - start


def _latency(url: str, path: str, requests: int) -> tuple[float, float]:
    host, port = url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port))
    times = []
    for _ in range(requests):
        start = time.perf_counter()
        conn.request("GET", path)
        response = conn.getresponse()
        response.read()
        times.append((time.perf_counter() - start) * 1000)
    conn.close()
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.99) - 1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--requests", type=int, default=500)
    args = parser.parse_args()
    if not DATA.is_dir():
        sys.exit(f"needs the shared data at {DATA}")
    work = Path(tempfile.mkdtemp(prefix="bench-offline-"))
    try:
        with OfflineExchange(DATA) as exchange:
            conn = http.client.HTTPConnection("127.0.0.1", exchange.port)
            conn.request("GET", "/api/v3/exchangeInfo")
            stub = _static_stub(conn.getresponse().read())
            stub_url = f"http://127.0.0.1:{stub.server_address[1]}"
            offline, static = [], []
            _backtest(work, exchange.url)  # warm the page cache and .pyc files
            for _ in range(args.rounds):
                static.append(_backtest(work, stub_url))
                offline.append(_backtest(work, exchange.url))
            stub.shutdown()
            print("Backtest, 7 shared pairs, plain freqtrade, median of", args.rounds, "runs:")
            print(f"  against a static exchangeInfo stub : {statistics.median(static):6.2f} s")
            print(f"  against the offline exchange       : {statistics.median(offline):6.2f} s")
            ratio = statistics.median(offline) / statistics.median(static)
            print(f"  ratio offline / stub               : {ratio:6.3f}  (aim <= 1.05)")
            start = int(time.mktime((2018, 1, 11, 0, 0, 0, 0, 0, 0)) * 1000)
            cases = {
                "exchangeInfo": "/api/v3/exchangeInfo",
                "klines 1000 x 5m": "/api/v3/klines?symbol=ETHBTC&interval=5m&limit=1000"
                f"&startTime={start}",
            }
            print(f"Offline exchange latency, {args.requests} keep-alive requests each:")
            for name, path in cases.items():
                median, p99 = _latency(exchange.url, path, args.requests)
                print(f"  {name:17s}: median {median:6.2f} ms, p99 {p99:6.2f} ms")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

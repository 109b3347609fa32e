"""Registry speed: recording one run, and the guard's "latest metric" query at 10,000 runs.

    .venv/bin/python benchmarks/bench_registry.py [--runs 10000] [--records 200] [--queries 2000]

Prints, for a fresh SQLite registry in a temp folder:

* record: start_run + add_metrics (20 metrics) + finish_run of one run, ms (median, p95);
* latest: ``latest_metric(strategy, "max_drawdown_account")`` with N runs recorded
  (20 strategies, 20 metrics each), ms (median, p99), next to the same SQL through a bare
  ``sqlite3`` connection (the floor), as a ratio.
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert

from app.registry import Registry
from app.registry.models import Metric, Run

METRIC_KEYS = [
    "profit_total_abs", "profit_total_pct", "trades", "wins", "losses", "draws", "winrate",
    "max_drawdown_account", "max_drawdown_abs", "sharpe", "sortino", "calmar", "profit_factor",
    "expectancy", "expectancy_ratio", "cagr", "market_change", "final_balance",
    "starting_balance", "duration_s",
]  # fmt: skip
STRATEGIES = 20
RAW_SQL = """
SELECT m.value FROM metrics m JOIN runs r ON r.run_id = m.run_id
WHERE r.strategy = ? AND r.kind = 'backtest' AND r.status = 'succeeded' AND m.key = ?
ORDER BY r.started_utc DESC, r.run_id DESC LIMIT 1
"""


def percentile(values: list[float], q: float) -> float:
    """The q-quantile (0..1) by nearest rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def bench_record(registry: Registry, count: int) -> list[float]:
    """Wall time (ms) of recording one complete run, ``count`` times."""
    metrics = {key: float(n) for n, key in enumerate(METRIC_KEYS)}
    times = []
    for _ in range(count):
        start = time.perf_counter()
        run_id = registry.start_run(kind="backtest", correlation_id="bench", strategy="Record")
        registry.add_metrics(run_id, metrics)
        registry.finish_run(run_id, status="succeeded", exit_code=0)
        times.append((time.perf_counter() - start) * 1000)
    return times


def populate(registry: Registry, runs: int) -> None:
    """Insert ``runs`` succeeded backtests with 20 metrics each, in bulk."""
    base = datetime(2026, 1, 1, tzinfo=UTC)
    run_rows, metric_rows = [], []
    for n in range(runs):
        run_id = f"run_bench_{n:06d}"
        run_rows.append(
            {
                "run_id": run_id,
                "kind": "backtest",
                "strategy": f"Strategy{n % STRATEGIES}",
                "status": "succeeded" if n % 7 else "failed",
                "started_utc": base + timedelta(minutes=n),
                "finished_utc": base + timedelta(minutes=n, seconds=30),
                "exit_code": 0,
                "correlation_id": "bench",
                "pairs": ["ETH/BTC", "LTC/BTC"],
                "params": {"buy": {"fast": n % 50}},
            }
        )
        metric_rows += [
            {"run_id": run_id, "key": key, "value": n / 1000 + k}
            for k, key in enumerate(METRIC_KEYS)
        ]
    with registry.session(write=True) as session:
        session.execute(insert(Run), run_rows)
        session.execute(insert(Metric), metric_rows)


def bench_latest(registry: Registry, queries: int) -> list[float]:
    """Wall time (ms) of latest_metric, cycling over the strategies."""
    times = []
    for n in range(queries):
        strategy = f"Strategy{n % STRATEGIES}"
        start = time.perf_counter()
        value = registry.latest_metric(strategy, "max_drawdown_account")
        times.append((time.perf_counter() - start) * 1000)
        assert value is not None
    return times


def bench_raw(database: Path, queries: int) -> list[float]:
    """The same query through a bare sqlite3 connection."""
    conn = sqlite3.connect(database)
    times = []
    for n in range(queries):
        start = time.perf_counter()
        conn.execute(RAW_SQL, (f"Strategy{n % STRATEGIES}", "max_drawdown_account")).fetchone()
        times.append((time.perf_counter() - start) * 1000)
    conn.close()
    return times


def main() -> None:
    """Run both benchmarks and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--records", type=int, default=200)
    parser.add_argument("--queries", type=int, default=2000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        database = Path(folder) / "strategies_registry.sqlite"
        registry = Registry(f"sqlite:///{database}")
        registry.upgrade()
        record = bench_record(registry, args.records)
        print(
            f"record one run (start + 20 metrics + finish), {args.records} runs: "
            f"median {statistics.median(record):.2f} ms, p95 {percentile(record, 0.95):.2f} ms"
        )
        populate(registry, args.runs)
        bench_latest(registry, 200)  # warm up the pool and statement cache
        latest = bench_latest(registry, args.queries)
        raw = bench_raw(database, args.queries)
        med, raw_med = statistics.median(latest), statistics.median(raw)
        print(
            f"latest_metric with {args.runs + args.records} runs, {args.queries} queries: "
            f"median {med:.3f} ms, p99 {percentile(latest, 0.99):.3f} ms "
            f"(bare sqlite3: median {raw_med:.3f} ms, p99 {percentile(raw, 0.99):.3f} ms; "
            f"ratio {med / raw_med:.1f}x)"
        )
        registry.close()


if __name__ == "__main__":
    main()

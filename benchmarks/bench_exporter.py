"""Scrape latency of the exporter: a 10,000-run registry and 3 polled bots.

Each scrape is a real HTTP GET of /metrics on a loopback exporter whose registry is an
SQLite file holding 10,000 runs (backtests with metrics for 40 strategies, hyperopts,
dry runs, backups) and 2,000 incidents, with three bots served by local fakes of
Freqtrade's REST API (tests/fakes/freqtrade_api.py) and three guard metrics files.

The baseline, measured side by side (alternating blocks), is the same exporter over an
empty registry with no bots: the fixed cost of HTTP and encoding. Prints median and p99
of both and their ratio.

    .venv/bin/python benchmarks/bench_exporter.py [--scrapes 400] [--runs 10000]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from sqlalchemy import insert  # noqa: E402

from app.exporter.service import build_server  # noqa: E402
from app.exporter.settings import BotTarget, ExporterSettings  # noqa: E402
from app.registry import Registry  # noqa: E402
from app.registry.models import Incident, Metric, Run  # noqa: E402
from app.risk.guard_file import GuardMetrics, guard_file  # noqa: E402
from app.settings import load_settings  # noqa: E402
from tests.fakes.freqtrade_api import FakeFreqtradeApi  # noqa: E402

T0 = datetime(2025, 1, 1, tzinfo=UTC)
KINDS = ("backtest", "backtest", "backtest", "hyperopt", "dry_run", "other")
STATUSES = ("succeeded", "succeeded", "failed", "blocked", "interrupted")


def fill_registry(db: Path, runs: int) -> None:
    """``runs`` runs, their metrics and incidents, inserted in one transaction."""
    url = f"sqlite:///{db}"
    registry = Registry(url)
    registry.upgrade()
    rows, metrics, incidents = [], [], []
    for n in range(runs):
        kind = KINDS[n % len(KINDS)]
        started = T0 + timedelta(minutes=10 * n)
        run_id = f"run_{n:06d}"
        rows.append({
            "run_id": run_id, "kind": kind, "strategy": f"Strategy{n % 40}",
            "status": STATUSES[n % len(STATUSES)], "started_utc": started,
            "finished_utc": started + timedelta(minutes=5), "correlation_id": f"c{n}",
            "params": {"operation": "backup"} if kind == "other" else None,
        })  # fmt: skip
        if kind == "backtest":
            metrics += [{"run_id": run_id, "key": key, "value": 0.01 * (n % 50)}
                        for key in ("max_drawdown_account", "profit_total", "winrate")]  # fmt: skip
        if n % 5 == 0:
            incidents.append({
                "incident_id": f"incident_{n}", "run_id": run_id, "severity": "warning",
                "description": "refused", "correlation_id": f"c{n}", "created_utc": started,
            })  # fmt: skip
    with registry.session(write=True) as session:
        session.execute(insert(Run), rows)
        session.execute(insert(Metric), metrics)
        session.execute(insert(Incident), incidents)
    registry.close()


def scrape_ms(url: str) -> float:
    started = time.perf_counter()
    with urllib.request.urlopen(url, timeout=30) as answer:
        answer.read()
    return (time.perf_counter() - started) * 1000


def summary(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[int(len(ordered) * 0.99) - 1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scrapes", type=int, default=400)
    parser.add_argument("--runs", type=int, default=10_000)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench-exporter-"))
    full_state, empty_state = root / "full" / "state", root / "empty" / "state"
    started = time.perf_counter()
    fill_registry(root / "full.sqlite", args.runs)
    Registry(f"sqlite:///{root / 'empty.sqlite'}").upgrade()
    for n in range(3):
        path = guard_file(full_state, f"bot{n}")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(GuardMetrics(bot=f"bot{n}", strategy="S", updated=1.0).to_text())
    print(f"registry of {args.runs:,} runs filled in {time.perf_counter() - started:.1f} s")

    apis = [FakeFreqtradeApi(username="u", password="p").start() for _ in range(3)]
    bots = tuple(BotTarget(f"bot{n}", api.url, "u", "p") for n, api in enumerate(apis))
    full = build_server(
        load_settings({"RISK_STATE_DIR": str(full_state),
                       "RISK_DB_PATH": str(root / "full.sqlite")}, dotenv_path=None),
        ExporterSettings(bots=bots), host="127.0.0.1", port=0,
    ).start()  # fmt: skip
    empty = build_server(
        load_settings({"RISK_STATE_DIR": str(empty_state),
                       "RISK_DB_PATH": str(root / "empty.sqlite")}, dotenv_path=None),
        ExporterSettings(), host="127.0.0.1", port=0,
    ).start()  # fmt: skip
    try:
        for server in (full, empty):  # warm up: connections, first queries
            for _ in range(10):
                scrape_ms(f"{server.url}/metrics")
        sides: dict[str, list[float]] = {"full": [], "empty": []}
        block = 20
        for _ in range(max(args.scrapes // block, 1)):
            for side, server in (("empty", empty), ("full", full)):
                sides[side] += [scrape_ms(f"{server.url}/metrics") for _ in range(block)]
    finally:
        full.shutdown()
        empty.shutdown()
        for api in apis:
            api.stop()
    base_median, base_p99 = summary(sides["empty"])
    median, p99 = summary(sides["full"])
    print(f"{len(sides['full'])} scrapes each side (alternating blocks of {block})")
    print(
        f"baseline: empty registry, no bots   median {base_median:7.2f} ms  p99 {base_p99:7.2f} ms"
    )
    print(
        f"{args.runs:,} runs, 3 bots, 3 guard files  median {median:7.2f} ms  p99 {p99:7.2f} ms"
        f"  (x{median / base_median:.1f} / x{p99 / base_p99:.1f} of baseline; aim p99 <= 50 ms)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Child process for the concurrency tests: waits for a start file, then records runs.

Usage: python writer_process.py URL WORKER_ID COUNT START_FILE
Each run gets three metrics and is finished, i.e. three write transactions per run.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from app.registry import Registry


def main() -> int:
    url, worker, count, start_file = sys.argv[1], sys.argv[2], int(sys.argv[3]), Path(sys.argv[4])
    while not start_file.exists():  # a crude barrier: every writer starts at the same moment
        time.sleep(0.005)
    registry = Registry(url)
    for n in range(count):
        run_id = registry.start_run(
            kind="backtest", correlation_id=f"w{worker}", strategy=f"Worker{worker}"
        )
        registry.add_metrics(run_id, {"n": n, "max_drawdown_account": n / 1000})
        registry.finish_run(run_id, status="succeeded", exit_code=0)
    registry.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""What redacting Freqtrade's output costs: log records through the child's LogWatch, and
output lines through the runner's pump, each against the same work without redaction.

    .venv/bin/python benchmarks/bench_redaction.py [--records 20000] [--repeat 7]

* **log records**: ``logging`` records (a Freqtrade-like line, every 10th with a
  config-like dict) written by a rotating file handler after ``dictConfig``, as
  Freqtrade's ``--logfile`` does; baseline: the stock record factory, then the same
  with :class:`app.runner.childlog.LogWatch` installed;
* **pumped output**: the same number of lines written by a child process to a pipe and
  copied to a file by :class:`app.runner.pump.OutputPump`; baseline: the child writing
  to the file directly.

Sides alternate; the script prints medians and ratios (redacted / plain).
"""

from __future__ import annotations

import argparse
import logging
import logging.config
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from app.redaction import Redactor
from app.runner.childlog import LogWatch
from app.runner.pump import OutputPump

SECRET = "bench-Secret-Value-0123456789"
REDACTOR = Redactor.from_sources(
    {"FREQTRADE__API_SERVER__PASSWORD": SECRET, "FREQTRADE__EXCHANGE__KEY": "k" * 40}
)
WRITER = r"""
import sys
n = int(sys.argv[1])
out = sys.stdout
for i in range(n):
    out.write(f"2026-01-01 00:00:00,000 - freqtrade.worker - INFO - heartbeat {i} ETH/BTC\n")
out.flush()
"""


def _configure(logfile: Path) -> None:
    logging.config.dictConfig(
        {
            "version": 1,
            "disable_existing_loggers": False,
            "formatters": {"standard": {"format": "%(asctime)s - %(name)s - %(message)s"}},
            "handlers": {
                "file": {
                    "class": "logging.handlers.RotatingFileHandler",
                    "formatter": "standard",
                    "filename": str(logfile),
                }
            },
            "root": {"handlers": ["file"], "level": "INFO"},
        }
    )


def time_records(folder: Path, records: int, *, redact: bool) -> float:
    """Seconds to log ``records`` records (with or without the LogWatch factory)."""
    factory = logging.getLogRecordFactory()
    if redact:
        LogWatch(REDACTOR, None, "trade").install()
    _configure(folder / f"log-{redact}.log")
    log = logging.getLogger("freqtrade.worker")
    config = {"exchange": {"name": "binance", "pair_whitelist": ["ETH/BTC"]}, "dry_run": True}
    start = time.perf_counter()
    for i in range(records):
        if i % 10 == 0:
            log.info("Using config: %s", config)
        else:
            log.info("Bot heartbeat. PID=%s, version='2026.9', state='RUNNING'", i)
    elapsed = time.perf_counter() - start
    logging.setLogRecordFactory(factory)
    for handler in logging.getLogger().handlers:
        handler.close()
    return elapsed


def time_pump(folder: Path, lines: int, *, redact: bool) -> float:
    """Seconds for a child to write ``lines`` lines to a file (through the pump or not)."""
    target = folder / f"out-{redact}.txt"
    command = [sys.executable, "-c", WRITER, str(lines)]
    start = time.perf_counter()
    with target.open("w") as out:
        if not redact:
            subprocess.run(command, stdout=out, check=True)
        else:
            pump = OutputPump(out, sys.stderr, REDACTOR)
            child_out, _ = pump.child_fds
            proc = subprocess.Popen(command, stdout=child_out)
            pump.start()
            proc.wait()
            pump.close()
    return time.perf_counter() - start


def _report(name: str, plain: list[float], redacted: list[float], count: int) -> None:
    base, ours = statistics.median(plain), statistics.median(redacted)
    print(
        f"{name}: plain {base * 1e6 / count:.2f} us/line, redacted {ours * 1e6 / count:.2f} "
        f"us/line, ratio {ours / base:.2f}x (medians of {len(plain)})"
    )


def main() -> None:
    """Time both sides alternately and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        plain: list[float] = []
        redacted: list[float] = []
        for _ in range(args.repeat):
            plain.append(time_records(folder, args.records, redact=False))
            redacted.append(time_records(folder, args.records, redact=True))
        _report("log records", plain, redacted, args.records)
        plain, redacted = [], []
        for _ in range(args.repeat):
            plain.append(time_pump(folder, args.records, redact=False))
            redacted.append(time_pump(folder, args.records, redact=True))
        _report("pumped output", plain, redacted, args.records)


if __name__ == "__main__":
    main()

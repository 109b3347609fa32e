"""Cost of one breaker check by the in-bot guard, hardened reader versus the previous one.

The guard asks :class:`app.circuit_breaker.BreakerCache` on every loop and entry. The
file is almost never changed, so the per-call cost of an *unchanged* file is what
matters. Measured side by side, alternating rounds, medians of per-call nanoseconds:

* ``cache``: today's ``BreakerCache.state`` (one ``lstat``, parsed content cached);
* ``baseline cache``: the previous algorithm, rebuilt here: ``Path.stat`` per call,
  text cached, the JSON parsed again on every call (with today's parser, which adds
  duplicate-key and NaN checks, so the baseline is, if anything, a little slower than
  the old code was);
* ``read``: today's uncached ``read_breaker`` (lstat, non-blocking open, fstat, bounded
  read) as ``status`` and the runner's gate use it once per command, against the
  previous ``Path.read_text`` + parse.

    .venv/bin/python benchmarks/bench_breaker_cache.py [--calls 20000] [--rounds 7]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.circuit_breaker import (
    BreakerCache,
    BreakerState,
    enable_breaker,
    parse_breaker,
    read_breaker,
)

NOW = datetime(2025, 8, 17, 10, 0, tzinfo=UTC)


class BaselineCache:
    """The previous BreakerCache: stat per call, text cached, parsed on every call."""

    def __init__(self, file: Path) -> None:
        self.file = file
        self._key: tuple[int, int, int] | None = None
        self._text: str | None = None

    def state(self, now: datetime) -> BreakerState:
        st = self.file.stat()
        key = (st.st_mtime_ns, st.st_size, st.st_ino)
        if key != self._key or self._text is None:
            self._text = self.file.read_text(encoding="utf-8")
            self._key = key
        return parse_breaker(self._text, self.file, now)


def baseline_read(file: Path, now: datetime) -> BreakerState:
    """The previous read_breaker: read_text, then parse."""
    return parse_breaker(file.read_text(encoding="utf-8"), file, now)


def per_call_ns(fn: Callable[[], object], calls: int) -> float:
    start = time.perf_counter_ns()
    for _ in range(calls):
        fn()
    return (time.perf_counter_ns() - start) / calls


Call = Callable[[], object]


def compare(name: str, new: Call, old: Call, args: argparse.Namespace) -> None:
    """Print medians of per-call time for ``new`` and ``old`` and their ratio."""
    news, olds = [], []
    for round_ in range(args.rounds):  # alternate which side runs first
        pair = [(new, news), (old, olds)] if round_ % 2 == 0 else [(old, olds), (new, news)]
        for fn, out in pair:
            out.append(per_call_ns(fn, args.calls))
    new_ns, old_ns = statistics.median(news), statistics.median(olds)
    print(
        f"{name:<8} hardened {new_ns / 1000:7.2f} us/call   baseline {old_ns / 1000:7.2f} us/call"
        f"   ratio x{new_ns / old_ns:5.2f}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        file = Path(folder) / "circuit_breaker.json"
        enable_breaker(file, reason="benchmark", now=NOW, until=NOW + timedelta(hours=1))
        cache, baseline = BreakerCache(file), BaselineCache(file)
        assert cache.state(NOW) == baseline.state(NOW) == read_breaker(file, NOW)
        print(f"unchanged active breaker file, {args.calls} calls x {args.rounds} rounds")
        compare("cache", lambda: cache.state(NOW), lambda: baseline.state(NOW), args)
        compare("read", lambda: read_breaker(file, NOW), lambda: baseline_read(file, NOW), args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

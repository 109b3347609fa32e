"""The exporter's collector: every source collected at scrape time, none able to fail it.

Like node_exporter's collectors, each source (breaker, slots, registry, guard files, each
polled bot) runs on its own, concurrently in a thread pool, and reports
``tradingbot_exporter_source_up{source}`` and ``..._source_duration_seconds{source}``.
A source that raises, or is still running when the scrape's deadline passes, shows as
``source_up 0``; the samples it added before failing are kept (each is still true), and
every other source's samples are served as usual.

A source whose previous collection is still running (a hung disk, say) is not started
again: the scrape reports it down instead of piling up threads. State changes (down,
up again) are logged once each, not once per scrape.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Protocol

from prometheus_client.core import Metric

from app.exporter.catalog import Batch, families
from app.logs import Event, get_logger, log_event

_log = get_logger("exporter")
# The scraper's own timeout for the scrape in progress (X-Prometheus-Scrape-Timeout-Seconds).
_SCRAPE_TIMEOUT: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "scrape_timeout", default=None
)
# Time kept to encode and send the answer before the scraper gives up.
SEND_MARGIN_S = 0.25


@contextlib.contextmanager
def scrape_timeout(seconds: float | None) -> Iterator[None]:
    """Within this block, scrapes finish before ``seconds`` (minus a margin to send them)."""
    token = _SCRAPE_TIMEOUT.set(seconds)
    try:
        yield
    finally:
        _SCRAPE_TIMEOUT.reset(token)


class SourceError(Exception):
    """A source could not be (fully) collected; the message says why, without secrets."""


class Source(Protocol):
    """One thing the exporter reads at scrape time."""

    name: str

    def collect(self, batch: Batch, now: float) -> None:
        """Add samples to ``batch``; raise (any exception) when the source failed.

        ``now`` is the scrape's time (Unix seconds). Must bound its own waiting (timeouts).
        """
        ...


class _Runner:
    """Runs one source; remembers whether a collection is in flight and the last state."""

    def __init__(self, source: Source) -> None:
        self.source = source
        self.busy = threading.Lock()
        self.problem: str | None = None
        self.reported_down = False

    def run(self, batch: Batch, now: float) -> tuple[bool, float, str | None]:
        """Collect into ``batch``; (ok, seconds, problem). Releases ``busy`` when done."""
        started = time.perf_counter()
        try:
            self.source.collect(batch, now)
        except SourceError as exc:
            return False, time.perf_counter() - started, str(exc)
        except Exception as exc:  # noqa: BLE001  # one failing source never fails the scrape
            return False, time.perf_counter() - started, f"{type(exc).__name__}: {exc}"
        finally:
            self.busy.release()
        return True, time.perf_counter() - started, None


class TradingbotCollector:
    """A prometheus-client custom collector over the given sources."""

    def __init__(
        self,
        sources: Sequence[Source],
        *,
        deadline_s: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        names = [s.name for s in sources]
        if len(set(names)) != len(names):
            raise ValueError(f"source names repeat: {names}")
        self._runners = [_Runner(source) for source in sources]
        self._deadline_s = deadline_s
        self._clock = clock
        self._pool = ThreadPoolExecutor(
            max_workers=max(1, len(sources)), thread_name_prefix="exporter-source"
        )

    def close(self) -> None:
        """Stop the worker threads (a hung collection is abandoned)."""
        self._pool.shutdown(wait=False, cancel_futures=True)

    def collect(self) -> Iterator[Metric]:
        """Called by prometheus-client for every scrape.

        Waits for the sources until the deadline: the configured one, or sooner when the
        scraper said it gives up earlier (a late answer would fail the whole scrape).
        """
        now = self._clock()
        started = time.perf_counter()
        deadline = self._deadline_s
        scraper = _SCRAPE_TIMEOUT.get()
        if scraper is not None:
            deadline = max(min(deadline, scraper - SEND_MARGIN_S), 0.05)
        status = Batch()
        work: list[tuple[_Runner, Batch, Future[tuple[bool, float, str | None]] | None]] = []
        for runner in self._runners:
            batch = Batch()
            if runner.busy.acquire(blocking=False):
                work.append((runner, batch, self._pool.submit(runner.run, batch, now)))
            else:
                work.append((runner, batch, None))
        batches = [status]
        for runner, batch, future in work:
            ok, seconds, problem = self._outcome(future, started, deadline)
            if future is not None and future.done():
                batches.append(batch)
            self._report(runner, ok, problem)
            name = runner.source.name
            status.add("tradingbot_exporter_source_up", 1.0 if ok else 0.0, source=name)
            status.add("tradingbot_exporter_source_duration_seconds", seconds, source=name)
        yield from families(batches)

    @staticmethod
    def _outcome(
        future: Future[tuple[bool, float, str | None]] | None, started: float, deadline: float
    ) -> tuple[bool, float, str | None]:
        if future is None:
            return False, 0.0, "its collection from an earlier scrape is still running"
        remaining = deadline - (time.perf_counter() - started)
        try:
            return future.result(timeout=max(remaining, 0.0))
        except FutureTimeout:
            return False, time.perf_counter() - started, f"timed out after {deadline:g} s"

    @staticmethod
    def _report(runner: _Runner, ok: bool, problem: str | None) -> None:
        name = runner.source.name
        if not ok and (not runner.reported_down or problem != runner.problem):
            log_event(_log, logging.WARNING, Event.EXPORTER_SOURCE_DOWN, source=name, error=problem)
            runner.reported_down = True
        elif ok and runner.reported_down:
            log_event(_log, logging.INFO, Event.EXPORTER_SOURCE_UP, source=name)
            runner.reported_down = False
        runner.problem = problem

"""Live or dead: heartbeats of running runs, and how a dead run is recognised.

A run is ``running`` from :meth:`Registry.start_run` until :meth:`Registry.finish_run`.
If its process dies first (``kill -9``, a host that goes down) nobody finishes it, so:

* **Heartbeat.** The process that started a run refreshes its ``heartbeat_utc`` every
  :func:`heartbeat_interval` seconds from one daemon thread per registry (a single
  ``UPDATE`` of the runs it has open), until it finishes them.
* **Same host.** A run whose ``host`` is this host is dead when its ``pid`` no longer
  runs, is a zombie, or belongs to a process started after the run (pid reused).
* **Other hosts** (a shared PostgreSQL registry): a run is presumed dead when its last
  sign of life (``heartbeat_utc``, else ``started_utc``) is older than ``stale_after``
  seconds (``RISK_CONCURRENCY_TTL_SEC``, 900 by default). Heartbeats and this comparison
  use the *database's* clock on PostgreSQL, so clock skew between hosts does not count.

Whoever looks -- the next run, a slot reclaim, ``tradingbot registry runs/show/...`` --
marks dead runs ``interrupted`` with the reason (:meth:`Registry.mark_interrupted_runs`).
A run presumed dead that is in fact alive (a host cut off from the database longer than
the bound) sets itself back to ``running`` with its next heartbeat, and may still finish.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import UTC, datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from app.processes import process_gone
from app.redaction import Redactor
from app.registry.models import Run
from app.registry.records import RunRecord
from app.threads import start_thread

HEARTBEAT_MAX_INTERVAL_S = 30.0
DEFAULT_STALE_AFTER_S = 900.0


def heartbeat_interval(stale_after: float) -> float:
    """Seconds between heartbeats: 30, or a third of the bound when that is shorter."""
    return max(min(HEARTBEAT_MAX_INTERVAL_S, stale_after / 3), 0.2)


def db_now(session: Session) -> datetime:
    """The database's clock on PostgreSQL (one clock for every host), else this host's."""
    if session.get_bind().dialect.name == "postgresql":
        value = session.execute(select(func.now())).scalar_one()
        if isinstance(value, datetime) and value.tzinfo is not None:
            return value.astimezone(UTC)
    return datetime.now(UTC)


def last_sign_of_life(run: Run) -> datetime:
    """When the run was last known to be alive."""
    return max(run.heartbeat_utc or run.started_utc, run.started_utc)


def dead_reason(run: Run, *, host: str, now: datetime, stale_after: float) -> str | None:
    """Why the running ``run`` is dead, or None while it may be alive (module docstring)."""
    if run.host == host and run.pid is not None:
        gone = process_gone(run.pid, run.started_utc.timestamp())
        if gone is None:
            return None
        return f"runner pid {run.pid} on host {host} is gone ({gone})"
    age = (now - last_sign_of_life(run)).total_seconds()
    if age <= stale_after:
        return None
    where = f"host {run.host}" if run.host else "an unknown host"
    return (
        f"no heartbeat from {where} for {age:.0f} s (more than {stale_after:.0f} s, "
        "RISK_CONCURRENCY_TTL_SEC): its runner is presumed gone"
    )


class RunHeartbeat:
    """One daemon thread that calls ``beat(run_ids)`` every ``interval`` seconds while this
    process has runs open; it stops when none is left and starts again with the next."""

    def __init__(self, beat: Callable[[list[str]], None], interval: float) -> None:
        self._beat = beat
        self.interval = interval
        self._runs: set[str] = set()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def add(self, run_id: str) -> None:
        """Keep ``run_id`` alive until :meth:`discard`."""
        with self._lock:
            self._runs.add(run_id)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._loop, name="run-heartbeat", daemon=True
                )
                start_thread(self._thread)

    def discard(self, run_id: str) -> None:
        """Stop refreshing ``run_id``."""
        with self._lock:
            self._runs.discard(run_id)

    def open_runs(self) -> list[str]:
        """The runs this process keeps alive."""
        with self._lock:
            return sorted(self._runs)

    def _loop(self) -> None:
        while True:
            time.sleep(self.interval)
            with self._lock:
                runs = sorted(self._runs)
                if not runs:
                    self._thread = None
                    return
            # A heartbeat that cannot be written (database busy or gone) is simply late;
            # the bound is many intervals long. It must never kill the run.
            with contextlib.suppress(Exception):
                self._beat(runs)


class LiveRuns:
    """The registry's heartbeat and dead-run methods (mixed into ``Registry``)."""

    host: str
    stale_after_sec: float
    redactor: Redactor
    _heartbeat: RunHeartbeat

    def session(self, *, write: bool = False) -> AbstractContextManager[Session]:
        """A session in one transaction (``Registry.session``)."""
        raise NotImplementedError

    def _owns_interrupted(self, run: Run) -> bool:
        return run.status == "interrupted" and (run.host, run.pid) == (self.host, os.getpid())

    def _beat(self, run_ids: list[str]) -> None:
        """Refresh the heartbeat of this process's open runs (called by the heartbeat thread)."""
        with self.session(write=True) as session:
            now = db_now(session)
            mine = Run.run_id.in_(run_ids)
            session.execute(
                update(Run).where(mine, Run.status == "running").values(heartbeat_utc=now)
            )
            # Presumed dead by another host while this one could not reach the database:
            # the run is alive after all.
            session.execute(
                update(Run)
                .where(mine, Run.status == "interrupted", Run.host == self.host)
                .where(Run.pid == os.getpid())
                .values(
                    status="running",
                    heartbeat_utc=now,
                    finished_utc=None,
                    exit_code=None,
                    end_reason=None,
                )
            )

    def open_runs(self) -> list[str]:
        """Runs this process started and has not finished (kept alive by its heartbeat)."""
        return self._heartbeat.open_runs()

    def mark_interrupted_runs(self) -> list[RunRecord]:
        """Mark every ``running`` run whose runner is gone as ``interrupted``; return them.

        Same host: its pid is gone (or reused). Any host: no heartbeat for
        ``stale_after_sec`` by the database's clock (see ``lifecycle.py``). Reads first and
        writes only when it found a dead run, re-checking it under a row lock.
        """
        running = select(Run).where(Run.status == "running")
        with self.session() as session:
            now = db_now(session)
            dead = {
                run.run_id: why
                for run in session.scalars(running)
                if (why := self._dead_reason(run, now)) is not None
            }
        if not dead:
            return []
        marked: list[RunRecord] = []
        with self.session(write=True) as session:
            now = db_now(session)
            rows = session.scalars(running.where(Run.run_id.in_(dead)).with_for_update())
            for run in rows:
                why = self._dead_reason(run, now)  # a heartbeat may have come meanwhile
                if why is None:
                    continue
                run.status = "interrupted"
                run.finished_utc = last_sign_of_life(run)
                run.end_reason = self.redactor.redact(why)
                marked.append(RunRecord.from_row(run))
        return marked

    def _dead_reason(self, run: Run, now: datetime) -> str | None:
        if run.host == self.host and run.pid == os.getpid():
            return None  # this very process
        return dead_reason(run, host=self.host, now=now, stale_after=self.stale_after_sec)

"""The Dask cluster a sweep runs on: an operator's (``--scheduler``) or a local one (``--workers``).

``--scheduler tcp://HOST:PORT`` connects to a running ``dask scheduler`` (its workers
started by the operator with ``dask worker tcp://HOST:PORT --nthreads 1``). ``--workers
N`` starts a ``LocalCluster`` of N worker processes (one thread each) on this machine
for the sweep and tears it down afterwards. Neither: the sweep runs in process as it
always did, and this module is not imported.

A bad or unreachable address is a :class:`ConfigError` naming the flag and the value,
raised before anything is recorded. Workers report each job attempt on the sweep's topic
(``log_event``); :class:`Cluster` routes those events to the thread that waits for that
job.

Concurrency slots: jobs of a ``--workers`` cluster run on this machine, so each holds a
``RISK_MAX_CONCURRENT_BACKTESTS`` slot here like an in-process run. Jobs on a
``--scheduler`` cluster run on other machines: each still writes a slot lock file here
(so ``ls user_data/state/running`` shows what the sweep runs) but they are not limited by
this machine's setting; the cluster's size is their limit (one job per worker process).
"""

from __future__ import annotations

import logging
import queue
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from app.errors import ConfigError

_ADDRESS = re.compile(r"^(tcp|tls)://(\[[0-9a-fA-F:]+\]|[A-Za-z0-9_.-]+):(\d{1,5})$")
CONNECT_TIMEOUT_SEC = 10.0
WORKER_WAIT_SEC = 60.0
MAX_LOCAL_WORKERS = 256


def check_scheduler(address: str) -> str:
    """``address`` when it is ``tcp://HOST:PORT`` (or ``tls://``); else :class:`ConfigError`."""
    match = _ADDRESS.match(address.strip())
    if match is None or not 0 < int(match.group(3)) < 65536:
        raise ConfigError(
            f"--scheduler {address!r} is not a Dask scheduler address; use tcp://HOST:PORT, "
            "e.g. tcp://10.0.0.5:8786 (what `dask scheduler` prints)"
        )
    return address.strip()


def check_workers(count: int) -> int:
    """``count`` when it is a sensible number of local worker processes."""
    if not 1 <= count <= MAX_LOCAL_WORKERS:
        raise ConfigError(
            f"--workers {count} is not valid; use a whole number from 1 to {MAX_LOCAL_WORKERS} "
            "(worker processes on this machine)"
        )
    return count


@dataclass
class Cluster:
    """A connected Dask client and the routing of its workers' job events."""

    client: Any  # distributed.Client
    local: bool  # True for --workers: jobs run on this machine
    description: str
    _routes: dict[str, queue.Queue[dict[str, Any]]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def listen(self, topic: str) -> None:
        """Route the events of ``topic`` (a sweep's) to the queues of :meth:`route`."""
        self.client.subscribe_topic(topic, self._on_event)

    def _on_event(self, event: Any) -> None:
        # Runs in the client's event loop thread: only hand the message over.
        message = event[1] if isinstance(event, tuple) else event
        if not isinstance(message, dict):
            return
        with self._lock:
            target = self._routes.get(str(message.get("job")))
        if target is not None:
            target.put(message)

    def route(self, job: str) -> queue.Queue[dict[str, Any]]:
        """A queue that receives the events of ``job`` from now on."""
        with self._lock:
            return self._routes.setdefault(job, queue.Queue())

    def forget(self, job: str) -> None:
        with self._lock:
            self._routes.pop(job, None)

    def worker_count(self) -> int:
        return len(self.client.scheduler_info(n_workers=-1).get("workers", {}))


def _quiet_dask() -> None:
    # Dask logs every lost connection and retried task at WARNING on stderr, which would
    # draw over the progress bar; the sweep reports what matters itself.
    for name in ("distributed", "distributed.client", "distributed.worker", "tornado"):
        logging.getLogger(name).setLevel(logging.ERROR)


def _prewarm(client: Any) -> None:
    """Start every worker's zygote now: it imports Freqtrade while the client prepares."""
    from app.sweep.worker import prewarm

    try:
        client.run(prewarm)
    except Exception as exc:  # noqa: BLE001  # a job starts its zygote itself anyway
        logging.getLogger("tradingbot.sweep").debug("prewarm failed: %s", exc)


@contextmanager
def connect(scheduler: str | None, workers: int | None) -> Iterator[Cluster]:
    """Connect to ``scheduler`` or start ``workers`` local worker processes; close after."""
    from distributed import Client, LocalCluster

    _quiet_dask()
    if scheduler is not None:
        address = check_scheduler(scheduler)
        try:
            client = Client(address, timeout=CONNECT_TIMEOUT_SEC, set_as_default=False)
        except (OSError, TimeoutError) as exc:
            raise ConfigError(
                f"--scheduler {address}: no Dask scheduler answered within "
                f"{CONNECT_TIMEOUT_SEC:.0f} s ({exc}); start one there with `dask scheduler` "
                "or fix the address"
            ) from None
        try:
            try:
                client.wait_for_workers(1, timeout=WORKER_WAIT_SEC)
            except TimeoutError:
                raise ConfigError(
                    f"--scheduler {address} has no workers (waited {WORKER_WAIT_SEC:.0f} s); "
                    f"start some with `dask worker {address} --nthreads 1`"
                ) from None
            _prewarm(client)
            yield Cluster(client, local=False, description=f"Dask cluster {address}")
        finally:
            client.close()
        return
    count = check_workers(workers or 1)
    local = LocalCluster(
        n_workers=count,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
        silence_logs=logging.ERROR,
    )
    try:
        client = Client(local, set_as_default=False)
        _prewarm(client)
        try:
            yield Cluster(client, local=True, description=f"{count} local Dask worker(s)")
        finally:
            client.close()
    finally:
        local.close()

"""Is a process, or any process of a run, still alive on this host?

Used by the concurrency slots (a slot is never reclaimed while a process of its run
lives) and by the run registry (a run whose runner is gone is shown as interrupted).

Every process of a guarded run carries the environment variable
:data:`PROCESS_TAG_ENV` with a value unique to the run: the runner sets it when it starts
the Freqtrade supervisor, and every descendant inherits it -- loky workers, the
multiprocessing forkserver and resource trackers, and processes that called ``setsid``
or were re-parented to init. Linux shows a process's initial environment in
``/proc/PID/environ``, so the run's processes can be found whatever their parent,
group or session. Processes of other users cannot be inspected without privileges; they
are not found (a limit stated in the RUNBOOK).
"""

from __future__ import annotations

from dataclasses import dataclass

import psutil

PROCESS_TAG_ENV = "TRADINGBOT_PROCESS_TAG"
# psutil's create_time is rounded to the clock tick; a process is "younger" than a record
# only when it started clearly after it.
_CLOCK_SLACK_S = 1.0


@dataclass(frozen=True)
class RunProcesses:
    """How to find a run's processes (recorded in its slot file)."""

    supervisor_pid: int  # the Freqtrade supervisor, the runner's child
    process_group: int  # the supervisor's process group (Freqtrade and its workers)
    tag: str  # the value of PROCESS_TAG_ENV in every process of the run


def process_gone(pid: int, started: float | None) -> str | None:
    """Why ``pid`` no longer runs the process that was there at ``started`` (epoch
    seconds, or None when unknown), or None while it does.

    A zombie counts as gone; a pid that now belongs to a process started after
    ``started`` counts as gone (the pid was reused). A process that exists but cannot be
    inspected counts as alive (fail safe: nothing is reclaimed on a guess).
    """
    try:
        process = psutil.Process(pid)
        created = process.create_time()
        if process.status() == psutil.STATUS_ZOMBIE:
            return f"process {pid} has exited (zombie)"
    except psutil.NoSuchProcess:
        return f"process {pid} is not running"
    except psutil.Error:
        return None
    if started is not None and created > started + _CLOCK_SLACK_S:
        return f"pid {pid} now belongs to a process started after it"
    return None


def tagged_processes(tag: str) -> list[int]:
    """Pids of live (non-zombie) processes whose environment has ``PROCESS_TAG_ENV=tag``.

    Reads the environment of every process this user may inspect (a few milliseconds
    for a few hundred processes): called only when a run's runner is already gone.
    """
    if not tag:
        return []
    found: list[int] = []
    for process in psutil.process_iter(["status"]):
        try:
            if process.info["status"] == psutil.STATUS_ZOMBIE:
                continue
            if process.environ().get(PROCESS_TAG_ENV) == tag:
                found.append(process.pid)
        except psutil.Error:  # gone meanwhile, or another user's: not ours to judge
            continue
    return sorted(found)

"""The supervisor ends every process of a run: setsid, SIGTERM-ignoring and double-forked
ones included (app/runner/supervisor.py), with real processes and signals."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from app.processes import PROCESS_TAG_ENV, tagged_processes

# A supervisor (this process) over a "Freqtrade" that starts hostile descendants: one in
# its own session ignoring SIGTERM, one double-forked daemon in its own session.
TREE = r"""
import os, signal, subprocess, sys, time
from app.runner import supervisor

lifeline, mode = int(sys.argv[1]), sys.argv[2]
assert supervisor.become_subreaper()
pid = os.fork()
if pid == 0:
    os.close(lifeline)
    subprocess.Popen([sys.executable, "-c",
        "import os, signal, time; os.setsid(); signal.signal(signal.SIGTERM, signal.SIG_IGN);"
        "time.sleep(300)"])
    if os.fork() == 0:
        if os.fork() == 0:
            os.setsid()
            time.sleep(300)
        os._exit(0)
    time.sleep(1.0)
    print("ready", flush=True)
    if mode == "exit":
        os._exit(3)
    time.sleep(300)
    os._exit(0)
sys.exit(supervisor.Supervisor(pid, lifeline).run())
"""


def _start(mode: str) -> tuple[subprocess.Popen[str], int, str]:
    tag = "t" + os.urandom(8).hex()
    read_fd, write_fd = os.pipe()
    proc = subprocess.Popen(
        [sys.executable, "-c", TREE, str(read_fd), mode],
        pass_fds=(read_fd,),
        env={**os.environ, PROCESS_TAG_ENV: tag},
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    os.close(read_fd)
    assert proc.stdout is not None
    assert proc.stdout.readline() == "ready\n"
    return proc, write_fd, tag


def _gone_within(tag: str, seconds: float) -> list[int]:
    deadline = time.monotonic() + seconds
    while (alive := tagged_processes(tag)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return alive


@pytest.fixture(scope="module")
def ended() -> Iterator[dict[str, tuple[int, int, list[int]]]]:
    """Both stories at once (they wait on grace periods): the runner dies under one tree,
    Freqtrade's process exits under the other. Per mode: (processes before, exit code,
    survivors)."""
    started = {mode: _start(mode) for mode in ("runner_gone", "exit")}
    before = {mode: len(tagged_processes(tag)) for mode, (_, _, tag) in started.items()}
    os.close(started["runner_gone"][1])  # what the kernel does when the runner is killed
    codes = {mode: proc.wait(timeout=60) for mode, (proc, _, _) in started.items()}
    os.close(started["exit"][1])
    try:
        yield {
            mode: (before[mode], codes[mode], _gone_within(tag, 5))
            for mode, (_, _, tag) in started.items()
        }
    finally:
        for _, _, tag in started.values():
            for pid in tagged_processes(tag):
                os.kill(pid, 9)


def test_supervisor_when_runner_gone_then_every_descendant_ends(
    ended: dict[str, tuple[int, int, list[int]]],
) -> None:
    """Closing the lifeline (the runner died) ends the whole tree within a bounded time."""
    before, code, survivors = ended["runner_gone"]

    assert before == 4  # supervisor, main, setsid child ignoring SIGTERM, daemon
    assert code == 128 + 15  # Freqtrade's main ended by SIGTERM
    assert survivors == []


def test_supervisor_when_main_exits_then_leftovers_ended_and_its_code_returned(
    ended: dict[str, tuple[int, int, list[int]]],
) -> None:
    """After Freqtrade's process exits, what it left behind is ended; its code is passed on."""
    before, code, survivors = ended["exit"]

    assert before >= 3  # main may already be gone
    assert code == 3
    assert survivors == []

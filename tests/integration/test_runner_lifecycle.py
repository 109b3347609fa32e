"""A killed runner leaves no process behind and its run is shown as ended.

Real runners, real Freqtrade, real signals: an offline ``hyperopt -j 2`` (loky workers,
forkserver, resource trackers) whose runner gets SIGKILL, another whose runner gets
SIGTERM, and an offline dry-run bot (docs/OFFLINE.md's command) whose runner gets SIGKILL
-- all three at once, to share the waiting. Every process of each run is found through
the run's process tag (``app/processes.py``), whatever its parent, group or session.
"""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import pytest

from app.processes import PROCESS_TAG_ENV, tagged_processes
from tests.helpers import clean_env, make_project, run_cli

pytestmark = pytest.mark.freqtrade

PAIRS = ["ETH/BTC", "LTC/BTC"]
# Every process of a run must be gone this long after its runner was killed (the
# supervisor's own bound is 10 s for Freqtrade's clean stop + 3 s + SIGKILL).
GONE_WITHIN_S = 45.0


@dataclass(eq=False)
class Story:
    """One runner, how it was killed, and what was seen afterwards."""

    project: Path
    proc: subprocess.Popen[bytes]
    signum: int
    tag: str = ""
    killed_at: float = 0.0
    processes_at_kill: list[str] = field(default_factory=list)
    survivors: list[int] = field(default_factory=list)
    gone_after_s: float = 0.0
    exit_code: int | None = None
    runs: list[dict[str, Any]] = field(default_factory=list)


def _hyperopt(project: Path, data: Path) -> list[str]:
    args = ["-m", "app", "freqtrade", "--offline", "hyperopt"]
    args += ["-c", "user_data/configs/config.backtest.json", "--strategy", "MaCrossoverStrategy"]
    args += ["--datadir", str(data), "--pairs", *PAIRS, "--epochs", "400", "--spaces", "buy"]
    return [*args, "--hyperopt-loss", "SharpeHyperOptLossDaily", "-j", "2"]


def _offline_dry_run(data: Path) -> list[str]:
    """docs/OFFLINE.md's paper-trading command, as written there (the datadir aside)."""
    args = ["-m", "app", "freqtrade", "--offline", "--offline-datadir", str(data)]
    args += ["trade", "--dry-run", "-c", "user_data/configs/config.offline-dryrun.json"]
    return [*args, "--strategy", "MaCrossoverStrategy"]


def _spawn(project: Path, args: list[str], signum: int) -> Story:
    log = (project / "runner.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, *args],
        cwd=project,
        env=clean_env(),
        stdout=log,
        stderr=log,
        start_new_session=True,  # our signals only, never the test's terminal group
    )
    return Story(project, proc, signum)


def _tree(story: Story) -> list[str]:
    """Command lines of the runner's live descendants; reads the run's tag on the way."""
    try:
        children = psutil.Process(story.proc.pid).children(recursive=True)
    except psutil.Error:
        return []
    lines: list[str] = []
    for child in children:
        try:
            if not story.tag:
                story.tag = child.environ().get(PROCESS_TAG_ENV, "")
            lines.append(" ".join(child.cmdline()))
        except psutil.Error:  # ended meanwhile
            continue
    return lines


def _ready(story: Story) -> bool:
    """Freqtrade is at work: hyperopt's two loky workers run / the bot loops."""
    names = _tree(story)
    if not names:
        return False
    if "hyperopt" in story.proc.args:
        return sum("LokyProcess" in n for n in names) >= 2
    log = (story.project / "runner.log").read_text(errors="replace")
    return "Changing state to: RUNNING" in log


@pytest.fixture(scope="module")
def stories(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Story]]:
    """Start the three runs, kill each runner once Freqtrade is at work, watch the rest."""
    kill = make_project(tmp_path_factory.mktemp("hyperopt_kill"))
    term = make_project(tmp_path_factory.mktemp("hyperopt_term"))
    bot = make_project(tmp_path_factory.mktemp("dry_run_kill"))
    runs = [
        _spawn(kill, _hyperopt(kill, shared_data), signal.SIGKILL),
        _spawn(term, _hyperopt(term, shared_data), signal.SIGTERM),
        _spawn(bot, _offline_dry_run(shared_data), signal.SIGKILL),
    ]
    try:
        pending = list(runs)
        deadline = time.monotonic() + 240
        while pending and time.monotonic() < deadline:
            for story in list(pending):
                if story.proc.poll() is not None:  # ended by itself: a failure, shown below
                    pending.remove(story)
                elif _ready(story):
                    story.processes_at_kill = [line[:120] for line in _tree(story)]
                    story.proc.send_signal(story.signum)
                    story.killed_at = time.monotonic()
                    pending.remove(story)
            time.sleep(0.2)
        for story in runs:
            assert story.killed_at, (story.project / "runner.log").read_text()[-3000:]
            story.exit_code = story.proc.wait(timeout=120)
            end = story.killed_at + GONE_WITHIN_S
            while (alive := tagged_processes(story.tag)) and time.monotonic() < end:
                time.sleep(0.2)
            story.survivors = alive
            story.gone_after_s = time.monotonic() - story.killed_at
            result = run_cli(["registry", "runs", "--json"], story.project)
            story.runs = json.loads(result.stdout)["runs"] if result.returncode == 0 else []
        yield runs
    finally:
        for story in runs:
            if story.proc.poll() is None:
                story.proc.kill()
            for pid in tagged_processes(story.tag):
                with contextlib.suppress(psutil.Error):
                    psutil.Process(pid).kill()


def test_hyperopt_when_runner_sigkilled_then_no_process_of_the_run_remains(
    stories: list[Story],
) -> None:
    """kill -9 of the runner ends the loky workers, the forkserver and resource trackers."""
    story = stories[0]

    assert story.tag
    assert sum("LokyProcess" in p for p in story.processes_at_kill) >= 2
    assert any("resource_tracker" in p for p in story.processes_at_kill)
    assert story.exit_code == -signal.SIGKILL
    assert story.survivors == [], story.processes_at_kill


def test_hyperopt_when_runner_sigkilled_then_next_query_shows_run_interrupted(
    stories: list[Story],
) -> None:
    """The dead runner's run is not `running` forever: a registry query ends it, saying why."""
    story = stories[0]
    [run] = story.runs

    assert run["status"] == "interrupted"
    assert run["end_reason"].startswith(f"runner pid {story.proc.pid} on host ")
    assert run["end_reason"].endswith(f"(process {story.proc.pid} is not running)")


def test_hyperopt_when_runner_sigterm_then_run_interrupted_and_nothing_remains(
    stories: list[Story],
) -> None:
    """SIGTERM reaches Freqtrade through the runner; the run ends interrupted, exit 143."""
    story = stories[1]
    [run] = story.runs

    assert story.exit_code == 143
    assert story.survivors == [], story.processes_at_kill
    assert (run["status"], run["exit_code"]) == ("interrupted", 143)
    assert run["end_reason"] == "interrupted by signal 15 (SIGTERM), exit code 143"
    assert list((story.project / "user_data" / "state" / "running").glob("*.lock")) == []


def test_dry_run_when_runner_sigkilled_then_bot_stops_and_run_interrupted(
    stories: list[Story],
) -> None:
    """A paper-trading bot does not outlive its killed runner; its run is shown ended."""
    story = stories[2]
    [run] = story.runs

    assert story.exit_code == -signal.SIGKILL
    assert story.survivors == [], story.processes_at_kill
    assert (run["kind"], run["status"]) == ("dry_run", "interrupted")
    assert "is gone" in run["end_reason"]

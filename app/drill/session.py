"""A drill while it runs: its bots, its breaker, its clock; everything it sees is recorded.

All of this runs in the drill's main thread (the bots' parent-death signal is tied to the
thread that started them). The loop wakes at least twice a second: it performs the
actions that are due, notes every bot that ended, and reads the trade database so that a
trade that later disappears is noticed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from app.drill.bot import BotProcess
from app.drill.botconfig import ApiAccess, bot_command
from app.drill.evidence import BotApi, read_trades
from app.drill.expect import Check
from app.drill.observations import ActionRecord, FaultRecord, Observations, RestartRecord
from app.drill.scenario import Action, ActionEvent, Scenario
from app.errors import TradingBotError
from app.offline_exchange.fault_injector import FaultInjector
from app.risk import breaker_commands
from app.risk.incidents import IncidentRecorder

STARTUP_TIMEOUT_MS = 600_000  # a cold start of Freqtrade on a very busy machine
TICK_S = 0.5
RESUME_WAIT_MS = 120_000  # how long past the end a drill waits for entries to resume
OPEN_TRADE_WAIT_MS = 60_000  # how long a kill/stop waits for the bot to hold a trade
API_ATTEMPTS = 6  # x 5 s request timeout: up to 30 s for a busy bot to answer
LOG_TAIL_LINES = 15


@dataclass(frozen=True)
class SessionFiles:
    """Where one drill keeps its bot's files."""

    workdir: Path
    config: Path
    trades_db: Path
    breaker: Path


class DrillRecorder:
    """Records the drill's breaker incidents under the drill's run and correlation id."""

    def __init__(self, registry: IncidentRecorder, correlation_id: str, run_id: str) -> None:
        self._registry = registry
        self._correlation_id = correlation_id
        self._run_id = run_id

    def log_incident(
        self,
        *,
        severity: str,
        description: str,
        correlation_id: str,
        run_id: str | None = None,
        log_excerpt: str | None = None,
    ) -> str:
        """The breaker command's incident, tied to the drill."""
        return self._registry.log_incident(
            severity=severity,
            description=f"drill: {description}",
            correlation_id=self._correlation_id,
            run_id=self._run_id,
            log_excerpt=log_excerpt,
        )


def tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    """The last lines of a bot's output, for a report that must say why it failed."""
    if not path.is_file():
        return "(no output)"
    text = path.read_text(encoding="utf-8", errors="replace").splitlines()
    return "\n".join(text[-lines:])


class Session:
    """Runs one scenario against bots started with ``env`` in ``cwd``."""

    def __init__(
        self,
        scenario: Scenario,
        files: SessionFiles,
        *,
        cwd: Path,
        env: Mapping[str, str],
        api: ApiAccess,
        faults: FaultInjector,
        recorder: IncidentRecorder,
        clock: Callable[[], int],
        sleep: Callable[[float], None] = time.sleep,
        progress: Callable[[str], None] = lambda _text: None,
    ) -> None:
        self.scenario = scenario
        self.files = files
        self.cwd = cwd
        self.env = dict(env)
        self.api = api
        self.faults = faults
        self.recorder = recorder
        self.clock = clock
        self.sleep = sleep
        self.progress = progress
        self.bots: list[BotProcess] = []
        self.obs = Observations()

    @property
    def bot(self) -> BotProcess | None:
        """The newest bot, if it is still running."""
        return self.bots[-1] if self.bots and self.bots[-1].alive else None

    # -- BOTS -------------------------------------------------------------------------------

    def start_bot(self) -> BotProcess:
        index = len(self.bots) + 1
        workdir = self.files.workdir
        argv = bot_command(self.files.config, workdir / f"freqtrade-{index}.log")
        bot = BotProcess(
            index, argv, cwd=self.cwd, env=self.env, log_path=workdir / f"bot-{index}.log",
            api=self.api,
        )  # fmt: skip
        self.bots.append(bot)
        self.obs.bots.append(bot.life)
        self.progress(f"bot {index} starting (runner pid {bot.life.pid}, output {bot.log_path})")
        return bot

    def wait_trading(self) -> bool:
        """Wait for the first bot's first trade: that moment is the scenario's zero."""
        bot = self.bots[-1]
        deadline = self.clock() + STARTUP_TIMEOUT_MS
        while self.clock() < deadline:
            book = read_trades(self.files.trades_db)
            if book is not None and book.trades:
                self.obs.t0_ms = self.clock()
                self.progress(
                    f"bot trading; the scenario starts now (t=0), {self.scenario.duration_s:g} s"
                )
                return True
            if not bot.alive:
                self.obs.startup_problem = (
                    f"the bot exited with code {bot.life.returncode} before it traded; "
                    f"{bot.log_path} ends with:\n{tail(bot.log_path)}"
                )
                return False
            self.sleep(TICK_S)
        self.obs.startup_problem = (
            f"the bot made no trade within {STARTUP_TIMEOUT_MS // 1000} s of its start; "
            f"{bot.log_path} ends with:\n{tail(bot.log_path)}"
        )
        return False

    # -- THE TIMELINE -----------------------------------------------------------------------

    def due_ms(self, at_s: float) -> int:
        """When scenario second ``at_s`` comes, in epoch ms (restarts pause the clock)."""
        t0 = self.obs.t0_ms
        assert t0 is not None, "wait_trading() first"
        return t0 + round(at_s * 1000) + self.faults.shift_ms(at_s)

    def run_timeline(self) -> None:
        """From t0 to the end: arm the faults, perform the actions, watch."""
        t0 = self.obs.t0_ms
        assert t0 is not None, "wait_trading() first"
        self.faults.arm(t0)
        pending = list(self.scenario.actions)
        while True:
            now = self.clock()
            while pending and now >= self.due_ms(pending[0].at_s):
                self.perform(pending.pop(0))
                now = self.clock()
            self.sample()
            end = self.due_ms(self.scenario.duration_s)
            if now >= end:
                break
            due = [self.due_ms(pending[0].at_s)] if pending else []
            self.sleep(max(0.0, min(TICK_S, (min([end, *due]) - now) / 1000)))
        fault_ends = [self.faults.window_ms(e)[1] for e in self.faults.schedule.events]
        self.obs.quiet_ms = max([t0, *fault_ends, *(r.done_ms for r in self.obs.actions)])
        if any(e.check is Check.ENTRIES_RESUME for e in self.scenario.expect):
            self._await_resume()
        if self.bot is not None:
            self.obs.last_loop_ms = self._last_loop()
        self.obs.end_ms = self.clock()

    def _await_resume(self) -> None:
        """``entries_resume`` sets no deadline: when no trade has opened since the last event
        by the scenario's end, keep watching (up to ``RESUME_WAIT_MS``, while a bot runs)."""
        started = self.clock()
        deadline = started + RESUME_WAIT_MS
        while self.bot is not None and self.clock() < deadline:
            book = read_trades(self.files.trades_db)
            if book is not None and any(t.open_ms > self.obs.quiet_ms for t in book.trades):
                break
            self.sample()
            self.sleep(TICK_S)
        self.obs.resume_wait_ms = self.clock() - started

    def _last_loop(self) -> int | None:
        """When the running bot's loop last ran; asked a few times (a busy bot answers late)."""
        api = BotApi(self.api)
        for _ in range(API_ATTEMPTS):
            answer = api.last_loop_ms()
            if answer is not None or self.bot is None:
                return answer
            self.sleep(TICK_S)
        return None

    def sample(self) -> None:
        """Note ended bots, new trades, and what a restarted bot reports."""
        for bot in self.bots:
            bot.poll()
        book = read_trades(self.files.trades_db)
        if book is not None:
            for trade in book.trades:
                self.obs.seen.setdefault(trade.id, trade)
        waiting = [r for r in self.obs.restarts if r.started_ms is not None and r.api_open is None]
        if waiting and self.bot is not None:
            answer = BotApi(self.api).open_trade_ids()
            if answer is not None:
                for record in waiting:
                    record.api_open, record.api_ms = answer, self.clock()

    def perform(self, event: ActionEvent) -> None:
        """Do one action now and record it (a failure is recorded, never raised).

        The scenario's clock (faults included) is held while the action runs: stopping a
        bot waits for it to end, starting one waits until its loop runs, and on a busy
        machine either can take long. The time the scenario gives the bot is kept whole.
        """
        planned = self.due_ms(event.at_s)
        action = event.action
        began = self.clock()
        try:
            detail = self._do(event)
            ok = True
        except (TradingBotError, OSError) as exc:
            detail, ok = f"failed: {exc}", False
        done = self.clock()
        self.faults.pause(event.at_s, done - began)
        self.obs.pauses.append((began, done - began))
        self.progress(f"{self.obs.t(done)} {action.value}: {detail}")
        self.obs.actions.append(ActionRecord(action, planned, done, detail, ok, began))

    def _do(self, event: ActionEvent) -> str:
        action = event.action
        reason = f"drill {self.scenario.name}: {action.value}"
        now = datetime.now(UTC)
        if action is Action.BREAKER_ON:
            change = breaker_commands.enable(
                self.files.breaker, reason=reason, until=None, recorder=self.recorder, now=now
            )
            return f"breaker {change.state.status.value} ({self.files.breaker})"
        if action is Action.BREAKER_OFF:
            change = breaker_commands.disable(
                self.files.breaker, reason=reason, recorder=self.recorder, now=now
            )
            return f"breaker {change.state.status.value}"
        if action is Action.START_BOT:
            return self._restart(event)
        bot = self.bot
        if bot is None:
            raise OSError("no bot is running (it ended earlier)")
        waited = self._await_open_trade() if self._checks_restart else ""
        if action is Action.KILL_BOT:
            target = bot.freqtrade_pid()
            bot.kill(action.value)
            how = f"SIGKILL to Freqtrade (pid {target})"
        else:
            bot.stop(action.value)
            how = f"SIGTERM to the runner (pid {bot.life.pid})"
        book = read_trades(self.files.trades_db)
        open_before = book.open_trades() if book is not None else []
        self.obs.restarts.append(RestartRecord(self.clock(), open_before))
        open_now = f"{len(open_before)} trade(s) open"
        return f"{waited}{how}; runner exited {bot.life.returncode}; {open_now}"

    @property
    def _checks_restart(self) -> bool:
        return any(e.check is Check.TRADES_SURVIVE_RESTART for e in self.scenario.expect)

    def _await_open_trade(self) -> str:
        """Before a kill or stop that ``trades_survive_restart`` will judge, wait until the
        bot holds a trade (a restart with nothing open proves nothing); at most
        ``OPEN_TRADE_WAIT_MS``. Returns what was waited, for the action's detail."""
        began = self.clock()
        while self.bot is not None and self.clock() < began + OPEN_TRADE_WAIT_MS:
            book = read_trades(self.files.trades_db)
            if book is not None and book.open_trades():
                break
            self.sleep(TICK_S / 5)
        waited = (self.clock() - began) / 1000
        return f"waited {waited:.1f} s for an open trade; " if waited >= 0.5 else ""

    def _restart(self, event: ActionEvent) -> str:
        """Start a bot and wait until its loop runs (``perform`` holds the clock meanwhile)."""
        began = self.clock()
        new = self.start_bot()
        for record in self.obs.restarts:
            if record.started_ms is None:
                record.started_ms = new.life.started_ms
        api = BotApi(self.api)
        deadline = began + STARTUP_TIMEOUT_MS
        looped = None
        while new.alive and self.clock() < deadline:
            self.sample()
            looped = api.last_loop_ms()
            if looped is not None and looped >= new.life.started_ms:
                break
            self.sleep(TICK_S)
        paused = self.clock() - began
        state = "its loop runs" if new.alive and looped else "it did not come up"
        waited = f"{paused / 1000:.1f} s"
        return f"bot {new.life.index} started (pid {new.life.pid}); {state} after {waited}"

    @staticmethod
    def fault_records(faults: FaultInjector) -> list[FaultRecord]:
        """Each scheduled fault with its window and the requests it hit (none if not armed)."""
        if faults.origin_ms is None:
            return []
        records = []
        for index, event in enumerate(faults.schedule.events):
            start, end = faults.window_ms(event)
            records.append(FaultRecord(event, start, end, faults.hits[index]))
        return records

    def stop_all(self, by: str) -> None:
        """Stop every bot still running (SIGTERM, then SIGKILL after the timeout)."""
        for bot in self.bots:
            if bot.alive:
                bot.stop(by)

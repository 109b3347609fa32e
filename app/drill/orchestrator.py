"""``tradingbot drill``: one game day, from a checked scenario to a recorded verdict.

1. check everything that can be checked before a process starts: the scenario, the
   ``RISK_*`` settings the bot will run with, ``--datadir``/``--pairs`` (a bad input stops
   here with exit 2 or 3; nothing is written, no run is recorded);
2. record the drill as a registry run (kind ``drill``) and make its folder
   ``user_data/drills/<run_id>/``: candles, bot config, trade database, breaker, logs,
   report;
3. start the offline exchange (replay, faults not yet armed) and the bot, through the
   guarded runner, with the drill's correlation id (the runner records each start as a
   ``dry_run`` run linked to the drill);
4. when the bot has made its first trade, arm the faults and play the actions;
5. at the end ask the bot when its loop last ran, stop it, read the evidence, judge every
   expectation, write the report and record the verdict.

Exit codes: 0 every expectation held, 1 one or more failed, 2 a bad scenario or setting,
3 bad candle data, 128+N interrupted by signal N.
"""

from __future__ import annotations

import contextlib
import json
import signal
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.drill.bot import now_ms
from app.drill.botconfig import STRATEGY, ApiAccess, bot_config, bot_environment, free_port
from app.drill.evidence import read_guard_lines, read_trades
from app.drill.market import DrillMarket, materialize, plan_market
from app.drill.report import build_report
from app.drill.scenario import Scenario
from app.drill.session import DrillRecorder, Session, SessionFiles
from app.drill.verdicts import Verdict, judge
from app.errors import RegistryError
from app.offline_exchange.replay import Mode
from app.offline_exchange.server import OfflineExchange
from app.registry import Registry
from app.runner.process import Interrupted
from app.settings import RiskSettings, load_settings

EXIT_PASSED, EXIT_FAILED = 0, 1
DRILLS_DIR = "drills"


@dataclass(frozen=True)
class DrillPlan:
    """A drill whose inputs were all checked."""

    scenario: Scenario
    market: DrillMarket
    settings: RiskSettings  # what the bot will run with (operator's + scenario's)
    command: tuple[str, ...]


@dataclass(frozen=True)
class DrillResult:
    """The drill's verdict and report."""

    run_id: str
    exit_code: int
    verdicts: list[Verdict]
    report: dict[str, Any]
    report_path: Path


def plan_drill(
    scenario: Scenario,
    *,
    datadir: Path | None,
    pairs: Sequence[str] | None,
    environ: Mapping[str, str],
    command: Sequence[str],
) -> DrillPlan:
    """Check the bot's settings and the market; raise before anything is written."""
    bot_env = {k: v for k, v in environ.items() if k.upper().startswith("RISK_")}
    settings = load_settings({**bot_env, **scenario.settings})
    market = plan_market(datadir, pairs)
    return DrillPlan(scenario, market, settings, tuple(command))


@contextlib.contextmanager
def _signals_ignored() -> Iterator[None]:
    """Cleanup (stopping bots, recording) is not cut short by a second Ctrl-C."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _record_start(registry: Registry, plan: DrillPlan, correlation_id: str) -> str:
    return registry.start_run(
        kind="drill",
        correlation_id=correlation_id,
        strategy=STRATEGY,
        timeframe=plan.market.timeframe,
        pairs=plan.market.pairs,
        command=plan.command,
        params={
            "scenario": plan.scenario.to_json(),
            "datadir": "synthetic" if plan.market.synthetic else str(plan.market.datadir),
        },
    )


def run_drill(
    plan: DrillPlan,
    *,
    registry: Registry,
    correlation_id: str,
    environ: Mapping[str, str],
    project: Path = Path(),
    clock: Callable[[], int] = now_ms,
    progress: Callable[[str], None] = lambda _text: None,
) -> DrillResult:
    """Run the planned drill (see the module docstring). A SIGINT/SIGTERM (raised as
    :class:`Interrupted`) stops the bots, records the run ``interrupted`` and returns
    exit code 128 + the signal."""
    run_id = _record_start(registry, plan, correlation_id)
    workdir = project / "user_data" / DRILLS_DIR / run_id
    (workdir / "state").mkdir(parents=True)
    files = SessionFiles(
        workdir=workdir,
        config=workdir / "config.json",
        trades_db=workdir / "tradesv3.drill.sqlite",
        breaker=workdir / "state" / "circuit_breaker.json",
    )
    api = ApiAccess(free_port())
    started = clock()
    progress(f"drill {plan.scenario.name}: run {run_id}, folder {workdir}")
    interrupted: Interrupted | None = None
    session: Session | None = None
    exchange: OfflineExchange | None = None
    try:
        market = materialize(plan.market, workdir)
        exchange = OfflineExchange(
            market.datadir, mode=Mode.REPLAY, faults=plan.scenario.faults, arm_faults=False
        ).start()
        config = bot_config(market, exchange.url, files.trades_db, api.port)
        files.config.write_text(json.dumps(config, indent=2))
        env = bot_environment(
            environ,
            settings=plan.scenario.settings,
            state_dir=workdir / "state",
            correlation_id=correlation_id,
            api=api,
        )
        assert exchange.faults is not None
        session = Session(
            plan.scenario,
            files,
            cwd=project,
            env=env,
            api=api,
            faults=exchange.faults,
            recorder=DrillRecorder(registry, correlation_id, run_id),
            clock=clock,
            progress=progress,
        )
        session.start_bot()
        if session.wait_trading():
            session.run_timeline()
    except Interrupted as stop:
        interrupted = stop
    finally:
        with _signals_ignored():
            if session is not None:
                session.stop_all("drill end" if interrupted is None else "interrupted")
            if exchange is not None:
                exchange.stop()
    with _signals_ignored():
        return _conclude(plan, registry, run_id, correlation_id, session, exchange, files,
                         started, interrupted)  # fmt: skip


def _conclude(  # noqa: PLR0917  # one call site, the run's whole state
    plan: DrillPlan,
    registry: Registry,
    run_id: str,
    correlation_id: str,
    session: Session | None,
    exchange: OfflineExchange | None,
    files: SessionFiles,
    started: int,
    interrupted: Interrupted | None,
) -> DrillResult:
    """Gather the evidence, judge, report, record the verdict."""
    obs = session.obs if session is not None else None
    verdicts: list[Verdict] = []
    if obs is not None and session is not None:
        obs.book = read_trades(files.trades_db) or obs.book
        for bot in session.bots:
            obs.guard += read_guard_lines(bot.log_path, bot.life.index)
        obs.guard.sort(key=lambda line: line.ms)
        if exchange is not None and exchange.faults is not None:
            obs.faults = session.fault_records(exchange.faults)
        if interrupted is None:
            verdicts = judge(plan.scenario.expect, obs)
    try:
        runs = registry.list_runs(kind="dry_run", limit=500)
    except RegistryError:  # the verdict does not depend on it; the report just lacks the rows
        runs = []
    bot_runs = [r for r in runs if r.correlation_id == correlation_id]
    failed = [v.expectation for v in verdicts if not v.held]
    if interrupted is not None:
        exit_code, status = 128 + interrupted.signum, "interrupted"
        reason = f"interrupted by signal {interrupted.signum}"
    elif failed:
        exit_code, status = EXIT_FAILED, "failed"
        reason = f"{len(failed)} of {len(verdicts)} expectations failed: {', '.join(failed)}"
    else:
        exit_code, status = EXIT_PASSED, "succeeded"
        reason = f"all {len(verdicts)} expectations held"
    report = build_report(
        plan=plan,
        run_id=run_id,
        correlation_id=correlation_id,
        obs=obs,
        verdicts=verdicts,
        bot_runs=bot_runs,
        started_ms=started,
        workdir=files.workdir,
        status=status,
        exit_code=exit_code,
    )
    report_path = files.workdir / "report.json"
    report_path.write_text(json.dumps(report, indent=2))
    registry.add_metrics(run_id, report["metrics"])
    registry.finish_run(
        run_id, status=status, exit_code=exit_code, result_path=str(report_path), reason=reason
    )
    return DrillResult(run_id, exit_code, verdicts, report, report_path)

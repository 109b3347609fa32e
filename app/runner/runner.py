"""The guarded runner: every Freqtrade command, recorded, gated, and its results ingested.

Order of work for one command:

1. read the arguments and configuration; validate offline inputs (bad input stops here,
   before anything is written);
2. mark runs whose runner is gone as ``interrupted``, then record this run (``running``)
   with fingerprints of its inputs;
3. pass the pre-run gates (circuit breaker, concurrency slot, drawdown) -- a refusal
   records the run as ``blocked`` and exits with :data:`app.risk.gates.RunRefused.exit_code`;
4. start the offline exchange when asked, run Freqtrade as a supervised child, forward
   signals;
5. judge the outcome (``outcome.py``: Freqtrade's exit code *and* what it logged); on
   success ingest *this run's* result files into the registry; otherwise record the run
   ``failed`` or ``interrupted`` with the reason and log an incident with the log's last
   lines.

Every secret (environment, the config's credentials) is redacted from what the child
prints, from Freqtrade's log and from everything recorded.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path

from app.errors import DataError
from app.logs import CORRELATION_ID_ENV
from app.redaction import Redactor
from app.registry import Registry
from app.risk.gates import RunRefused, RunRequest, run_gates
from app.runner import ingest
from app.runner.fingerprints import data_fingerprint, find_strategy_file, strategy_hash
from app.runner.ftargs import Invocation, parse_invocation
from app.runner.ftconfig import DEFAULT_CONFIG, ResolvedConfig, config_hash, resolve
from app.runner.offline import OfflineSession, describe_source, offline_session
from app.runner.outcome import Judgement, judge, signal_name
from app.runner.paths import portable_path
from app.runner.process import ChildOutcome, FreqtradeChild, Interrupted, child_environment
from app.settings import RiskSettings

log = logging.getLogger("tradingbot.runner")

LOG_TAIL_LINES = 60


@dataclass
class RunPlan:
    """Everything decided before Freqtrade starts."""

    inv: Invocation
    cfg: ResolvedConfig | None
    kind: str
    correlation_id: str
    extra_args: list[str] = field(default_factory=list)
    logfile: Path | None = None
    result_dir: Path | None = None
    existing_results: frozenset[str] = frozenset()
    started: float = 0.0

    @property
    def strategies(self) -> list[str]:
        """The strategies this run uses: from the arguments, else from the config."""
        if self.inv.strategies:
            return list(self.inv.strategies)
        configured = self.cfg.data.get("strategy") if self.cfg is not None else None
        return [str(configured)] if configured else []

    @property
    def strategy(self) -> str | None:
        """The strategy, or the comma-joined list of a --strategy-list run."""
        return ",".join(self.strategies) or None


def new_correlation_id() -> str:
    return uuid.uuid4().hex[:12]


def make_plan(inv: Invocation, environ: Mapping[str, str]) -> RunPlan:
    """Resolve the config and decide the runner's own additions to the command line."""
    cfg = resolve(inv, environ) if inv.accepts_config else None
    # A caller that ties several runs together (a sweep) passes its id in the environment.
    correlation = environ.get(CORRELATION_ID_ENV) or new_correlation_id()
    plan = RunPlan(inv, cfg, inv.kind(cfg.dry_run if cfg else True), correlation)
    if cfg is None:
        return plan
    if not inv.configs:
        plan.extra_args += ["-c", str(DEFAULT_CONFIG)]
    logs = cfg.user_data_dir / "logs" / "freqtrade"
    if inv.logfile is None:
        plan.logfile = logs / f"{time.strftime('%Y%m%dT%H%M%S')}_{plan.correlation_id}.log"
        plan.extra_args += ["--logfile", str(plan.logfile)]
    elif ":" not in inv.logfile:
        plan.logfile = Path(inv.logfile)
    if inv.command == "backtesting":
        plan.result_dir = inv.backtest_directory or cfg.user_data_dir / "backtest_results"
        if inv.backtest_directory is None:
            plan.extra_args += ["--backtest-directory", str(plan.result_dir)]
        if inv.cache is None:
            # A cached result would not be this run's: every guarded backtest really runs.
            plan.extra_args += ["--cache", "none"]
    if inv.command == "hyperopt":
        plan.result_dir = cfg.user_data_dir / "hyperopt_results"
        if not inv.disable_param_export:
            # Parameters change only through `tradingbot params promote` (history, rollback).
            plan.extra_args.append("--disable-param-export")
    return plan


def fingerprint_inputs(plan: RunPlan) -> dict[str, object]:
    """Fingerprints and context recorded with the run."""
    cfg, inv = plan.cfg, plan.inv
    fields: dict[str, object] = {
        "timerange": inv.timerange,
        "pairs": None,
        "config_hash": None,
        "strategy_hash": None,
        "data_fingerprint": None,
        "timeframe": inv.timeframe,
        "config_path": None,
        "params": None,
    }
    if cfg is None:
        return fields
    fields.update(
        config_hash=config_hash(cfg.data),
        timeframe=cfg.timeframe,
        pairs=ingest.pairs_in(cfg) or cfg.whitelist,
        config_path=",".join(str(p) for p in cfg.files),
    )
    if len(plan.strategies) == 1:
        search = [p for p in (inv.strategy_path, cfg.data.get("strategy_path")) if p]
        search_dirs = [Path(str(p)) for p in search] + [cfg.user_data_dir / "strategies"]
        path = find_strategy_file(plan.strategies[0], search_dirs)
        if path is not None:
            fields["strategy_hash"] = strategy_hash(path)
            fields["params"] = ingest.param_file(path)
    if inv.command in ("backtesting", "hyperopt", "lookahead-analysis", "recursive-analysis"):
        fields["data_fingerprint"] = data_fingerprint(cfg.candle_dir, ingest.pairs_in(cfg))
    return fields


def _log_tail(path: Path | None) -> str | None:
    if path is None or not path.is_file():
        return None
    with path.open(errors="replace") as handle:
        return "".join(handle.readlines()[-LOG_TAIL_LINES:])


def run_redactor(plan: RunPlan, environ: Mapping[str, str]) -> Redactor:
    """The secrets of this run: secret environment values and the config's credentials."""
    configs = [plan.cfg.data] if plan.cfg is not None else []
    return Redactor.from_sources(environ, configs=configs)


class GuardedRunner:
    """Runs one Freqtrade command through the registry and the gates."""

    def __init__(
        self,
        settings: RiskSettings,
        registry: Registry | Callable[[], Registry],
        *,
        offline: bool = False,
        offline_datadir: Path | None = None,
        environ: Mapping[str, str] | None = None,
        slot_wait_sec: float = 0.0,
    ) -> None:
        self.settings = settings
        self._registry = registry
        self.offline = offline
        self.offline_datadir = offline_datadir
        self.environ = dict(os.environ if environ is None else environ)
        self.slot_wait_sec = slot_wait_sec
        self.last_run_id: str | None = None
        self.stdout_to_stderr = False  # Freqtrade's report to stderr (callers printing JSON)
        self.redactor = Redactor.from_sources(self.environ)

    def command_line(self, argv: list[str]) -> list[str]:
        """The whole command as a user would retype it (stored so that a run can be re-run)."""
        flags = ["--offline"] if self.offline else []
        if self.offline_datadir is not None:
            flags += ["--offline-datadir", str(self.offline_datadir)]
        return ["tradingbot", "freqtrade", *flags, *argv]

    @property
    def registry(self) -> Registry:
        """The registry, opened on first use: bad input is refused before anything is written."""
        if not isinstance(self._registry, Registry):
            self._registry = self._registry()
        return self._registry

    def _log(self, level: int, event: str, plan: RunPlan, run_id: str, **fields: object) -> None:
        extra = {"correlation_id": plan.correlation_id, "run_id": run_id, **fields}
        log.log(level, event, extra=extra)

    def run(self, argv: list[str], child: FreqtradeChild | None = None) -> int:
        """Run ``argv`` (Freqtrade's arguments); return the exit code (``outcome.py``).

        ``child`` is a :class:`FreqtradeChild` already importing Freqtrade (the CLI starts
        it before loading the runner); one is started here when none is given.
        """
        inv = parse_invocation(argv)
        env = child_environment(self.environ)
        quiet = self.stdout_to_stderr
        with child or FreqtradeChild(
            inv.command or "", env, stdout_to_stderr=quiet, redactor=self.redactor
        ) as ft:
            if inv.wants_help:
                return ft.run(argv).returncode
            plan = make_plan(inv, self.environ)
            self.redactor = run_redactor(plan, self.environ)
            ft.set_redactor(self.redactor)
            with self._offline(plan) as session:  # validates offline inputs before recording
                inputs = fingerprint_inputs(plan)
                registry = self.registry
                registry.redactor = registry.redactor.with_values(self.redactor.values)
                self._mark_dead_runs(plan)
                run_id = registry.start_run(
                    kind=plan.kind,
                    correlation_id=plan.correlation_id,
                    strategy=plan.strategy,
                    freqtrade_version=version("freqtrade"),
                    command=self.command_line(argv),
                    **inputs,  # type: ignore[arg-type]  # keys match start_run's keywords
                )
                self.last_run_id = run_id
                self._log(logging.INFO, "run_started", plan, run_id, kind=plan.kind)
                return self._gated(plan, run_id, session, ft)

    def _mark_dead_runs(self, plan: RunPlan) -> None:
        """Runs whose runner is gone are shown as ended before this one starts."""
        for dead in self.registry.mark_interrupted_runs():
            fields = {"reason": dead.end_reason, "found_by": plan.correlation_id}
            log.warning("run_interrupted", extra={"run_id": dead.run_id, **fields})

    def _gated(
        self, plan: RunPlan, run_id: str, session: OfflineSession | None, ft: FreqtradeChild
    ) -> int:
        request = RunRequest(
            plan.kind,
            plan.strategy,
            run_id,
            plan.correlation_id,
            processes=ft.processes,
            slot_wait_sec=self.slot_wait_sec,
        )
        try:
            with run_gates(request, self.settings, self.registry):
                outcome = self._execute(plan, run_id, session, ft)
        except RunRefused as refused:
            self.registry.finish_run(
                run_id, status="blocked", exit_code=refused.exit_code, reason=str(refused)
            )
            print(f"Refused: {refused}", file=sys.stderr)
            return refused.exit_code
        except Interrupted as stop:
            name = signal_name(stop.signum)
            reason = f"interrupted by signal {stop.signum} ({name}) before Freqtrade ran"
            self._end(plan, run_id, Judgement("interrupted", 128 + stop.signum, reason))
            return 128 + stop.signum
        except BaseException as exc:
            # Whatever stopped the runner itself (an error, Ctrl-C before Freqtrade ran),
            # the run must not stay "running" in the registry.
            reason = f"runner stopped: {type(exc).__name__}: {exc}"
            with contextlib.suppress(Exception):
                self._end(plan, run_id, Judgement("failed", 1, reason))
            raise
        return self._record(plan, run_id, outcome)

    @contextlib.contextmanager
    def _offline(self, plan: RunPlan) -> Iterator[OfflineSession | None]:
        if not self.offline or plan.cfg is None:
            yield None
            return
        with offline_session(plan.inv, plan.cfg, self.offline_datadir, self.environ) as session:
            source = self.offline_datadir or plan.cfg.datadir
            served = describe_source(source)
            print(
                f"Offline exchange ({session.mode}) at {session.url} serving {served}",
                file=sys.stderr,
            )
            yield session

    def _execute(
        self, plan: RunPlan, run_id: str, session: OfflineSession | None, ft: FreqtradeChild
    ) -> ChildOutcome:
        if plan.result_dir is not None:
            plan.result_dir.mkdir(parents=True, exist_ok=True)
        argv = [*plan.inv.argv, *plan.extra_args, *(session.extra_args if session else [])]
        plan.existing_results = ingest.snapshot(plan.result_dir)
        plan.started = time.time()
        env = {"TRADINGBOT_RUN_ID": run_id, "TRADINGBOT_CORRELATION_ID": plan.correlation_id}
        unset = session.unset_env if session else ()
        return ft.run(argv, env, unset, secrets=sorted(self.redactor.values))

    def _record(self, plan: RunPlan, run_id: str, outcome: ChildOutcome) -> int:
        """Record how the run ended; return the exit code the runner reports."""
        judgement = judge(plan.inv.command, outcome)
        if judgement.stopped:
            # SIGINT/SIGTERM is how a bot is stopped: a clean stop is a normal end.
            self.registry.finish_run(run_id, status="succeeded", exit_code=judgement.exit_code)
            self._log(logging.INFO, "run_stopped", plan, run_id, signal=outcome.signal_received)
            return judgement.exit_code
        if judgement.status == "succeeded":
            return self._ingest(plan, run_id)
        self._end(plan, run_id, judgement)
        return judgement.exit_code

    def _end(self, plan: RunPlan, run_id: str, judgement: Judgement) -> None:
        """Record a run that did not succeed: status, reason, incident, log line, stderr."""
        reason = self.redactor.redact(judgement.reason or judgement.status)
        self.registry.finish_run(
            run_id, status=judgement.status, exit_code=judgement.exit_code, reason=reason
        )
        self.registry.log_incident(
            severity="error",
            description=f"freqtrade {plan.inv.command} ({plan.kind}) {reason}",
            correlation_id=plan.correlation_id,
            run_id=run_id,
            log_excerpt=_log_tail(plan.logfile),
        )
        event = "run_interrupted" if judgement.status == "interrupted" else "run_failed"
        code = judgement.exit_code
        self._log(logging.WARNING, event, plan, run_id, reason=reason, exit_code=code)
        log_hint = f" (log: {plan.logfile})" if plan.logfile else ""
        print(
            f"Run {run_id} {judgement.status}: {reason}; exit code {judgement.exit_code}{log_hint}",
            file=sys.stderr,
        )

    def _ingest(self, plan: RunPlan, run_id: str) -> int:
        try:
            found = ingest.collect(plan)
        except DataError as exc:
            reason = f"succeeded but its results cannot be read: {exc}"
            self._end(plan, run_id, Judgement("failed", 1, reason))
            return 1
        if found is None and plan.inv.writes_results:
            # Freqtrade exits 0 on configuration errors; a run without results did not happen.
            self._end(plan, run_id, Judgement("failed", 1, "exited 0 but wrote no results"))
            return 1
        if found is not None:
            self.registry.add_metrics(run_id, found.metrics)
        self.registry.finish_run(
            run_id,
            status="succeeded",
            exit_code=0,
            result_path=portable_path(found.result_path) if found else None,
            equity_hash=found.equity_hash if found else None,
            params=found.params if found else None,
        )
        self._log(logging.INFO, "run_succeeded", plan, run_id)
        return 0

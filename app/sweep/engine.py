"""Run a walk-forward sweep through the guarded runner.

For each strategy and fold, in order: hyperopt on the training window (from the
strategy snapshot), then a backtest of the best parameters on the test window (from the
fold's copy). Every run goes through :class:`app.runner.runner.GuardedRunner`, so each
is recorded in the registry, passes the gates (circuit breaker, concurrency slot,
drawdown) and has its results ingested; all carry the sweep id as correlation id.

Everything that can be checked is checked before the first run (configs, strategies,
timerange, folds), so bad input writes nothing. A failed or refused run stops that
strategy's remaining folds (its verdict then fails) and the sweep moves on.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from app.datadirs import has_candles
from app.errors import ConfigError, DataError, TradingBotError
from app.logs import CORRELATION_ID_ENV, get_logger
from app.registry import Registry
from app.runner.ftargs import parse_invocation
from app.runner.ftconfig import resolve
from app.runner.process import Interrupted
from app.runner.runner import GuardedRunner
from app.settings import RiskSettings
from app.sweep import folds as folding
from app.sweep.criteria import PromotionPolicy, judge
from app.sweep.model import FoldResult, RunOutcome, StrategyResult, SweepResult, Verdict
from app.sweep.workspace import StrategySource, Workspace, locate

if TYPE_CHECKING:
    from app.sweep.cluster import Cluster

_log = get_logger("sweep")
# A run that did not succeed with one of these codes was stopped by SIGINT/SIGTERM.
_INTERRUPTED_CODES = frozenset({0, 128 + signal.SIGINT, 128 + signal.SIGTERM})
DEFAULT_CONFIG = Path("user_data/configs/config.backtest.json")
DEFAULT_LOSS = "RiskAwareHyperOptLoss"


@dataclass(frozen=True)
class SweepRequest:
    """Everything ``tradingbot sweep`` was asked to do (see ``app/sweep/cli.py``)."""

    strategies: list[str]
    timerange: str
    folds: int
    epochs: int
    spaces: list[str] = field(default_factory=lambda: ["buy", "sell"])
    configs: list[Path] = field(default_factory=lambda: [DEFAULT_CONFIG])
    datadir: Path | None = None
    pairs: list[str] = field(default_factory=list)
    strategy_path: Path = Path("user_data/strategies")
    hyperopt_loss: str = DEFAULT_LOSS
    random_state: int = 42
    jobs: int | None = None
    train_ratio: float = 2.0
    anchored: bool = False
    offline: bool = True
    protections: bool = True
    promote: bool = False
    min_oos_trades: int = 10
    work_dir: Path | None = None
    slot_wait_sec: float = 300.0

    def settings_json(self) -> dict[str, Any]:
        """The request as plain values (stored in the sweep summary)."""
        values = dict(self.__dict__)
        values["configs"] = [str(c) for c in self.configs]
        return {k: str(v) if isinstance(v, Path) else v for k, v in values.items()}


class Progress(Protocol):
    """What the sweep reports while it runs (the CLI shows a rich progress bar)."""

    def start(self, total: int) -> None:
        """The sweep will run ``total`` Freqtrade commands."""

    def step(self, description: str) -> None:
        """A run is about to start."""

    def advance(self) -> None:
        """A run ended (or was skipped)."""

    def begin_job(self, key: str, description: str) -> None:
        """Cluster sweeps: job ``key`` was submitted."""

    def job_worker(self, key: str, worker: str) -> None:
        """Cluster sweeps: job ``key`` runs on ``worker``."""

    def end_job(self, key: str) -> None:
        """Cluster sweeps: job ``key`` ended (counts as one run done)."""


class _NoProgress:
    def start(self, total: int) -> None:
        """Nothing to show."""

    def step(self, description: str) -> None:
        """Nothing to show."""

    def advance(self) -> None:
        """Nothing to show."""

    def begin_job(self, key: str, description: str) -> None:
        """Nothing to show."""

    def job_worker(self, key: str, worker: str) -> None:
        """Nothing to show."""

    def end_job(self, key: str) -> None:
        """Nothing to show."""


def new_sweep_id(now: datetime) -> str:
    """``sweep_20261121T101500Z_1a2b3c``: sortable, unique, a valid correlation id."""
    return f"sweep_{now:%Y%m%dT%H%M%SZ}_{secrets.token_hex(3)}"


class Sweep:
    """One walk-forward sweep."""

    def __init__(
        self,
        request: SweepRequest,
        settings: RiskSettings,
        registry: Registry | Callable[[], Registry],
        *,
        environ: Mapping[str, str] | None = None,
        now: datetime | None = None,
    ) -> None:
        self.request = request
        self.settings = settings
        self._registry = registry
        self.started = now or datetime.now(UTC)
        self.sweep_id = new_sweep_id(self.started)
        self.environ = {**(os.environ if environ is None else environ)}
        self.environ[CORRELATION_ID_ENV] = self.sweep_id
        self.policy = PromotionPolicy.from_settings(settings, min_trades=request.min_oos_trades)
        self._check_request()
        self.sources = [locate(name, request.strategy_path) for name in request.strategies]
        cfg = resolve(parse_invocation(self._common_args("backtesting")), self.environ)
        if not cfg.timeframe:
            raise ConfigError(f"config {request.configs} sets no timeframe; add one (e.g. 5m)")
        if not has_candles(cfg.candle_dir):
            raise DataError(
                f"no candle files in {cfg.candle_dir}; pass --datadir with Freqtrade feather "
                "candles (or download them: make data)"
            )
        self.candle = timedelta(seconds=folding.timeframe_seconds(cfg.timeframe))
        start, stop = folding.parse_timerange(request.timerange)
        self.folds = folding.split(
            start,
            stop,
            folds=request.folds,
            timeframe=cfg.timeframe,
            train_ratio=request.train_ratio,
            anchored=request.anchored,
        )
        root = request.work_dir or cfg.user_data_dir / "hyperopt_results" / "sweeps"
        self.workspace = Workspace(root / self.sweep_id)
        # Hyperopt's -j when --jobs is not given: Freqtrade's default (None), except on a
        # cluster, where the client's count is pinned (see app.sweep.fanout).
        self.default_jobs: int | None = None

    def _check_request(self) -> None:
        req = self.request
        if not req.strategies:
            raise ConfigError("--strategies is empty; name at least one strategy")
        if len(set(req.strategies)) != len(req.strategies):
            raise ConfigError(f"--strategies {','.join(req.strategies)} names one twice")
        if req.epochs < 1:
            raise ConfigError(f"--epochs {req.epochs} is not valid; use a whole number >= 1")
        if not req.spaces:
            raise ConfigError("--spaces is empty; e.g. --spaces buy sell")
        if req.min_oos_trades < 0:
            raise ConfigError(f"--min-oos-trades {req.min_oos_trades} must be >= 0")

    @property
    def registry(self) -> Registry:
        """The registry, opened on first use: refused input creates no database."""
        if not isinstance(self._registry, Registry):
            self._registry = self._registry()
        return self._registry

    # -- RUNNING ---------------------------------------------------------------------------

    def run(
        self,
        progress: Progress | None = None,
        *,
        capture_output: bool = True,
        cluster: Cluster | None = None,
    ) -> SweepResult:
        """Run every fold of every strategy; return the results (also in ``sweep.json``).

        With ``capture_output`` Freqtrade's output goes to ``sweep.log`` instead of the
        terminal (file descriptors 1 and 2 are redirected while the runs go on). With a
        ``cluster`` the runs go to its workers, all folds at once (:mod:`app.sweep.fanout`).
        """
        bar = progress or _NoProgress()
        self.workspace.create()
        result = SweepResult(self.sweep_id, self.request.timerange, self.request.settings_json())
        bar.start(len(self.sources) * len(self.folds) * 2)
        with _output_to(self.workspace.log_file, enabled=capture_output):
            fields = {"correlation_id": self.sweep_id, "folds": len(self.folds)}
            _log.info("sweep_started", extra=fields)
            if cluster is not None:
                from app.sweep.fanout import ClusterSweep

                result.strategies = ClusterSweep(self, cluster, bar).run()
            for source in self.sources if cluster is None else ():
                result.strategies.append(self._strategy(source, bar))
            fields = {"correlation_id": self.sweep_id, "exit_code": result.exit_code}
            _log.info("sweep_finished", extra=fields)
        self.workspace.summary_file.write_text(_dump(result.to_json()))
        bar.step("sweep finished")
        return result

    def _strategy(self, source: StrategySource, bar: Progress) -> StrategyResult:
        outcome = StrategyResult(source.name)
        train_dir = self.workspace.train_dir(source)
        stopped = False
        for fold in self.folds:
            item = FoldResult(
                fold, fold.train.timerange(self.candle), fold.test.timerange(self.candle)
            )
            outcome.folds.append(item)
            if stopped:
                bar.advance()
                bar.advance()
                continue
            label = f"{source.name} fold {fold.index}/{len(self.folds)}"
            bar.step(f"{label}: hyperopt {item.train_timerange}")
            item.hyperopt = self._run(self.hyperopt_args(source, train_dir, item))
            bar.advance()
            if not item.hyperopt.succeeded:
                stopped = True
                bar.advance()
                continue
            fold_dir = self.fold_dir(source, fold.index, item.hyperopt)
            if fold_dir is None:
                stopped = True
                bar.advance()
                continue
            bar.step(f"{label}: out-of-sample backtest {item.test_timerange}")
            item.backtest = self._run(self.backtest_args(source, fold_dir, item))
            bar.advance()
            stopped = not item.backtest.succeeded
        outcome.verdict = self.verdict(source, outcome.folds)
        return outcome

    def fold_dir(self, source: StrategySource, index: int, hyperopt: RunOutcome) -> Path | None:
        """The fold's folder with ``hyperopt``'s best parameters; None (and the hyperopt
        outcome marked failed) when they cannot be used."""
        run = self.registry.get_run(str(hyperopt.run_id))
        try:
            return self.workspace.fold_dir(
                source, index, str(hyperopt.run_id), None if run is None else run.params, self.now()
            )
        except TradingBotError as exc:
            hyperopt.exit_code, hyperopt.error = exc.exit_code, str(exc)
            return None

    def verdict(self, source: StrategySource, folds: list[FoldResult]) -> Verdict:
        """Judge ``source``'s folds and promote when asked and passed."""
        verdict = judge(folds, self.policy)
        fields = {"correlation_id": self.sweep_id, "strategy": source.name}
        if not (self.request.promote and verdict.passed and verdict.candidate_run_id):
            _log.info("sweep_verdict", extra={**fields, "passed": verdict.passed})
            return verdict
        from app.registry.params import ParamPromoter

        try:
            promotion = ParamPromoter(self.registry, self.request.strategy_path).promote(
                verdict.candidate_run_id, strategy=source.name
            )
        except TradingBotError as exc:  # the other strategies' results still count
            _log.warning("sweep_promotion_failed", extra={**fields, "error": str(exc)})
            reasons = (*verdict.reasons, f"promotion failed: {exc}")
            return Verdict(True, reasons, verdict.candidate_run_id)
        _log.info("sweep_promoted", extra={**fields, "run_id": verdict.candidate_run_id})
        return Verdict(True, verdict.reasons, verdict.candidate_run_id, True, str(promotion.file))

    def _run(self, argv: list[str]) -> RunOutcome:
        """One guarded Freqtrade command; never raises for a failed run."""
        runner = GuardedRunner(
            self.settings,
            self.registry,
            offline=self.request.offline,
            environ=self.environ,
            # The runner's own queue: first come, first served with other waiting runs.
            slot_wait_sec=self.request.slot_wait_sec,
        )
        try:
            code = runner.run(argv)
        except TradingBotError as exc:
            sys.stderr.write(f"Error: {exc}\n")  # into sweep.log, beside Freqtrade's output
            return RunOutcome(runner.last_run_id, exc.exit_code, error=str(exc))
        run_id = runner.last_run_id
        run = self.registry.get_run(run_id) if run_id else None
        if run is not None and run.status == "succeeded":
            return RunOutcome(run_id, code, self.registry.run_metrics(run.run_id))
        if code in _INTERRUPTED_CODES:
            # The runner forwarded Ctrl-C/SIGTERM to Freqtrade (which may then exit 0) and
            # recorded the run as interrupted: the user wants the whole sweep to stop.
            raise Interrupted(signal.SIGINT)
        return RunOutcome(run_id, code or 1, error=f"run ended with status {run and run.status}")

    def now(self) -> datetime:
        return datetime.now(UTC)

    # -- FREQTRADE ARGUMENTS ---------------------------------------------------------------

    def _common_args(self, command: str) -> list[str]:
        req = self.request
        argv = [command]
        for config in req.configs:
            argv += ["-c", str(config)]
        if req.datadir is not None:
            argv += ["--datadir", str(req.datadir)]
        if req.pairs:
            argv += ["--pairs", *req.pairs]
        return argv

    def hyperopt_args(self, source: StrategySource, folder: Path, item: FoldResult) -> list[str]:
        """Freqtrade's arguments for the fold's hyperopt (strategy loaded from ``folder``)."""
        req = self.request
        argv = self._common_args("hyperopt")
        argv += ["--strategy", source.name, "--strategy-path", str(folder)]
        argv += ["--timerange", item.train_timerange, "--epochs", str(req.epochs)]
        argv += ["--spaces", *req.spaces, "--hyperopt-loss", req.hyperopt_loss]
        argv += ["--random-state", str(req.random_state)]
        jobs = req.jobs if req.jobs is not None else self.default_jobs
        if jobs is not None:
            argv += ["-j", str(jobs)]
        if req.protections:
            argv.append("--enable-protections")
        return argv

    def backtest_args(self, source: StrategySource, folder: Path, item: FoldResult) -> list[str]:
        """Freqtrade's arguments for the fold's out-of-sample backtest (from ``folder``)."""
        argv = self._common_args("backtesting")
        argv += ["--strategy", source.name, "--strategy-path", str(folder)]
        argv += ["--timerange", item.test_timerange]
        if self.request.protections:
            argv.append("--enable-protections")
        return argv


@contextlib.contextmanager
def _output_to(path: Path, *, enabled: bool) -> Iterator[None]:
    """Send file descriptors 1 and 2 (this process and its children) to ``path``."""
    if not enabled:
        yield
        return
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    try:
        with path.open("ab") as log:
            os.dup2(log.fileno(), 1)
            os.dup2(log.fileno(), 2)
            try:
                yield
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os.dup2(saved[0], 1)
                os.dup2(saved[1], 2)
    finally:
        os.close(saved[0])
        os.close(saved[1])


def _dump(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, default=str) + "\n"

"""``registry verify RUN_ID``: re-run a recorded backtest and compare its trade fingerprint.

A backtest is reproducible when the same strategy, parameters, configuration and candles
give the same trades. Verification therefore refuses, with the reason, when any of those
inputs changed since the run (their fingerprints are recorded with every run); otherwise
it re-runs the exact command (a real run, ``--cache none``, recorded as a new run) and
compares the equity hash of the two trade lists.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from app.errors import RegistryError, TradingBotError
from app.redaction import MASK
from app.registry import Registry, RunRecord
from app.runner.ftargs import parse_invocation
from app.runner.runner import GuardedRunner, fingerprint_inputs, make_plan
from app.settings import RiskSettings

FINGERPRINTS = {
    "strategy_hash": "strategy (code or promoted parameters)",
    "config_hash": "configuration",
    "data_fingerprint": "candle data",
}


class CannotVerifyError(TradingBotError):
    """The run cannot be verified (not a recorded backtest, or its inputs changed).

    Nothing was run. Re-run the backtest as a new run to get a fresh baseline.
    """

    exit_code = 8


@dataclass(frozen=True)
class Verification:
    """Outcome of a verification."""

    run_id: str
    new_run_id: str | None
    reproduced: bool
    recorded_hash: str
    new_hash: str | None
    exit_code: int


def _split_command(run: RunRecord) -> tuple[bool, Path | None, list[str]]:
    """(offline, offline_datadir, freqtrade argv) from the recorded command line."""
    command = list(run.command or [])
    if command[:2] != ["tradingbot", "freqtrade"]:
        raise CannotVerifyError(
            f"run {run.run_id} has no re-runnable command recorded (it was imported or made "
            "by an older version); nothing to re-run"
        )
    if any(MASK in arg for arg in command):
        raise CannotVerifyError(
            f"run {run.run_id} was recorded with a secret on its command line (stored as "
            f"{MASK}); re-run it by hand with the secret"
        )
    rest = command[2:]
    offline = False
    datadir: Path | None = None
    while rest and rest[0].startswith("--offline"):
        flag = rest.pop(0)
        if flag == "--offline":
            offline = True
        elif flag == "--offline-datadir" and rest:
            datadir = Path(rest.pop(0))
    return offline, datadir, rest


def check_verifiable(run: RunRecord, environ: Mapping[str, str]) -> list[str]:
    """The freqtrade argv to re-run; :class:`CannotVerifyError` with the reason otherwise."""
    if run.kind != "backtest" or run.status != "succeeded" or not run.equity_hash:
        raise CannotVerifyError(
            f"run {run.run_id} is a {run.status} {run.kind} run without a trade fingerprint; "
            "only succeeded backtests that exported their trades can be verified"
        )
    _, _, argv = _split_command(run)
    now = fingerprint_inputs(make_plan(parse_invocation(argv), environ))
    changed = []
    for name, label in FINGERPRINTS.items():
        recorded = getattr(run, name)
        if recorded != now[name]:
            changed.append(f"{label} ({str(recorded)[:12]} -> {str(now[name])[:12]})")
    if changed:
        raise CannotVerifyError(
            f"run {run.run_id} cannot be verified: its inputs changed since it ran: "
            f"{'; '.join(changed)}. Re-run the backtest to record a new baseline."
        )
    return argv


def verify_run(
    registry: Registry,
    settings: RiskSettings,
    run_id: str,
    environ: Mapping[str, str],
    *,
    report_to_stderr: bool = False,
) -> Verification:
    """Re-run ``run_id`` and compare; raises :class:`CannotVerifyError` when it cannot."""
    run = registry.get_run(run_id)
    if run is None:
        raise RegistryError(
            f"run {run_id!r} is not in the registry; see `tradingbot registry runs`"
        )
    argv = check_verifiable(run, environ)
    offline, datadir, _ = _split_command(run)
    runner = GuardedRunner(
        settings, registry, offline=offline, offline_datadir=datadir, environ=environ
    )
    runner.stdout_to_stderr = report_to_stderr
    code = runner.run([*argv, "--cache", "none"])
    new = registry.get_run(runner.last_run_id) if runner.last_run_id else None
    new_hash = new.equity_hash if new is not None else None
    reproduced = code == 0 and new_hash == run.equity_hash
    return Verification(
        run_id=run_id,
        new_run_id=runner.last_run_id,
        reproduced=reproduced,
        recorded_hash=str(run.equity_hash),
        new_hash=new_hash,
        exit_code=0 if reproduced else (code or 1),
    )

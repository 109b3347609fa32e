"""The client's side of a job spec: which files a run needs, hashed, and where they are.

Called for each run of a cluster sweep, before the run is recorded (a missing file or a
pair without candles refuses the run and records nothing). What a job gets:

* ``config.json``: the run's configs merged as Freqtrade merges them (``-c`` files in
  order, ``add_config_files``, ``FREQTRADE__*`` variables -- without the exchange ones
  when offline, as the runner removes them), credentials blanked, client paths dropped;
* ``strategies/<file>.py`` and its parameter file, from the run's ``--strategy-path``;
* ``user_data/hyperopts/<file>.py``: the hyperopt loss, when the project defines it (a
  built-in loss ships with Freqtrade);
* ``data/...``: every candle file of the run's pairs, whole. Whole files, not the window's
  rows: the offline exchange derives each market's tick and step from the whole series,
  so a slice would change Freqtrade's rounding and the answer; and every job of a sweep
  then shares the same files, which a worker fetches once;
* the guard's ``RISK_*`` rule settings (never paths, the registry URL or its password).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path

from app.errors import ConfigError
from app.offline_exchange.store import CandleStore
from app.runner.fingerprints import find_strategy_file, pair_of_file
from app.runner.ftconfig import deep_merge, env_overrides, load_files
from app.runner.offline import SUPPORTED_EXCHANGES, blocked_env, check_pairs
from app.runner.runner import RunPlan
from app.settings import RiskSettings, env_name
from app.sweep.jobs import (
    CONFIG_FILE,
    DATA_DIR,
    STRATEGY_DIR,
    USER_DATA,
    JobSpec,
    bundle_digest,
    job_config,
    sha256_bytes,
    strip_path_options,
)

# Settings that are paths or the registry: a job uses folders of its own instead.
_LOCAL_SETTINGS = frozenset({"state_dir", "circuit_breaker_file", "db_path", "db_url"})


def rule_environment(settings: RiskSettings) -> dict[str, str]:
    """The client's guard settings as ``RISK_*`` variables (paths and database left out)."""
    env: dict[str, str] = {}
    for name, value in settings.model_dump().items():
        if name in _LOCAL_SETTINGS or value is None:
            continue
        env[env_name(name)] = str(int(value)) if isinstance(value, bool) else str(value)
    return env


@dataclass
class Sources:
    """Where the client finds each blob's bytes: a file (hashed once) or bytes in memory."""

    files: dict[str, Path] = field(default_factory=dict)
    memory: dict[str, bytes] = field(default_factory=dict)
    _hashed: dict[tuple[str, int, int], str] = field(default_factory=dict)

    def add_file(self, path: Path) -> str:
        stat = path.stat()
        key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
        sha = self._hashed.get(key)
        if sha is None:
            sha = self._hashed[key] = sha256_bytes(path.read_bytes())
        self.files[sha] = path.resolve()  # read later, maybe from another directory
        return sha

    def add_bytes(self, data: bytes) -> str:
        sha = sha256_bytes(data)
        self.memory[sha] = data
        return sha

    def read(self, sha: str) -> bytes:
        """The bytes of ``sha``; :class:`ConfigError` when a file changed since hashing."""
        if sha in self.memory:
            return self.memory[sha]
        path = self.files[sha]
        data = path.read_bytes()
        if sha256_bytes(data) != sha:
            raise ConfigError(
                f"{path} changed while the sweep ran; a job's inputs must not change (start "
                "the sweep again)"
            )
        return data


def _loss_file(plan: RunPlan, loss: str | None) -> Path | None:
    if plan.inv.command != "hyperopt" or not loss or plan.cfg is None:
        return None
    folders = [plan.cfg.user_data_dir / "hyperopts"]
    configured = plan.cfg.data.get("hyperopt_path")
    if configured:
        folders.insert(0, Path(str(configured)))
    return find_strategy_file(loss, folders)  # same "class <Name>(" search


def _hyperopt_loss(argv: list[str]) -> str | None:
    for index, arg in enumerate(argv):
        if arg == "--hyperopt-loss" and index + 1 < len(argv):
            return argv[index + 1]
        if arg.startswith("--hyperopt-loss="):
            return arg.split("=", 1)[1]
    return None


def build_spec(
    plan: RunPlan,
    *,
    key: str,
    label: str,
    offline: bool,
    settings: RiskSettings,
    environ: Mapping[str, str],
    sources: Sources,
) -> JobSpec:
    """The job for ``plan`` (a backtest or hyperopt); blobs are added to ``sources``."""
    cfg, inv = plan.cfg, plan.inv
    if cfg is None or inv.command not in ("backtesting", "hyperopt"):
        raise ConfigError(f"a cluster sweep runs backtests and hyperopts, not {inv.command!r}")
    if offline:
        if cfg.exchange not in SUPPORTED_EXCHANGES:
            raise ConfigError(
                f"--offline imitates Binance only, but the config's exchange.name is "
                f"{cfg.exchange!r}; use a Binance config or --no-offline"
            )
        check_pairs(inv, cfg, CandleStore(cfg.datadir))
    env = dict(environ)
    for name in blocked_env(environ) if offline else ():
        env.pop(name)
    merged = deep_merge(load_files(cfg.files), env_overrides(env))
    files = {CONFIG_FILE: sources.add_bytes(job_config(merged))}
    strategy = plan.strategies[0] if len(plan.strategies) == 1 else None
    search = [p for p in (inv.strategy_path, cfg.data.get("strategy_path")) if p]
    path = find_strategy_file(strategy, [Path(str(p)) for p in search]) if strategy else None
    if path is None:
        raise ConfigError(
            f"strategy {strategy!r} is not defined in {inv.strategy_path}; a cluster job ships "
            "the strategy file from --strategy-path"
        )
    files[f"{STRATEGY_DIR}/{path.name}"] = sources.add_file(path)
    if path.with_suffix(".json").is_file():
        files[f"{STRATEGY_DIR}/{path.stem}.json"] = sources.add_file(path.with_suffix(".json"))
    loss = _loss_file(plan, _hyperopt_loss(inv.argv))
    if loss is not None:
        files[f"{USER_DATA}/hyperopts/{loss.name}"] = sources.add_file(loss)
    from app.runner import ingest

    pairs = set(ingest.pairs_in(cfg))
    for candle in sorted(cfg.candle_dir.iterdir()):
        if candle.is_file() and pair_of_file(candle) in pairs:
            relative = candle.relative_to(cfg.datadir).as_posix()
            files[f"{DATA_DIR}/{relative}"] = sources.add_file(candle)
    run_env = rule_environment(settings)
    return JobSpec(
        key=key,
        command=inv.command,
        args=tuple(strip_path_options([*inv.argv[1:], *plan.extra_args])),
        files=files,
        env=run_env,
        offline=offline,
        freqtrade_version=version("freqtrade"),
        bundle=bundle_digest(),
        label=label,
    )


def with_run_ids(spec: JobSpec, run_id: str, correlation_id: str) -> JobSpec:
    """``spec`` with the ids the guard puts in its log lines (not part of the answer)."""
    from dataclasses import replace

    env = {**spec.env, "TRADINGBOT_RUN_ID": run_id, "TRADINGBOT_CORRELATION_ID": correlation_id}
    return replace(spec, env=env)


def cpu_count() -> int:
    """The hyperopt workers Freqtrade's ``-j -1`` (its default) uses on this machine."""
    from joblib import cpu_count as joblib_cpu_count

    return int(joblib_cpu_count()) or (os.cpu_count() or 1)

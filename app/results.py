"""Freqtrade's result files, read into plain values for the registry.

A backtest writes ``<dir>/backtest-result-<ts>.zip`` (the results JSON, the config and
the strategy source) plus a ``.meta.json`` beside it; a hyperopt writes
``<dir>/strategy_<Name>_<ts>.fthypt`` (one JSON line per epoch). Both formats are
Freqtrade's own; this module only reads them.
"""

from __future__ import annotations

import hashlib
import json
import math
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.errors import DataError

# Registry metric -> (Freqtrade's per-strategy result key, scale). Ratios stay ratios
# (0.2 = 20 %) except ``profit_total_pct``, which is the percentage Freqtrade prints.
BACKTEST_METRICS: dict[str, tuple[str, float]] = {
    "profit_total_abs": ("profit_total_abs", 1.0),
    "profit_total": ("profit_total", 1.0),
    "profit_total_pct": ("profit_total", 100.0),
    "trades": ("total_trades", 1.0),
    "wins": ("wins", 1.0),
    "losses": ("losses", 1.0),
    "draws": ("draws", 1.0),
    "winrate": ("winrate", 1.0),
    "max_drawdown_account": ("max_drawdown_account", 1.0),
    "max_drawdown_abs": ("max_drawdown_abs", 1.0),
    "sharpe": ("sharpe", 1.0),
    "sortino": ("sortino", 1.0),
    "calmar": ("calmar", 1.0),
    "profit_factor": ("profit_factor", 1.0),
    "expectancy": ("expectancy", 1.0),
    "expectancy_ratio": ("expectancy_ratio", 1.0),
    "cagr": ("cagr", 1.0),
    "market_change": ("market_change", 1.0),
    "final_balance": ("final_balance", 1.0),
    "starting_balance": ("starting_balance", 1.0),
}
# Fields of a trade that define it; the equity hash covers exactly these.
TRADE_FIELDS = (
    "pair", "open_timestamp", "close_timestamp", "open_rate", "close_rate", "amount",
    "stake_amount", "profit_abs", "exit_reason", "is_short", "leverage", "enter_tag",
)  # fmt: skip


@dataclass(frozen=True)
class BacktestResult:
    """One strategy's outcome in one backtest result file."""

    strategy: str
    timeframe: str
    timerange: str
    pairs: list[str]
    metrics: dict[str, float]
    trades: list[dict[str, Any]]
    equity_hash: str
    result_path: Path
    run_start_ts: int  # when Freqtrade started the backtest (Unix seconds)


@dataclass(frozen=True)
class HyperoptResult:
    """The outcome of one hyperopt run (its ``.fthypt`` file)."""

    strategy: str
    epochs: int
    best_epoch: int
    best_loss: float
    best_params: dict[str, Any]  # Freqtrade's export shape: {"buy": {...}, "roi": {...}, ...}
    best_metrics: dict[str, float]
    result_path: Path


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def metrics_of(stats: dict[str, Any]) -> dict[str, float]:
    """The registry metrics of one strategy's Freqtrade stats; missing values are left out."""
    out: dict[str, float] = {}
    for key, (source, scale) in BACKTEST_METRICS.items():
        value = _number(stats.get(source))
        if value is not None and math.isfinite(value):
            out[key] = value * scale
    return out


def equity_hash(trades: list[dict[str, Any]]) -> str:
    """Fingerprint of a trade list: sha256 of its defining fields in a canonical order."""
    rows = sorted(
        ({f: t.get(f) for f in TRADE_FIELDS} for t in trades),
        key=lambda r: (r["open_timestamp"] or 0, r["pair"] or "", r["close_timestamp"] or 0),
    )
    blob = json.dumps(rows, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def _load_backtest_json(path: Path) -> dict[str, Any]:
    try:
        if path.suffix == ".zip":
            with zipfile.ZipFile(path) as archive:
                name = f"{path.stem}.json"
                if name not in archive.namelist():
                    raise DataError(f"backtest result {path} has no {name} inside")
                data = json.loads(archive.read(name))
        else:
            data = json.loads(path.read_text())
    except (OSError, zipfile.BadZipFile, json.JSONDecodeError) as exc:
        raise DataError(f"backtest result {path} cannot be read ({exc})") from exc
    if not isinstance(data, dict) or not isinstance(data.get("strategy"), dict):
        raise DataError(f"backtest result {path} is not a Freqtrade backtest result")
    return data


def read_backtest(path: Path) -> list[BacktestResult]:
    """Every strategy's result in the backtest result file ``path`` (.zip or .json)."""
    data = _load_backtest_json(path)
    results = []
    for name, stats in data["strategy"].items():
        trades = list(stats.get("trades", []))
        results.append(
            BacktestResult(
                strategy=name,
                timeframe=str(stats.get("timeframe", "")),
                timerange=f"{stats.get('backtest_start', '')} -> {stats.get('backtest_end', '')}",
                pairs=list(stats.get("pairlist", [])),
                metrics=metrics_of(stats),
                trades=trades,
                equity_hash=equity_hash(trades),
                result_path=path,
                run_start_ts=int(stats.get("backtest_run_start_ts", 0)),
            )
        )
    return results


def read_backtest_meta(path: Path) -> dict[str, Any]:
    """The ``.meta.json`` beside a result zip: strategy -> run_id, backtest_start_time, ..."""
    meta = path.with_suffix(".meta.json")
    try:
        data = json.loads(meta.read_text())
    except (OSError, json.JSONDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    merged = dict(extra)
    for key, value in base.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(value, merged[key])
        else:
            merged[key] = value
    return merged


def read_hyperopt(path: Path) -> HyperoptResult:
    """The best epoch of a ``.fthypt`` file (lowest loss), with its full parameter set."""
    epochs: list[dict[str, Any]] = []
    try:
        with path.open() as handle:
            for line_no, line in enumerate(handle, start=1):
                if line.strip():
                    try:
                        epochs.append(json.loads(line))
                    except json.JSONDecodeError as exc:
                        raise DataError(
                            f"hyperopt result {path}:{line_no} is not JSON ({exc})"
                        ) from exc
    except OSError as exc:
        raise DataError(f"hyperopt result {path} cannot be read ({exc})") from exc
    if not epochs:
        raise DataError(f"hyperopt result {path} has no epochs")
    best = min(epochs, key=lambda e: float(e.get("loss", float("inf"))))
    stats = best.get("results_metrics", {})
    params = _merge(best.get("params_details", {}), best.get("params_not_optimized", {}))
    return HyperoptResult(
        strategy=str(stats.get("strategy_name") or _strategy_from_name(path)),
        epochs=len(epochs),
        best_epoch=int(best.get("current_epoch", 0)),
        best_loss=float(best.get("loss", float("nan"))),
        best_params=params,
        best_metrics=metrics_of(stats),
        result_path=path,
    )


def _strategy_from_name(path: Path) -> str:
    # strategy_<Name>_<YYYY-mm-dd_HH-MM-SS>.fthypt
    stem = path.stem.removeprefix("strategy_")
    return stem.rsplit("_", 2)[0]

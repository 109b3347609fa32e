"""The guard source: each running bot's guard metrics file, as the bot last wrote it.

Reads ``<RISK_STATE_DIR>/guard/*.json`` (the format is :mod:`app.risk.guard_file`). A
file that cannot be read or parsed is skipped and makes the source show down, naming
the file; the other bots' files are still served. A file's ``bot`` must equal its name
(``<bot>.json``): two files can then never claim one bot's series. At most
:data:`MAX_FILES` files are read, so a folder filled by mistake cannot explode the
number of series.

A stopped bot's file stays, with its last values; ``tradingbot_guard_updated_timestamp_
seconds`` says how old they are. Delete the file of a bot that is gone for good.
"""

from __future__ import annotations

import os
from pathlib import Path

from app.exporter.catalog import Batch
from app.exporter.collector import SourceError
from app.risk.decision import RiskState
from app.risk.guard_file import GUARD_DIR, GuardMetrics, read_guard_metrics

MAX_FILES = 100


def _names(folder: Path) -> list[str]:
    try:
        with os.scandir(folder) as entries:
            return sorted(
                e.name for e in entries if e.name.endswith(".json") and not e.name.startswith(".")
            )
    except FileNotFoundError:
        return []  # no live bot has published yet
    except OSError as exc:
        raise SourceError(f"cannot list the guard metrics folder {folder}: {exc}") from None


def add_guard_samples(batch: Batch, metrics: GuardMetrics) -> None:
    """The samples of one bot's file."""
    bot = metrics.bot
    for state in RiskState:
        batch.add(
            "tradingbot_risk_state", 1.0 if metrics.state == state.value else 0.0, bot=bot,
            state=state.value,
        )  # fmt: skip
    for reason, count in sorted(metrics.refusals.items()):
        batch.add("tradingbot_guard_refusals_total", float(count), bot=bot, reason=reason)
    hist = metrics.check_seconds
    buckets = [(_le(b), float(c)) for b, c in zip(hist.le, hist.cumulative, strict=True)]
    buckets.append(("+Inf", float(hist.count)))
    batch.add("tradingbot_guard_check_duration_seconds", (buckets, hist.total), bot=bot)
    for name in ("daily_drawdown", "daily_drawdown_limit", "daily_loss", "daily_loss_cap"):
        value = getattr(metrics, f"{name}_ratio")
        if value is not None:
            batch.add(f"tradingbot_{name}_ratio", value, bot=bot)
    if metrics.loss_streak is not None:
        batch.add("tradingbot_loss_streak", float(metrics.loss_streak), bot=bot)
    batch.add("tradingbot_guard_updated_timestamp_seconds", metrics.updated, bot=bot)


def _le(bound: float) -> str:
    return repr(float(bound))


class GuardSource:
    """Every bot's guard metrics file under ``<state_dir>/guard``."""

    name = "guard"

    def __init__(self, state_dir: Path) -> None:
        self.folder = state_dir / GUARD_DIR

    def collect(self, batch: Batch, now: float) -> None:
        """Read every file; one bad file makes the source down, the others still count."""
        names = _names(self.folder)
        problems = []
        if len(names) > MAX_FILES:
            problems.append(f"{len(names)} files, only the first {MAX_FILES} are read")
        for name in names[:MAX_FILES]:
            path = self.folder / name
            try:
                metrics = read_guard_metrics(path)
            except (OSError, ValueError) as exc:
                problems.append(f"{path}: {exc}")
                continue
            if f"{metrics.bot}.json" != name:
                problems.append(f"{path}: names bot {metrics.bot!r}, not the file's name")
                continue
            add_guard_samples(batch, metrics)
        if problems:
            raise SourceError("; ".join(problems))

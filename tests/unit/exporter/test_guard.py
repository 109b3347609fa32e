"""The guard source (app/exporter/guard.py): each bot's guard metrics file to samples."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.exporter.catalog import Batch
from app.exporter.collector import SourceError
from app.exporter.guard import MAX_FILES, GuardSource
from app.risk.guard_file import GuardMetrics, Histogram, guard_file
from tests.unit.exporter.helpers import collect


def _write(state: Path, metrics: GuardMetrics, name: str | None = None) -> Path:
    path = guard_file(state, name or metrics.bot)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(metrics.to_text())
    return path


def _metrics(bot: str = "alpha", **kwargs: object) -> GuardMetrics:
    base: dict[str, object] = {
        "bot": bot,
        "strategy": "S",
        "updated": 1_790_000_000.0,
        "state": "COOLDOWN",
        "refusals": {"GUARD_ERROR": 2, "LOSS_STREAK": 7},
        "check_seconds": Histogram((0.01, 0.25), (3, 4), 5, 0.9),
        "daily_drawdown_ratio": 0.02,
        "daily_drawdown_limit_ratio": 0.08,
        "loss_streak": 4,
    }
    return GuardMetrics(**{**base, **kwargs})  # type: ignore[arg-type]


def test_guard_when_file_present_then_every_guard_metric(tmp_path: Path) -> None:
    """One-hot state, refusals per reason, histogram, ratios set, streak, publish time."""
    _write(tmp_path, _metrics())

    got = collect(GuardSource(tmp_path))

    assert got["tradingbot_risk_state{bot=alpha,state=COOLDOWN}"] == 1.0
    assert got["tradingbot_risk_state{bot=alpha,state=ACTIVE}"] == 0.0
    assert got["tradingbot_risk_state{bot=alpha,state=HALTED}"] == 0.0
    assert got["tradingbot_guard_refusals_total{bot=alpha,reason=GUARD_ERROR}"] == 2.0
    assert got["tradingbot_guard_refusals_total{bot=alpha,reason=LOSS_STREAK}"] == 7.0
    assert got["tradingbot_guard_check_duration_seconds{bot=alpha}"] == (
        [("0.01", 3.0), ("0.25", 4.0), ("+Inf", 5.0)],
        0.9,
    )
    assert got["tradingbot_daily_drawdown_ratio{bot=alpha}"] == 0.02
    assert got["tradingbot_daily_drawdown_limit_ratio{bot=alpha}"] == 0.08
    assert "tradingbot_daily_loss_ratio{bot=alpha}" not in got  # rule off: absent
    assert got["tradingbot_loss_streak{bot=alpha}"] == 4.0
    assert got["tradingbot_guard_updated_timestamp_seconds{bot=alpha}"] == 1_790_000_000.0


def test_guard_when_no_folder_then_nothing_and_fine(tmp_path: Path) -> None:
    """No live bot has published yet: no samples, no failure."""
    assert collect(GuardSource(tmp_path)) == {}


def test_guard_when_one_file_corrupt_then_others_served_and_source_down(tmp_path: Path) -> None:
    """A torn file fails the source naming it; the other bot's series are still there."""
    _write(tmp_path, _metrics("alpha"))
    bad = guard_file(tmp_path, "beta")
    bad.write_text('{"format": 1, "bot": "beta", "state": "HAL')

    batch = Batch()
    with pytest.raises(SourceError, match=r"beta\.json: not valid JSON"):
        GuardSource(tmp_path).collect(batch, 0.0)

    bots = {labels[0] for name, labels, _ in batch.samples if name == "tradingbot_risk_state"}
    assert bots == {"alpha"}


def test_guard_when_file_claims_another_bot_then_refused(tmp_path: Path) -> None:
    """x.json saying bot 'alpha' could duplicate alpha's series: it is refused."""
    _write(tmp_path, _metrics("alpha"))
    _write(tmp_path, _metrics("alpha"), name="impostor")

    with pytest.raises(SourceError, match=r"impostor\.json: names bot 'alpha'"):
        collect(GuardSource(tmp_path))


def test_guard_when_temp_and_hidden_files_then_ignored(tmp_path: Path) -> None:
    """A writer's temp file (.alpha.json.123.tmp) is never read."""
    path = _write(tmp_path, _metrics("alpha"))
    (path.parent / ".alpha.json.123.tmp").write_text("garbage")
    (path.parent / ".hidden.json").write_text("garbage")

    assert "tradingbot_loss_streak{bot=alpha}" in collect(GuardSource(tmp_path))


def test_guard_when_too_many_files_then_bounded_and_source_down(tmp_path: Path) -> None:
    """A folder flooded by mistake cannot explode the series count."""
    for n in range(MAX_FILES + 3):
        _write(tmp_path, _metrics(f"bot{n:03d}"))

    batch = Batch()
    with pytest.raises(SourceError, match=f"only the first {MAX_FILES}"):
        GuardSource(tmp_path).collect(batch, 0.0)

    bots = {labels[0] for name, labels, _ in batch.samples if name == "tradingbot_loss_streak"}
    assert len(bots) == MAX_FILES

"""The guard metrics file format (app/risk/guard_file.py): strict both ways."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.risk.guard_file import (
    BUCKETS,
    ENTRY_REASONS,
    GuardFileError,
    GuardMetrics,
    Histogram,
    bot_label,
    parse_guard_metrics,
)


def _valid() -> dict[str, object]:
    return json.loads(GuardMetrics(bot="b", strategy="S", updated=1.0).to_text())


@pytest.mark.parametrize(
    ("bot_name", "strategy", "label"),
    [
        ("tradingbot-dryrun", "S", "tradingbot-dryrun"),
        (None, "MaCrossoverStrategy", "MaCrossoverStrategy"),
        ("  ", "S", "S"),
        ("my bot/../x", "S", "my-bot-..-x"),
        ("../..", "S", "bot"),
        ("x" * 100, "S", "x" * 64),
    ],
)
def test_bot_label_when_named_then_safe_bounded_label(
    bot_name: str | None, strategy: str, label: str
) -> None:
    """bot_name, else the strategy; only [A-Za-z0-9_.-], at most 64, never a path."""
    assert bot_label(bot_name, strategy) == label


def test_entry_reasons_when_listed_then_no_run_gate_reason() -> None:
    """Refusals a bot's guard can count: every entry rule and GUARD_ERROR, no run gates."""
    assert "GUARD_ERROR" in ENTRY_REASONS and "CIRCUIT_BREAKER" in ENTRY_REASONS
    assert not {"ALLOWED", "CONCURRENCY_LIMIT", "MAX_DD_BLOCK", "REGISTRY_ERROR"} & set(
        ENTRY_REASONS
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"format": 2}, "format 2 is not 1"),
        ({"bot": "../etc"}, "'bot' '../etc' is not a label"),
        ({"state": "PANIC"}, "'state' 'PANIC' is not one of"),
        ({"updated": "now"}, "'updated' 'now' is not a finite number"),
        ({"updated": -1}, "'updated' -1 is negative"),
        ({"daily_loss_ratio": True}, "'daily_loss_ratio' True is not a finite number"),
        ({"loss_streak": -2}, "'loss_streak' -2 is not a whole number"),
        ({"refusals": {"bad reason": 1}}, "'refusals' entry 'bad reason'"),
        ({"refusals": {"GUARD_ERROR": -1}}, "'refusals' entry 'GUARD_ERROR': -1"),
        ({"refusals": {f"R{n}": 1 for n in range(65)}}, "at most 64 reasons"),
        ({"check_seconds": {"le": [1, 0.5], "cumulative": [0, 0], "count": 0, "sum": 0}},
         "not strictly increasing"),
        ({"check_seconds": {"le": [0.5, 1], "cumulative": [3, 2], "count": 3, "sum": 0}},
         "counts are not cumulative"),
        ({"check_seconds": {"le": [0.5, 1], "cumulative": [1, 2], "count": 1, "sum": 0}},
         "counts are not cumulative"),
        ({"check_seconds": {"le": [0.5], "cumulative": [1, 2], "count": 2, "sum": 0}},
         "of one length"),
    ],
)  # fmt: skip
def test_parse_when_field_crafted_then_refused_naming_it(
    change: dict[str, object], message: str
) -> None:
    """Every field is checked; a crafted file is refused whole, with the reason."""
    with pytest.raises(GuardFileError, match=message.replace("(", r"\(").replace("[", r"\[")):
        parse_guard_metrics(json.dumps({**_valid(), **change}))


@pytest.mark.parametrize(
    ("text", "message"),
    [("", "not valid JSON"), ("[1]", "not a JSON object"), ("x" * 70_000, "larger than")],
)
def test_parse_when_not_a_file_of_ours_then_refused(text: str, message: str) -> None:
    """Empty, foreign or oversized content is refused."""
    with pytest.raises(GuardFileError, match=message):
        parse_guard_metrics(text)


COUNTS = st.integers(min_value=0, max_value=10**9)
RATIOS = st.none() | st.floats(min_value=0, max_value=10, allow_nan=False)


@given(
    refusals=st.dictionaries(st.sampled_from(ENTRY_REASONS), COUNTS),
    steps=st.lists(COUNTS, min_size=len(BUCKETS) + 1, max_size=len(BUCKETS) + 1),
    total=st.floats(min_value=0, max_value=1e6),
    ratios=st.tuples(RATIOS, RATIOS, RATIOS, RATIOS),
    streak=st.none() | COUNTS,
    state=st.sampled_from(["ACTIVE", "COOLDOWN", "HALTED"]),
)
def test_file_when_written_then_parses_back_equal(
    refusals: dict[str, int],
    steps: list[int],
    total: float,
    ratios: tuple[float | None, ...],
    streak: int | None,
    state: str,
) -> None:
    """Whatever the publisher can write, the reader reads back exactly."""
    cumulative = [sum(steps[: i + 1]) for i in range(len(BUCKETS))]
    metrics = GuardMetrics(
        bot="b-1",
        strategy="S",
        updated=1.5,
        state=state,
        refusals=refusals,
        check_seconds=Histogram(BUCKETS, tuple(cumulative), sum(steps), total),
        daily_drawdown_ratio=ratios[0],
        daily_drawdown_limit_ratio=ratios[1],
        daily_loss_ratio=ratios[2],
        daily_loss_cap_ratio=ratios[3],
        loss_streak=streak,
    )

    assert parse_guard_metrics(metrics.to_text()) == metrics

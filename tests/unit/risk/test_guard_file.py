"""The guard metrics file format (app/risk/guard_file.py): strict both ways."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

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
    guard_file,
    parse_guard_metrics,
    read_guard_metrics,
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


# -- BOUNDS AND CRAFTED SHAPES ----------------------------------------------------------------


def _histogram(le: object, cumulative: object, count: object) -> dict[str, object]:
    return {"le": le, "cumulative": cumulative, "count": count, "sum": 0}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"bot": "b\n"}, "'bot' 'b\\\\n' is not a label"),
        ({"bot": 5}, "'bot' 5 is not a label"),
        ({"refusals": {"GUARD_ERROR\n": 1}}, "'refusals' entry 'GUARD_ERROR\\\\n'"),
        ({"refusals": {"GUARD_ERROR": True}}, "'refusals' entry 'GUARD_ERROR': True"),
        ({"refusals": []}, "'refusals' is not an object"),
        ({"strategy": "S" * 129}, "'strategy' is not a name of at most 128"),
        ({"loss_streak": True}, "'loss_streak' True is not a whole number"),
        ({"updated": float("inf")}, "'updated' inf is not a finite number"),
        ({"daily_drawdown_ratio": float("nan")}, "'daily_drawdown_ratio' nan is not a finite"),
        ({"check_seconds": []}, "'check_seconds' is not an object"),
        ({"check_seconds": _histogram("ab", "ab", 0)}, "needs lists 'le' and 'cumulative'"),
        ({"check_seconds": _histogram([1], "a", 0)}, "needs lists 'le' and 'cumulative'"),
        ({"check_seconds": _histogram([], [], 0)}, "has 1-32 buckets"),
        ({"check_seconds": _histogram(list(range(1, 34)), [0] * 33, 0)}, "has 1-32 buckets"),
        ({"check_seconds": _histogram([1], [0], -1)}, "a whole 'count' >= 0"),
        ({"check_seconds": _histogram([1], [0], 1.0)}, "a whole 'count' >= 0"),
        ({"check_seconds": _histogram([0.5, 0.5], [0, 0], 0)}, "not strictly increasing"),
        ({"check_seconds": _histogram([0.5, 1], [0, "1"], 1)}, "other than counts"),
        ({"check_seconds": _histogram([0.5, 1], [0, -1], 0)}, "other than counts"),
        ({"check_seconds": _histogram([0.5, 1], [0], 0)}, "of one length"),
        ({"check_seconds": _histogram(list(range(1, 301)), [0] * 300, 0)}, "has 1-32 buckets"),
        ({"format": 0}, "format 0 is not 1"),
        ({"format": "1"}, "format '1' is not 1"),
        ({"format": 1.0}, "format 1.0 is not 1"),
        ({"format": True}, "format True is not 1"),
    ],
)
def test_parse_when_value_at_or_past_a_bound_then_refused_naming_it(
    change: dict[str, object], message: str
) -> None:
    """Trailing newlines, booleans, infinities, empty or oversized histograms: refused."""
    with pytest.raises(GuardFileError, match=message.replace("(", r"\(").replace("[", r"\[")):
        parse_guard_metrics(json.dumps({**_valid(), **change}))


@pytest.mark.parametrize(
    "change",
    [
        {"strategy": "S" * 128},
        {"updated": 0, "daily_loss_ratio": 0.0, "loss_streak": 0},
        {"refusals": {f"R{n}": 0 for n in range(64)}},
        {"check_seconds": _histogram([1], [0], 0)},
        {"check_seconds": _histogram(list(range(1, 33)), [0] * 32, 0)},
    ],
    ids=["strategy-128", "zeros", "64-reasons", "1-bucket", "32-buckets"],
)
def test_parse_when_value_at_its_limit_then_accepted(change: dict[str, object]) -> None:
    """Each limit is inclusive: 128 characters, 0, 64 reasons, 1 and 32 buckets."""
    parsed = parse_guard_metrics(json.dumps({**_valid(), **change}))

    assert parsed.to_text() == parse_guard_metrics(parsed.to_text()).to_text()
    for name, value in change.items():
        if name == "check_seconds":
            assert isinstance(value, dict)
            assert list(parsed.check_seconds.le) == value["le"]
        else:
            assert getattr(parsed, name) == value


def _padded(size: int) -> bytes:
    text = GuardMetrics(bot="b", strategy="S", updated=1.0).to_text().encode()
    return text + b" " * (size - len(text))


@pytest.mark.parametrize(("size", "ok"), [(65536, True), (65537, False)])
def test_read_when_file_at_64_kib_then_read_and_one_byte_more_refused(
    tmp_path: Path, size: int, ok: bool
) -> None:
    """A file of 64 KiB is read; one byte more is refused, also when it is valid JSON."""
    path = tmp_path / "b.json"
    path.write_bytes(_padded(size))

    if ok:
        assert read_guard_metrics(path).bot == "b"
        assert parse_guard_metrics(_padded(size).decode()).bot == "b"
    else:
        with pytest.raises(GuardFileError, match="larger than 65536 bytes"):
            read_guard_metrics(path)
        with pytest.raises(GuardFileError, match="larger than 65536 bytes"):
            parse_guard_metrics(_padded(size).decode())


def test_read_when_not_utf8_then_refused_naming_it(tmp_path: Path) -> None:
    """Bytes that are not UTF-8 are a GuardFileError, not a UnicodeDecodeError."""
    path = tmp_path / "b.json"
    path.write_bytes(b'{"bot": "\xff"}')

    with pytest.raises(GuardFileError, match="not UTF-8 text"):
        read_guard_metrics(path)


def test_buckets_when_listed_then_1_2_5_series_from_half_a_ms_to_10_s() -> None:
    """The histogram's bounds (RUNBOOK: 0.5 ms .. 10 s, 0.25 s among them, the alert's
    threshold) are every 1 / 2.5 / 5 step of each decade between them."""
    series = [m * 10.0**e for e in range(-4, 2) for m in (1.0, 2.5, 5.0)]
    expected = [b for b in series if 0.0004 < b < 11]

    assert pytest.approx(expected) == BUCKETS
    assert len(BUCKETS) == len(expected) == 14
    assert 0.25 in BUCKETS


def test_metrics_when_new_then_histogram_empty_and_values_frozen() -> None:
    """A fresh bot's file says no check was made; a published value cannot be changed."""
    metrics = GuardMetrics(bot="b", strategy="S", updated=1.0)

    assert metrics.check_seconds == Histogram(BUCKETS, (0,) * 14, 0, 0.0)
    assert json.loads(metrics.to_text())["check_seconds"] == {
        "le": list(BUCKETS),
        "cumulative": [0] * 14,
        "count": 0,
        "sum": 0.0,
    }
    with pytest.raises(dataclasses.FrozenInstanceError):
        metrics.updated = 2.0  # type: ignore[misc]


def test_to_text_when_a_ratio_is_not_finite_then_value_error_not_a_file_refused_later() -> None:
    """The writer refuses NaN (not JSON) instead of writing a file the exporter refuses."""
    metrics = GuardMetrics(bot="b", strategy="S", updated=1.0, daily_loss_ratio=math.nan)

    with pytest.raises(ValueError, match="Out of range float values are not JSON compliant"):
        metrics.to_text()


def test_read_when_multibyte_text_over_64_kib_then_refused_by_its_bytes(tmp_path: Path) -> None:
    """The bound is on bytes: 65537 bytes that are 65536 characters (one é) are refused."""
    written = GuardMetrics(bot="b", strategy="é", updated=1.0).to_text()
    text = written.replace("\\u00e9", "é").encode()  # crafted: the writer escapes non-ASCII
    path = tmp_path / "b.json"
    path.write_bytes(text + b" " * (65537 - len(text)))
    assert len(path.read_text(encoding="utf-8")) == 65536

    with pytest.raises(GuardFileError, match="larger than 65536 bytes"):
        read_guard_metrics(path)


def test_guard_file_when_named_then_one_file_per_bot_under_state_guard(tmp_path: Path) -> None:
    """``<RISK_STATE_DIR>/guard/<bot>.json``: where the exporter looks for each bot."""
    assert (
        guard_file(tmp_path / "state", "desk-one") == tmp_path / "state" / "guard" / "desk-one.json"
    )


def test_histogram_when_assigned_then_frozen() -> None:
    """A published histogram is a value: nobody changes its counts after the fact."""
    with pytest.raises(dataclasses.FrozenInstanceError):
        Histogram().count = 5  # type: ignore[misc]

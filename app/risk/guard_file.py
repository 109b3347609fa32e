"""The guard metrics file: what a running bot's guard publishes for the exporter.

One small JSON file per bot, ``<RISK_STATE_DIR>/guard/<bot>.json``, replaced atomically
once per bot loop by :class:`app.risk.publish.GuardPublisher` and read by the exporter
(``app/exporter/guard.py``) at scrape time. This module owns the format: the writer and
the reader both go through :class:`GuardMetrics`, so they cannot disagree.

A file is parsed strictly (types, ranges, bounded sizes): the exporter turns every field
into a Prometheus sample, so a crafted or truncated file must be refused as a whole
(``ValueError`` naming the problem) rather than become odd labels or values.
"""

from __future__ import annotations

import itertools
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.risk.decision import Reason, RiskState

FORMAT = 1
GUARD_DIR = "guard"
MAX_FILE_BYTES = 64 * 1024
# Upper bounds (seconds) of the check-duration histogram; 0.25 s is HighStageLatency's
# threshold, so it is a bucket boundary and the alert's p95 is exact there.
BUCKETS: tuple[float, ...] = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip
# Reasons an entry can be refused with (the run-gate reasons never reach a bot's guard).
_RUN_GATE_ONLY = (
    Reason.ALLOWED,
    Reason.CONCURRENCY_LIMIT,
    Reason.MAX_DD_BLOCK,
    Reason.REGISTRY_ERROR,
)
ENTRY_REASONS: tuple[str, ...] = tuple(r.value for r in Reason if r not in _RUN_GATE_ONLY)
RATIO_FIELDS: tuple[str, ...] = (
    "daily_drawdown_ratio",
    "daily_drawdown_limit_ratio",
    "daily_loss_ratio",
    "daily_loss_cap_ratio",
)
# Used with fullmatch: `$` alone would let a trailing newline through.
_LABEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_REASON = re.compile(r"[A-Z][A-Z0-9_]{0,39}")
_MAX_REASONS = 64
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


class GuardFileError(ValueError):
    """A guard metrics file that cannot be used: the message names the problem."""


def bot_label(bot_name: object, strategy_name: str) -> str:
    """The ``bot`` label: Freqtrade's ``bot_name`` when the config sets one, else the
    strategy's class name; characters outside ``[A-Za-z0-9_.-]`` become ``-`` and the
    result is cut to 64 characters, so it is also a safe file name."""
    raw = bot_name if isinstance(bot_name, str) and bot_name.strip() else strategy_name
    label = _UNSAFE.sub("-", raw.strip()).strip("-.")[:64]
    return label if _LABEL.fullmatch(label) else "bot"


def guard_file(state_dir: Path, bot: str) -> Path:
    """``<state_dir>/guard/<bot>.json``."""
    return state_dir / GUARD_DIR / f"{bot}.json"


@dataclass(frozen=True, slots=True)
class Histogram:
    """Cumulative bucket counts (one per ``le``, +Inf implied by ``count``) and the sum."""

    le: tuple[float, ...] = BUCKETS
    cumulative: tuple[int, ...] = (0,) * len(BUCKETS)
    count: int = 0
    total: float = 0.0


@dataclass(frozen=True, slots=True)
class GuardMetrics:
    """One bot's guard figures at ``updated`` (epoch seconds). None = not known."""

    bot: str
    strategy: str
    updated: float
    state: str = RiskState.ACTIVE.value
    refusals: dict[str, int] = field(default_factory=dict)
    check_seconds: Histogram = field(default_factory=Histogram)
    daily_drawdown_ratio: float | None = None
    daily_drawdown_limit_ratio: float | None = None
    daily_loss_ratio: float | None = None
    daily_loss_cap_ratio: float | None = None
    loss_streak: int | None = None

    def to_text(self) -> str:
        """The file's content (compact JSON, one line)."""
        payload: dict[str, Any] = {
            "format": FORMAT,
            "bot": self.bot,
            "strategy": self.strategy,
            "updated": self.updated,
            "state": self.state,
            "refusals": self.refusals,
            "check_seconds": {
                "le": list(self.check_seconds.le),
                "cumulative": list(self.check_seconds.cumulative),
                "count": self.check_seconds.count,
                "sum": self.check_seconds.total,
            },
            "loss_streak": self.loss_streak,
        }
        for name in RATIO_FIELDS:
            payload[name] = getattr(self, name)
        return json.dumps(payload, allow_nan=False, separators=(",", ":")) + "\n"


def parse_guard_metrics(text: str) -> GuardMetrics:
    """Parse a file's content; :class:`GuardFileError` names the first problem."""
    if len(text) > MAX_FILE_BYTES:
        raise GuardFileError(f"larger than {MAX_FILE_BYTES} bytes")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise GuardFileError(f"not valid JSON ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(data, dict):
        raise GuardFileError("not a JSON object")
    fmt = data.get("format")
    if not _count(fmt) or fmt != FORMAT:  # not 1.0 or true, which equal 1 in Python
        raise GuardFileError(f"format {fmt!r} is not {FORMAT}")
    bot = data.get("bot")
    if not isinstance(bot, str) or not _LABEL.fullmatch(bot):
        raise GuardFileError(f"'bot' {bot!r} is not a label of [A-Za-z0-9_.-], at most 64 long")
    strategy = data.get("strategy")
    if not isinstance(strategy, str) or len(strategy) > 128:
        raise GuardFileError("'strategy' is not a name of at most 128 characters")
    state = data.get("state")
    if state not in {s.value for s in RiskState}:
        raise GuardFileError(f"'state' {state!r} is not one of ACTIVE, COOLDOWN, HALTED")
    ratios = {name: _optional_number(data, name) for name in RATIO_FIELDS}
    streak = data.get("loss_streak")
    if streak is not None and not _count(streak):
        raise GuardFileError(f"'loss_streak' {streak!r} is not a whole number >= 0")
    return GuardMetrics(
        bot=bot,
        strategy=strategy,
        updated=_number(data.get("updated"), "updated"),
        state=state,
        refusals=_refusals(data.get("refusals")),
        check_seconds=_histogram(data.get("check_seconds")),
        loss_streak=streak,
        **ratios,
    )


def read_guard_metrics(path: Path) -> GuardMetrics:
    """Read and parse one file (``OSError`` / :class:`GuardFileError` on failure)."""
    with path.open("rb") as handle:
        raw = handle.read(MAX_FILE_BYTES + 1)
    if len(raw) > MAX_FILE_BYTES:  # bytes: the text's length in characters can be less
        raise GuardFileError(f"larger than {MAX_FILE_BYTES} bytes")
    try:
        return parse_guard_metrics(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise GuardFileError("not UTF-8 text") from None


# -- VALIDATION HELPERS -----------------------------------------------------------------


def _count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _number(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise GuardFileError(f"'{name}' {value!r} is not a finite number")
    if value < 0:
        raise GuardFileError(f"'{name}' {value!r} is negative")
    return float(value)


def _optional_number(data: dict[str, Any], name: str) -> float | None:
    value = data.get(name)
    return None if value is None else _number(value, name)


def _refusals(value: object) -> dict[str, int]:
    if not isinstance(value, dict) or len(value) > _MAX_REASONS:
        raise GuardFileError(f"'refusals' is not an object of at most {_MAX_REASONS} reasons")
    for reason, count in value.items():
        if not _REASON.fullmatch(reason) or not _count(count):
            raise GuardFileError(f"'refusals' entry {reason!r}: {count!r} is not REASON: count")
    return dict(value)


def _histogram(value: object) -> Histogram:
    if not isinstance(value, dict):
        raise GuardFileError("'check_seconds' is not an object")
    le, cumulative, count = value.get("le"), value.get("cumulative"), value.get("count")
    if not isinstance(le, list) or not isinstance(cumulative, list) or len(le) != len(cumulative):
        raise GuardFileError("'check_seconds' needs lists 'le' and 'cumulative' of one length")
    if not 0 < len(le) <= 32 or not isinstance(count, int) or not _count(count):
        raise GuardFileError("'check_seconds' has 1-32 buckets and a whole 'count' >= 0")
    bounds = tuple(_number(b, "check_seconds.le") for b in le)
    if any(b >= c for b, c in itertools.pairwise(bounds)):
        raise GuardFileError("'check_seconds.le' is not strictly increasing")
    if not all(_count(c) for c in cumulative):
        raise GuardFileError("'check_seconds.cumulative' holds something other than counts")
    steps = [*cumulative, count]
    if any(a > b for a, b in itertools.pairwise(steps)):
        raise GuardFileError("'check_seconds' counts are not cumulative")
    total = _number(value.get("sum"), "sum")
    return Histogram(bounds, tuple(int(c) for c in cumulative), count, total)

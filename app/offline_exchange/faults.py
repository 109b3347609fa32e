"""Fault schedules for the offline exchange: what goes wrong, where, and when.

A fault event is one JSON object, the same in a faults file
(``tradingbot offline-exchange --faults FILE``) and in a drill scenario's ``events``::

    {"at_s": 20, "for_s": 30, "fault": "http_500", "endpoint": "klines"}
    {"at_s": 60, "for_s": 10, "fault": "latency", "endpoint": "*", "ms": 1500}
    {"at_s": 90, "for_s": 120, "fault": "price_jump", "endpoint": "*", "pct": -0.2}

``at_s`` counts seconds from the schedule's origin (the server's start, or the moment a
drill's bot is trading); the fault lasts ``for_s`` seconds. A faults file is
``{"events": [...]}``. Everything is validated before a server starts: an unknown fault,
endpoint or field, a bad number, or two faults that cannot both apply to one request is a
:class:`ConfigError` (exit code 2) naming the event, the value and the fix.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, TypeVar

from app.errors import ConfigError

_E = TypeVar("_E", bound=StrEnum)


class Fault(StrEnum):
    """What the exchange does wrong (docs/OFFLINE.md, "Faults")."""

    HTTP_500 = "http_500"
    HTTP_503 = "http_503"
    HTTP_429 = "http_429"
    HTTP_418 = "http_418"
    TIMEOUT = "timeout"
    RESET = "reset"
    LATENCY = "latency"
    STALE = "stale"
    GAP = "gap"
    PRICE_JUMP = "price_jump"


class Endpoint(StrEnum):
    """Which requests a fault hits; ``*`` is every request."""

    KLINES = "klines"
    TICKER = "ticker"
    DEPTH = "depth"
    EXCHANGE_INFO = "exchangeInfo"
    TIME = "time"
    ANY = "*"


# Faults that replace the answer: one request can get only one of them.
ANSWER_FAULTS = frozenset(
    {Fault.HTTP_500, Fault.HTTP_503, Fault.HTTP_429, Fault.HTTP_418, Fault.TIMEOUT, Fault.RESET}
)
# Faults that change the market data served (replay clock, candles, prices).
DATA_FAULTS = frozenset({Fault.STALE, Fault.GAP, Fault.PRICE_JUMP})
DATA_ENDPOINTS = frozenset({Endpoint.KLINES, Endpoint.TICKER, Endpoint.DEPTH})
_ALLOWED_ENDPOINTS: dict[Fault, frozenset[Endpoint]] = {
    Fault.STALE: DATA_ENDPOINTS | {Endpoint.ANY},
    Fault.PRICE_JUMP: DATA_ENDPOINTS | {Endpoint.ANY},
    Fault.GAP: frozenset({Endpoint.KLINES, Endpoint.ANY}),
}
FIELDS = frozenset({"at_s", "for_s", "fault", "endpoint", "ms", "pct"})
MAX_SECONDS = 7 * 24 * 3600
MAX_MS = 600_000
DEFAULT_TIMEOUT_HOLD_MS = 30_000  # longer than ccxt's default 10 s request timeout


@dataclass(frozen=True)
class FaultEvent:
    """One fault: ``fault`` on ``endpoint`` from ``at_s`` for ``for_s`` seconds."""

    at_s: float
    for_s: float
    fault: Fault
    endpoint: Endpoint
    ms: int | None = None  # latency: the delay; timeout: how long a request is held
    pct: float | None = None  # price_jump: the move as a decimal ratio (-0.2 = -20 %)

    @property
    def end_s(self) -> float:
        return self.at_s + self.for_s

    @property
    def hold_ms(self) -> int:
        """How long a ``timeout`` holds a request before dropping it."""
        return self.ms if self.ms is not None else DEFAULT_TIMEOUT_HOLD_MS

    def covers(self, endpoint: Endpoint | None) -> bool:
        """True when this fault applies to a request of ``endpoint`` (None: unnamed path)."""
        if self.fault in DATA_FAULTS:
            # Data faults change market data only; `*` means every market-data endpoint.
            wanted = DATA_ENDPOINTS if self.endpoint is Endpoint.ANY else {self.endpoint}
            return endpoint in wanted
        return self.endpoint is Endpoint.ANY or endpoint is self.endpoint

    def describe(self) -> str:
        """``http_500 on klines`` / ``latency 1500 ms on *`` / ``price_jump -20 % on *``."""
        extra = ""
        if self.fault is Fault.LATENCY or (self.fault is Fault.TIMEOUT and self.ms is not None):
            extra = f" {self.hold_ms} ms"
        if self.pct is not None:
            extra = f" {self.pct * 100:+g} %"
        return f"{self.fault.value}{extra} on {self.endpoint.value}"

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "at_s": self.at_s,
            "for_s": self.for_s,
            "fault": self.fault.value,
            "endpoint": self.endpoint.value,
        }
        if self.ms is not None:
            out["ms"] = self.ms
        if self.pct is not None:
            out["pct"] = self.pct
        return out


# -- PARSING -------------------------------------------------------------------------------


def _choices(kind: type[StrEnum]) -> str:
    return ", ".join(m.value for m in kind)


def check_keys(raw: Mapping[str, Any], allowed: frozenset[str], where: str, what: str) -> None:
    """Refuse keys outside ``allowed``: "<where>: unknown key(s) x; <what> has a, b"."""
    unknown = sorted(set(raw) - allowed)
    if unknown:
        raise ConfigError(
            f"{where}: unknown key(s) {', '.join(unknown)}; {what} has {', '.join(sorted(allowed))}"
        )


def number(raw: Mapping[str, Any], key: str, where: str, low: float, high: float) -> float:
    """A finite JSON number in [low, high] (booleans refused); ConfigError names the field."""
    value = raw[key]
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ConfigError(f"{where}: {key}={value!r} is not a number; use seconds, e.g. 30")
    if not low <= value <= high:
        raise ConfigError(f"{where}: {key}={value!r} is out of range; use {low:g} to {high:g}")
    return float(value)


def _enum(kind: type[_E], raw: Mapping[str, Any], key: str, where: str) -> _E:
    value = raw.get(key)
    if value is None:
        raise ConfigError(f'{where}: "{key}" is missing; use one of {_choices(kind)}')
    try:
        return kind(value)
    except ValueError:
        raise ConfigError(
            f"{where}: unknown {key} {value!r}; use one of {_choices(kind)}"
        ) from None


def parse_fault_event(raw: Mapping[str, Any], where: str) -> FaultEvent:
    """One fault event from its JSON object; :class:`ConfigError` says what is wrong where."""
    check_keys(raw, FIELDS, where, "a fault event")
    fault = _enum(Fault, raw, "fault", where)
    endpoint = _enum(Endpoint, raw, "endpoint", where)
    for key in ("at_s", "for_s"):
        if key not in raw:
            raise ConfigError(f'{where}: "{key}" is missing; give seconds, e.g. "{key}": 10')
    at_s = number(raw, "at_s", where, 0, MAX_SECONDS)
    for_s = number(raw, "for_s", where, 0.001, MAX_SECONDS)
    allowed = _ALLOWED_ENDPOINTS.get(fault)
    if allowed is not None and endpoint not in allowed:
        names = ", ".join(sorted(e.value for e in allowed))
        raise ConfigError(
            f"{where}: {fault.value} changes market data, which {endpoint.value} does not "
            f"serve; use endpoint {names}"
        )
    ms = _ms(raw, fault, where)
    pct = _pct(raw, fault, where)
    return FaultEvent(at_s, for_s, fault, endpoint, ms, pct)


def _ms(raw: Mapping[str, Any], fault: Fault, where: str) -> int | None:
    if "ms" not in raw:
        if fault is Fault.LATENCY:
            raise ConfigError(f'{where}: latency needs "ms", the delay in milliseconds')
        return None
    if fault not in (Fault.LATENCY, Fault.TIMEOUT):
        raise ConfigError(f'{where}: "ms" applies to latency and timeout only, not {fault.value}')
    value = raw["ms"]
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_MS:
        raise ConfigError(
            f"{where}: ms={value!r} is not a whole number of milliseconds in [1, {MAX_MS}]"
        )
    return value


def _pct(raw: Mapping[str, Any], fault: Fault, where: str) -> float | None:
    if "pct" not in raw:
        if fault is Fault.PRICE_JUMP:
            raise ConfigError(f'{where}: price_jump needs "pct", e.g. -0.2 for a 20 % drop')
        return None
    if fault is not Fault.PRICE_JUMP:
        raise ConfigError(f'{where}: "pct" applies to price_jump only, not {fault.value}')
    value = number(raw, "pct", where, -math.inf, math.inf)
    if value == 0 or not -1 < value <= 10:
        raise ConfigError(
            f"{where}: pct={raw['pct']!r} is not a price move; pct is a decimal ratio in "
            "(-1, 10], not 0 (-0.2 = a 20 % drop, 0.5 = a 50 % rise)"
        )
    return value


# -- SCHEDULES -----------------------------------------------------------------------------


def _clash(a: FaultEvent, b: FaultEvent) -> str | None:
    """Why ``a`` and ``b`` cannot both apply to one request (None when they compose)."""
    if a.at_s >= b.end_s or b.at_s >= a.end_s:
        return None
    if not any(a.covers(e) and b.covers(e) for e in Endpoint if e is not Endpoint.ANY):
        return None
    if a.fault in ANSWER_FAULTS and b.fault in ANSWER_FAULTS:
        return "both replace the answer of the same requests"
    if a.fault is b.fault and a.fault in (Fault.LATENCY, Fault.STALE):
        return f"two {a.fault.value} faults on the same requests are ambiguous"
    return None


def check_schedule(events: Sequence[FaultEvent], where: Sequence[str]) -> None:
    """Refuse faults that overlap in time and endpoint in a way that has no single meaning.

    Latency composes with any answer, data faults with each other (price jumps multiply,
    gaps add up); two answer-replacing faults, two latencies or two stale windows on the
    same requests at the same time are refused.
    """
    for i, a in enumerate(events):
        for j in range(i + 1, len(events)):
            b = events[j]
            why = _clash(a, b)
            if why:
                start, end = max(a.at_s, b.at_s), min(a.end_s, b.end_s)
                raise ConfigError(
                    f"{where[i]} ({a.describe()}, {a.at_s:g}-{a.end_s:g} s) and {where[j]} "
                    f"({b.describe()}, {b.at_s:g}-{b.end_s:g} s) overlap at {start:g}-{end:g} s: "
                    f"{why}; move one of them or give them different endpoints"
                )


@dataclass(frozen=True)
class FaultSchedule:
    """Validated fault events, in the order given."""

    events: tuple[FaultEvent, ...]

    @classmethod
    def parse(cls, raw_events: Sequence[Any], *, prefix: str = "events") -> FaultSchedule:
        """Parse and check a list of fault event objects."""
        events, where = [], []
        for index, raw in enumerate(raw_events):
            label = f"{prefix}[{index}]"
            if not isinstance(raw, Mapping):
                raise ConfigError(f"{label} is {type(raw).__name__}; a fault event is an object")
            events.append(parse_fault_event(raw, label))
            where.append(label)
        check_schedule(events, where)
        return cls(tuple(events))

    def to_json(self) -> dict[str, Any]:
        return {"events": [event.to_json() for event in self.events]}


def require_replay(schedule: FaultSchedule, mode: str) -> None:
    """Data faults act on replayed time: refuse them for a server in historic mode."""
    data = [e for e in schedule.events if e.fault in DATA_FAULTS]
    if data and mode != "replay":
        raise ConfigError(
            f"{data[0].describe()} changes replayed market data, but the server runs in "
            f"{mode} mode (candles at their own 20xx times); add --mode replay"
        )


def read_json_object(path: Path, what: str) -> dict[str, Any]:
    """A JSON object from ``path``; :class:`ConfigError` naming the file on any problem."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{what} {path} cannot be read ({exc}); check the path") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"{what} {path} is not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"
        ) from None
    if not isinstance(data, dict):
        raise ConfigError(f"{what} {path} must hold a JSON object, not {type(data).__name__}")
    return data


def load_fault_file(path: Path) -> FaultSchedule:
    """Read a faults file ``{"events": [...]}`` (``tradingbot offline-exchange --faults``)."""
    data = read_json_object(path, "faults file")
    where = f"faults file {path}"
    check_keys(data, frozenset({"events"}), where, "a faults file (a drill scenario has more)")
    events = data.get("events")
    if not isinstance(events, list) or not events:
        raise ConfigError(f'{where}: "events" must be a non-empty list of faults')
    return FaultSchedule.parse(events, prefix=f"{path.name}: events")

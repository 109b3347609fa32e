"""Drill scenarios: a timeline of faults and actions, and what must hold.

A scenario file (the contract with operators, see docs/RUNBOOK.md "Game days")::

    {"duration_s": 120,
     "events": [
       {"at_s": 20, "for_s": 30, "fault": "http_500", "endpoint": "klines"},
       {"at_s": 60, "action": "breaker_on"},
       {"at_s": 90, "action": "breaker_off"}],
     "expect": ["no_duplicate_trades", "no_entries_while_breaker_on", "entries_resume"]}

Optional keys: ``description``, ``alerts`` (the alerts the drill rehearses) and ``settings``
(``RISK_*`` values for the drill's bot). Times count from the moment the bot is trading.
Everything is checked here, before anything starts: a bad scenario is a
:class:`ConfigError` (exit code 2) naming the key, the value and the fix.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from app.drill.expect import Expectation, parse_expectations
from app.errors import ConfigError
from app.offline_exchange.faults import FaultSchedule, check_keys, number, read_json_object

MIN_DURATION_S = 10
MAX_DURATION_S = 6 * 3600
KEYS = frozenset({"description", "alerts", "duration_s", "settings", "events", "expect"})
# The drill owns where its bot keeps state and records runs: a scenario may not move them.
RESERVED_SETTINGS = frozenset(
    {"RISK_STATE_DIR", "RISK_CIRCUIT_BREAKER_FILE", "RISK_DB_PATH", "RISK_DB_URL"}
)


class Action(StrEnum):
    """What the drill does to the bot or the breaker at a moment."""

    BREAKER_ON = "breaker_on"
    BREAKER_OFF = "breaker_off"
    KILL_BOT = "kill_bot"  # SIGKILL to Freqtrade (a crash)
    STOP_BOT = "stop_bot"  # SIGTERM to the runner (docker stop)
    START_BOT = "start_bot"


@dataclass(frozen=True)
class ActionEvent:
    """``action`` at ``at_s`` seconds."""

    at_s: float
    action: Action


@dataclass(frozen=True)
class Scenario:
    """A validated scenario."""

    name: str
    duration_s: float
    faults: FaultSchedule
    actions: tuple[ActionEvent, ...]
    expect: tuple[Expectation, ...]
    settings: Mapping[str, str] = field(default_factory=dict)
    description: str = ""
    alerts: tuple[str, ...] = ()

    @property
    def quiet_from_s(self) -> float:
        """When the last fault or action is over (``entries_resume`` looks after this)."""
        ends = [e.end_s for e in self.faults.events] + [a.at_s for a in self.actions]
        return max(ends, default=0.0)

    def to_json(self) -> dict[str, Any]:
        events: list[dict[str, Any]] = [e.to_json() for e in self.faults.events]
        events += [{"at_s": a.at_s, "action": a.action.value} for a in self.actions]
        events.sort(key=lambda e: float(e["at_s"]))
        return {
            "name": self.name,
            "description": self.description,
            "alerts": list(self.alerts),
            "duration_s": self.duration_s,
            "settings": dict(self.settings),
            "events": events,
            "expect": [str(e) for e in self.expect],
        }


def _action(raw: Mapping[str, Any], where: str, duration: float) -> ActionEvent:
    check_keys(raw, frozenset({"at_s", "action"}), where, "an action event")
    try:
        action = Action(raw["action"])
    except ValueError:
        names = ", ".join(a.value for a in Action)
        action_name = raw["action"]
        raise ConfigError(f"{where}: unknown action {action_name!r}; use one of {names}") from None
    if "at_s" not in raw:
        raise ConfigError(f'{where}: "at_s" is missing; give seconds, e.g. "at_s": 10')
    at_s = number(raw, "at_s", where, 0, duration)
    return ActionEvent(at_s, action)


def _check_actions(actions: Sequence[tuple[str, ActionEvent]]) -> tuple[bool, bool]:
    """Replay the actions in time order; refuse impossible steps. Returns (bot running,
    breaker on) at the end."""
    running, breaker = True, False
    for where, event in sorted(actions, key=lambda item: item[1].at_s):
        action = event.action
        problem = None
        if action in (Action.KILL_BOT, Action.STOP_BOT) and not running:
            problem = "the bot is not running then (add a start_bot before it)"
        elif action is Action.START_BOT and running:
            problem = "the bot is already running then (kill_bot or stop_bot it first)"
        elif action is Action.BREAKER_ON and breaker:
            problem = "the breaker is already on then"
        elif action is Action.BREAKER_OFF and not breaker:
            problem = "the breaker is not on then (add a breaker_on before it)"
        if problem:
            raise ConfigError(f"{where} ({action.value} at {event.at_s:g} s): {problem}")
        if action in (Action.KILL_BOT, Action.STOP_BOT, Action.START_BOT):
            running = action is Action.START_BOT
        else:
            breaker = action is Action.BREAKER_ON
    return running, breaker


def _settings(raw: Any) -> dict[str, str]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ConfigError('"settings" must be an object of RISK_* variables, e.g. {"RISK_...": 5}')
    out = {}
    for key, value in raw.items():
        if not key.startswith("RISK_"):
            raise ConfigError(f"settings: {key!r} is not a RISK_* variable")
        if key in RESERVED_SETTINGS:
            raise ConfigError(
                f"settings: {key} is set by the drill itself (its own state folder and the "
                "project's registry); remove it"
            )
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise ConfigError(f"settings: {key}={value!r} must be a string or a number")
        out[key] = str(value)
    return out


def parse_scenario(data: Mapping[str, Any], name: str) -> Scenario:
    """Validate a scenario's JSON object; :class:`ConfigError` names what is wrong."""
    check_keys(data, KEYS, f"scenario {name}", "a scenario")
    if "duration_s" not in data:
        raise ConfigError(f'scenario {name}: "duration_s" is missing (seconds the drill runs)')
    duration = number(data, "duration_s", f"scenario {name}", MIN_DURATION_S, MAX_DURATION_S)
    raw_events = data.get("events", [])
    if not isinstance(raw_events, list):
        raise ConfigError(f'scenario {name}: "events" must be a list')
    faults, actions = [], []
    for index, raw in enumerate(raw_events):
        where = f"scenario {name}: events[{index}]"
        if not isinstance(raw, dict) or ("fault" in raw) == ("action" in raw):
            raise ConfigError(f'{where} must be an object with either "fault" or "action"')
        if "action" in raw:
            actions.append((where, _action(raw, where, duration)))
        else:
            faults.append((where, raw))
    schedule = FaultSchedule.parse([raw for _, raw in faults], prefix=f"scenario {name}: faults")
    for (where, _), event in zip(faults, schedule.events, strict=True):
        if event.end_s > duration:
            raise ConfigError(
                f"{where} ({event.describe()}) ends at {event.end_s:g} s, after duration_s "
                f"{duration:g}; end it earlier or make the drill longer"
            )
    running, breaker = _check_actions(actions)
    expect = parse_expectations(data.get("expect"), f"scenario {name}")
    kinds = [a.action for _, a in sorted(actions, key=lambda item: item[1].at_s)]
    for expectation in expect:
        expectation.check_scenario(kinds, running_at_end=running, breaker_at_end=breaker)
    alerts = data.get("alerts", [])
    description = data.get("description", "")
    if not isinstance(alerts, list) or not all(isinstance(a, str) for a in alerts):
        raise ConfigError(f'scenario {name}: "alerts" must be a list of alert names')
    if not isinstance(description, str):
        raise ConfigError(f'scenario {name}: "description" must be a string')
    return Scenario(
        name=name,
        duration_s=duration,
        faults=schedule,
        actions=tuple(a for _, a in sorted(actions, key=lambda item: item[1].at_s)),
        expect=tuple(expect),
        settings=_settings(data.get("settings")),
        description=description,
        alerts=tuple(alerts),
    )


def load_scenario(path: Path) -> Scenario:
    """Read and validate a scenario file (its name is the file's stem)."""
    return parse_scenario(read_json_object(path, "scenario file"), path.stem)

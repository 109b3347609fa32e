"""Drill scenarios: the file format, its strict checks, and the built-in scenarios."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.drill.builtins import builtin_names, load_builtin, scenario_dir
from app.drill.expect import Check, Expectation
from app.drill.scenario import Action, ActionEvent, load_scenario, parse_scenario
from app.errors import ConfigError
from app.offline_exchange.faults import Fault
from app.risk.decision import Reason

# The example of issue 12, verbatim.
EXAMPLE: dict[str, Any] = {
    "duration_s": 120,
    "events": [
        {"at_s": 20, "for_s": 30, "fault": "http_500", "endpoint": "klines"},
        {"at_s": 60, "action": "breaker_on"},
        {"at_s": 90, "action": "breaker_off"},
    ],
    "expect": ["no_duplicate_trades", "no_entries_while_breaker_on", "entries_resume"],
}


def with_changes(**changes: Any) -> dict[str, Any]:
    data = copy.deepcopy(EXAMPLE)
    data.update(changes)
    return data


def test_parse_when_issue_example_then_faults_actions_and_expectations() -> None:
    """The issue's example parses into one fault, two actions and three expectations."""
    scenario = parse_scenario(EXAMPLE, "example")

    assert scenario.duration_s == 120
    assert [e.fault for e in scenario.faults.events] == [Fault.HTTP_500]
    assert scenario.actions == (
        ActionEvent(60, Action.BREAKER_ON),
        ActionEvent(90, Action.BREAKER_OFF),
    )
    assert scenario.expect == (
        Expectation(Check.NO_DUPLICATE_TRADES),
        Expectation(Check.NO_ENTRIES_WHILE_BREAKER_ON),
        Expectation(Check.ENTRIES_RESUME),
    )
    assert scenario.quiet_from_s == 90


def test_to_json_when_parsed_again_then_same_scenario() -> None:
    """A scenario's JSON (as reports and the registry keep it) parses back to itself."""
    scenario = parse_scenario(with_changes(settings={"RISK_DATA_STALE_TIMEOUT_SEC": 5}), "x")
    data = scenario.to_json()
    name = data.pop("name")
    assert parse_scenario(json.loads(json.dumps(data)), name) == scenario


@pytest.mark.parametrize("name", builtin_names())
def test_builtin_when_loaded_then_valid_and_expects_something(name: str) -> None:
    """Every built-in is a valid scenario file that describes itself and expects something."""
    scenario = load_builtin(name)
    assert scenario.name == name
    assert scenario.description
    assert scenario.expect
    assert scenario.quiet_from_s <= scenario.duration_s


def test_builtins_when_listed_then_the_issue_incidents_are_covered() -> None:
    """The six incidents the issue names each have a built-in drill."""
    assert set(builtin_names()) >= {
        "breaker-mid-run",
        "stale-data",
        "error-storm",
        "rate-limit-ban",
        "kill-restart",
        "price-crash-loss-cap",
    }


def test_load_builtin_when_unknown_then_names_the_builtins() -> None:
    """An unknown drill name lists the built-ins."""
    with pytest.raises(ConfigError, match="unknown drill 'nope'; built-in drills: breaker-mid-run"):
        load_builtin("nope")


def _event(index: int, **changes: Any) -> dict[str, Any]:
    data = copy.deepcopy(EXAMPLE)
    data["events"][index].update(changes)
    return data


BAD: list[tuple[dict[str, Any], str]] = [
    (with_changes(duration_s=5), "duration_s=5 is out of range; use 10 to"),
    (with_changes(duration_s="2m"), "duration_s='2m' is not a number"),
    ({k: v for k, v in EXAMPLE.items() if k != "duration_s"}, '"duration_s" is missing'),
    (with_changes(extra=1), "unknown key(s) extra; a scenario has alerts, description"),
    (_event(0, fault="http_999"), "unknown fault 'http_999'"),
    (_event(0, endpoint="orders"), "unknown endpoint 'orders'"),
    (_event(0, at_s=-3), "at_s=-3 is out of range"),
    (_event(0, for_s=200), "ends at 220 s, after duration_s 120"),
    (_event(1, action="reboot"), "unknown action 'reboot'; use one of breaker_on"),
    (_event(1, at_s=121), "at_s=121 is out of range; use 0 to 120"),
    (_event(1, for_s=3), "unknown key(s) for_s; an action event has action, at_s"),
    (_event(2, at_s=50), "breaker_off at 50 s): the breaker is not on then"),
    (with_changes(events=[{"at_s": 1, "action": "start_bot"}]), "already running then"),
    (with_changes(events=[{"at_s": 1}]), 'either "fault" or "action"'),
    (
        with_changes(events=[{"at_s": 1, "action": "stop_bot", "fault": "reset"}]),
        'either "fault" or "action"',
    ),
    (with_changes(events={}), '"events" must be a list'),
    (with_changes(expect=[]), '"expect" must be a non-empty list'),
    (with_changes(expect=["bot_dies"]), "unknown expectation 'bot_dies'; use one of"),
    (with_changes(expect=["refusals:TOO_MUCH"]), "'refusals:TOO_MUCH' names no reason code"),
    (with_changes(expect=["refusals"]), "'refusals' names no reason code"),
    (with_changes(expect=["refusals:ALLOWED"]), "never refuses entries with ALLOWED"),
    (with_changes(expect=["halted:STALE_DATA"]), "the guard never halts for STALE_DATA"),
    (with_changes(expect=["entries_resume:now"]), "entries_resume takes no argument"),
    (with_changes(expect=["bot_survives", "bot_survives"]), "listed twice"),
    (with_changes(expect=["trades_survive_restart"]), "needs a kill_bot or stop_bot followed"),
    (
        with_changes(events=[], expect=["no_entries_while_breaker_on"]),
        "never turns the breaker on",
    ),
    (
        with_changes(events=[{"at_s": 5, "action": "breaker_on"}], expect=["entries_resume"]),
        "ends with the breaker on",
    ),
    (
        with_changes(events=[{"at_s": 5, "action": "kill_bot"}], expect=["entries_resume"]),
        "ends with the bot stopped",
    ),
    (with_changes(settings={"PATH": "x"}), "'PATH' is not a RISK_* variable"),
    (with_changes(settings={"RISK_STATE_DIR": "/tmp"}), "RISK_STATE_DIR is set by the drill"),
    (with_changes(settings={"RISK_X": [1]}), "must be a string or a number"),
    (with_changes(alerts="BotDown"), '"alerts" must be a list'),
]


@pytest.mark.parametrize(("data", "message"), BAD, ids=[m for _, m in BAD])
def test_parse_when_bad_scenario_then_config_error_says_what_and_where(
    data: dict[str, Any], message: str
) -> None:
    """Every malformed scenario is refused (exit code 2) with what is wrong and where."""
    with pytest.raises(ConfigError) as caught:
        parse_scenario(data, "bad")
    assert caught.value.exit_code == 2
    assert message in str(caught.value)


def test_parse_when_restart_then_trades_survive_restart_accepted() -> None:
    """kill_bot then start_bot makes trades_survive_restart meaningful; time order counts,
    not file order."""
    data = with_changes(
        events=[{"at_s": 12, "action": "start_bot"}, {"at_s": 10, "action": "kill_bot"}],
        expect=["trades_survive_restart", "refusals:STALE_DATA", "halted:DAILY_LOSS_CAP"],
    )
    scenario = parse_scenario(data, "restart")
    assert [a.action for a in scenario.actions] == [Action.KILL_BOT, Action.START_BOT]
    assert scenario.expect[1] == Expectation(Check.REFUSALS, Reason.STALE_DATA)


def test_load_scenario_when_file_then_named_after_it(tmp_path: Path) -> None:
    """A scenario file is named after its stem; a broken file names the path."""
    good = tmp_path / "my-drill.json"
    good.write_text(json.dumps(EXAMPLE))
    assert load_scenario(good).name == "my-drill"
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    with pytest.raises(ConfigError, match=r"scenario file .*broken.json is not valid JSON"):
        load_scenario(broken)


def test_builtin_files_when_read_then_are_the_package_files() -> None:
    """The built-ins come from the package folder, one JSON file each."""
    files = sorted(p.stem for p in scenario_dir().glob("*.json"))
    assert files == builtin_names()


_raw_event = st.one_of(
    st.fixed_dictionaries(
        {
            "at_s": st.integers(-5, 150),
            "action": st.sampled_from([a.value for a in Action] + ["nap"]),
        }
    ),
    st.fixed_dictionaries(
        {
            "at_s": st.integers(0, 150),
            "for_s": st.integers(0, 60),
            "fault": st.sampled_from([f.value for f in Fault]),
            "endpoint": st.sampled_from(["klines", "*", "depth"]),
        }
    ),
)


@settings(deadline=None)  # a busy machine must not fail a correctness property
@given(
    st.lists(_raw_event, max_size=6),
    st.lists(st.sampled_from([c.value for c in Check] + ["halted:CIRCUIT_BREAKER"]), max_size=3),
)
def test_parse_when_random_scenario_then_valid_or_config_error(
    events: list[dict[str, Any]], expect: list[str]
) -> None:
    """Any scenario either parses or is refused with ConfigError; nothing else escapes."""
    data = {"duration_s": 120, "events": events, "expect": expect}
    try:
        scenario = parse_scenario(data, "random")
    except ConfigError:
        return
    assert scenario.expect
    assert all(e.end_s <= 120 for e in scenario.faults.events)

"""Judging expectations on hand-made observations: every check holds and fails for a reason."""

from __future__ import annotations

from typing import Any

import pytest

from app.drill.bot import BotLife
from app.drill.evidence import GuardLine, TradeBook, TradeRow
from app.drill.expect import parse_expectation
from app.drill.observations import ActionRecord, Observations, RestartRecord
from app.drill.scenario import Action
from app.drill.verdicts import LOOP_GRACE_MS, judge

T0 = 1_900_000_000_000
S = 1000  # one second in ms


def trade(tid: int, pair: str, open_s: float, close_s: float | None = None) -> TradeRow:
    close = None if close_s is None else T0 + round(close_s * S)
    return TradeRow(tid, pair, T0 + round(open_s * S), close, close is None, 1.0, None)


def line(at_s: float, message: str, **fields: Any) -> GuardLine:
    return GuardLine(T0 + round(at_s * S), message, {"message": message, **fields}, 1)


def observed(
    trades: list[TradeRow] | None = None, orders: tuple[str, ...] = (), **changes: Any
) -> Observations:
    """A 60 s drill by one bot that ran to the end, with ``trades`` in the database."""
    trades = trades if trades is not None else [trade(1, "A/BTC", 1, 5), trade(2, "A/BTC", 6, 9)]
    obs = Observations(
        t0_ms=T0,
        end_ms=T0 + 60 * S,
        quiet_ms=T0 + 30 * S,
        bots=[BotLife(1, 100, T0 - 10 * S, T0 + 61 * S, 130, "drill end")],
        book=TradeBook(tuple(trades), orders or tuple(f"o{t.id}" for t in trades)),
        seen={t.id: t for t in trades},
        last_loop_ms=T0 + 59 * S,
    )
    for key, value in changes.items():
        setattr(obs, key, value)
    return obs


def verdict(obs: Observations, expectation: str) -> tuple[bool, str]:
    (result,) = judge([parse_expectation(expectation, "test")], obs)
    assert result.expectation == expectation
    return result.held, "\n".join(result.evidence)


# -- bot_survives -------------------------------------------------------------------------


def test_bot_survives_when_ran_to_the_end_then_held_with_loop_age() -> None:
    """A bot stopped by the drill with a fresh loop survives; the evidence says how fresh."""
    held, evidence = verdict(observed(), "bot_survives")
    assert held
    assert "its loop last ran 1.0 s before the end" in evidence


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"bots": [BotLife(1, 100, T0, T0 + 20 * S, 1, None)]}, "exited by itself with code 1"),
        ({"last_loop_ms": T0 - 5 * S}, "the bot's loop stalled: it last ran 65 s before"),
        ({"last_loop_ms": None}, "did not say when its loop last ran"),
        (
            {"bots": [BotLife(1, 100, T0, T0 + 61 * S, 137, "drill end")]},
            "did not stop cleanly on SIGTERM (exit 137)",
        ),
    ],
)
def test_bot_survives_when_bot_died_or_stalled_then_failed(
    change: dict[str, Any], message: str
) -> None:
    """A bot that died by itself, stalled, or could not be stopped cleanly fails the check."""
    held, evidence = verdict(observed(**change), "bot_survives")
    assert not held
    assert message in evidence


def test_bot_survives_when_killed_by_action_and_restarted_then_held() -> None:
    """A bot ended by kill_bot does not count against survival."""
    bots = [
        BotLife(1, 100, T0, T0 + 10 * S, 137, "kill_bot"),
        BotLife(2, 101, T0 + 12 * S, T0 + 61 * S, 0, "drill end"),
    ]
    held, evidence = verdict(observed(bots=bots), "bot_survives")
    assert held
    assert "stopped by kill_bot" in evidence


# -- no_duplicate_trades ------------------------------------------------------------------


def test_no_duplicates_when_trades_follow_each_other_then_held() -> None:
    """Trades one after another on a pair, each order id once: held, with counts."""
    held, evidence = verdict(observed(), "no_duplicate_trades")
    assert held
    assert "2 trades on 1 pair(s), 2 order ids" in evidence


@pytest.mark.parametrize(
    ("trades", "orders", "seen_extra", "message"),
    [
        ([trade(1, "A/BTC", 1, 8), trade(2, "A/BTC", 6, 9)], (), {}, "two open trades on A/BTC"),
        ([trade(1, "A/BTC", 1), trade(2, "A/BTC", 6)], (), {}, "two open trades on A/BTC"),
        ([trade(1, "A/BTC", 1, 5)], ("x", "x"), {}, "order id(s) used twice: x"),
        ([trade(1, "A/BTC", 1, 5)], (), {7: trade(7, "B/BTC", 2)}, "trade #7 (B/BTC"),
        (
            [trade(1, "A/BTC", 1, 5), trade(2, "A/BTC", 1, 5)],
            (),
            {},
            "trades recorded twice",
        ),
        ([], (), {}, "the bot made no trade"),
    ],
)
def test_no_duplicates_when_overlap_repeat_or_loss_then_failed(
    trades: list[TradeRow], orders: tuple[str, ...], seen_extra: dict[int, TradeRow], message: str
) -> None:
    """Overlapping trades on a pair, an order id twice, a trade that vanished: each fails."""
    obs = observed(trades, orders)
    obs.seen.update(seen_extra)
    held, evidence = verdict(obs, "no_duplicate_trades")
    assert not held
    assert message in evidence


# -- no_entries_while_breaker_on ----------------------------------------------------------


def breaker_obs(trades: list[TradeRow], guard: list[GuardLine]) -> Observations:
    actions = [
        ActionRecord(Action.BREAKER_ON, T0 + 10 * S, T0 + 10 * S, "on"),
        ActionRecord(Action.BREAKER_OFF, T0 + 30 * S, T0 + 30 * S, "off"),
    ]
    return observed(trades, actions=actions, guard=guard)


REFUSED = line(12, "entry_refused", reason="CIRCUIT_BREAKER", pair="A/BTC")


def test_breaker_when_no_entry_inside_and_refusals_seen_then_held() -> None:
    """No trade opens between breaker_on (+ one loop) and breaker_off, and the guard was seen
    refusing with CIRCUIT_BREAKER: held. An entry inside the first loop is allowed."""
    trades = [trade(1, "A/BTC", 10 + LOOP_GRACE_MS / S / 2, 11), trade(2, "A/BTC", 31, 35)]
    held, evidence = verdict(breaker_obs(trades, [REFUSED]), "no_entries_while_breaker_on")
    assert held
    assert "1 entries refused with CIRCUIT_BREAKER" in evidence


def test_breaker_when_trade_opens_inside_then_failed_naming_it() -> None:
    """A trade opened while the breaker was on fails the check, by id and time."""
    trades = [trade(5, "B/BTC", 20, 25)]
    held, evidence = verdict(breaker_obs(trades, [REFUSED]), "no_entries_while_breaker_on")
    assert not held
    assert "1 trade(s) opened: #5 B/BTC at t+20.0s" in evidence


def test_breaker_when_bot_never_reacted_then_failed_as_unjudgeable() -> None:
    """No entry but no sign the bot saw the breaker: the check cannot pass."""
    held, evidence = verdict(
        breaker_obs([trade(1, "A/BTC", 1, 2)], []), "no_entries_while_breaker_on"
    )
    assert not held
    assert "the bot never reacted" in evidence


# -- entries_resume -----------------------------------------------------------------------


def test_entries_resume_when_trade_after_last_event_then_held() -> None:
    """A trade opened after the last fault or action: held, naming it and the delay."""
    held, evidence = verdict(observed([trade(9, "A/BTC", 33)]), "entries_resume")
    assert held
    assert "trade #9 A/BTC opened at t+33.0s (3.0 s later)" in evidence


def test_entries_resume_when_nothing_after_last_event_then_failed_with_refusals() -> None:
    """No trade after the last event fails, listing the refusals seen since."""
    guard = [
        line(40, "entry_refused", reason="STALE_DATA"),
        line(41, "entry_refused", reason="STALE_DATA"),
    ]
    held, evidence = verdict(observed(guard=guard), "entries_resume")
    assert not held
    assert "STALE_DATA x2" in evidence
    assert "the last entry was at t+6.0s" in evidence


# -- trades_survive_restart ---------------------------------------------------------------


def restart_obs(final: list[TradeRow], record: RestartRecord) -> Observations:
    return observed(final, restarts=[record])


OPEN = trade(3, "A/BTC", 5)


def test_restart_when_restarted_bot_lists_the_trade_then_held() -> None:
    """A trade open at the kill, listed open by the restarted bot's API: held."""
    record = RestartRecord(T0 + 10 * S, [OPEN], T0 + 12 * S, [3], T0 + 20 * S)
    held, evidence = verdict(restart_obs([OPEN], record), "trades_survive_restart")
    assert held
    assert "listed 1 of them open, 0 were closed by it" in evidence


def test_restart_when_restarted_bot_closed_the_trade_then_held() -> None:
    """A trade the restarted bot closed (after its start) was taken over too."""
    closed = trade(3, "A/BTC", 5, 14)
    record = RestartRecord(T0 + 10 * S, [OPEN], T0 + 12 * S, [], T0 + 20 * S)
    held, evidence = verdict(restart_obs([closed], record), "trades_survive_restart")
    assert held
    assert "1 were closed by it afterwards" in evidence


@pytest.mark.parametrize(
    ("final", "record", "message"),
    [
        ([], RestartRecord(T0, [OPEN], T0 + S, [], T0 + 2 * S), "is gone from the database"),
        (
            [OPEN, trade(4, "A/BTC", 15)],
            RestartRecord(T0, [OPEN], T0 + S, [3], T0 + 2 * S),
            "#3 A/BTC was doubled after the restart: #4",
        ),
        (
            [OPEN],
            RestartRecord(T0, [OPEN], T0 + S, None, None),
            "neither reported it open nor closed it (its REST API never answered)",
        ),
        ([], RestartRecord(T0, [], T0 + S, [], T0), "with no open trade: there was nothing"),
    ],
)
def test_restart_when_trade_lost_doubled_or_unconfirmed_then_failed(
    final: list[TradeRow], record: RestartRecord, message: str
) -> None:
    """A trade lost, doubled or not taken over, or nothing to carry over: failed."""
    held, evidence = verdict(restart_obs(final, record), "trades_survive_restart")
    assert not held
    assert message in evidence


# -- refusals:REASON and halted:REASON ----------------------------------------------------


def test_refusals_when_reason_seen_then_held_else_failed_with_what_was_seen() -> None:
    """refusals:R holds on one refusal with R; otherwise the evidence lists other reasons."""
    guard = [line(3, "entry_refused", reason="STALE_DATA", pair="A/BTC", detail="late")]
    held, evidence = verdict(observed(guard=guard), "refusals:STALE_DATA")
    assert held
    assert "1 entries refused with STALE_DATA, first at t+3.0s (A/BTC: late)" in evidence
    held, evidence = verdict(observed(guard=guard), "refusals:CIRCUIT_BREAKER")
    assert not held
    assert "refusals seen: STALE_DATA x1" in evidence


def test_halted_when_state_changed_with_reason_then_held_else_failed() -> None:
    """halted:R holds when the risk state went HALTED with R."""
    guard = [line(4, "risk_state_changed", old="ACTIVE", new="HALTED", reason="DAILY_LOSS_CAP")]
    held, evidence = verdict(observed(guard=guard), "halted:DAILY_LOSS_CAP")
    assert held
    assert "HALTED with DAILY_LOSS_CAP at t+4.0s" in evidence
    held, evidence = verdict(observed(guard=guard), "halted:CIRCUIT_BREAKER")
    assert not held
    assert "HALTED (DAILY_LOSS_CAP) at t+4.0s" in evidence


def test_judge_when_bot_never_traded_then_every_expectation_fails_with_the_reason() -> None:
    """Nothing was exercised: every expectation fails and says why."""
    obs = Observations(startup_problem="the bot exited with code 2 before it traded")
    results = judge([parse_expectation("bot_survives", "t")], obs)
    assert [(r.held, r.evidence) for r in results] == [
        (False, ("the bot exited with code 2 before it traded",))
    ]


def test_entries_resume_when_drill_waited_past_its_end_then_evidence_says_so() -> None:
    """When the drill had to wait past the scenario's end for the entry, the evidence says
    how long."""
    obs = observed([trade(9, "A/BTC", 70)], resume_wait_ms=12_000)
    held, evidence = verdict(obs, "entries_resume")
    assert held
    assert "waited 12.0 s past its end" in evidence


def test_breaker_when_entry_right_after_the_off_switch_then_not_inside_the_window() -> None:
    """The breaker is off from the moment breaker_off starts writing it (its incident is
    recorded after): an entry then, before the action finished, is not inside the window."""
    actions = [
        ActionRecord(Action.BREAKER_ON, T0 + 10 * S, T0 + 10 * S + 500, "on", True, T0 + 10 * S),
        ActionRecord(Action.BREAKER_OFF, T0 + 30 * S, T0 + 31 * S, "off", True, T0 + 30 * S),
    ]
    obs = observed([trade(3, "A/BTC", 30.4, 34)], actions=actions, guard=[REFUSED])
    held, evidence = verdict(obs, "no_entries_while_breaker_on")
    assert held, evidence
    assert "breaker on t+10.0s..t+30.0s" in evidence

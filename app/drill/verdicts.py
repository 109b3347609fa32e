"""Judging a drill's expectations on what it observed.

Each check returns a :class:`Verdict` with the evidence either way: what held and how it
was seen, or what broke (trade ids, pairs, times, counts). A check that finds nothing to
judge (no trade open at a restart, a breaker the bot never reacted to) fails: a drill that
exercised nothing must not pass.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from app.drill.evidence import TradeRow
from app.drill.expect import Check, Expectation
from app.drill.observations import Observations, RestartRecord
from app.drill.scenario import Action

LOOP_GRACE_MS = 2_000  # one loop (process_throttle_secs 1 s) plus the loop's own work
LOOP_FRESH_MS = 60_000  # at the end the last bot's loop must have run this recently
CLEAN_EXIT_CODES = frozenset({0, 130, 143})  # how the runner ends after SIGTERM
SHOWN = 5  # ids listed in evidence before "..."


@dataclass(frozen=True)
class Verdict:
    """One expectation and whether it held, with the evidence."""

    expectation: str
    held: bool
    evidence: tuple[str, ...]


def _ids(trades: Sequence[TradeRow], obs: Observations) -> str:
    shown = [f"#{t.id} {t.pair} at {obs.t(t.open_ms)}" for t in trades[:SHOWN]]
    more = f" and {len(trades) - SHOWN} more" if len(trades) > SHOWN else ""
    return ", ".join(shown) + more


def _counts(counter: Counter[str]) -> str:
    return ", ".join(f"{k} x{v}" for k, v in counter.most_common()) or "none"


# -- THE CHECKS ----------------------------------------------------------------------------


def bot_survives(obs: Observations) -> tuple[bool, list[str]]:
    problems, notes = [], []
    for life in obs.bots:
        span = f"bot {life.index} (pid {life.pid}) {obs.t(life.started_ms)}..{obs.t(life.ended_ms)}"
        if life.stopped_by is None and life.ended_ms is not None:
            problems.append(f"{span} exited by itself with code {life.returncode}")
        elif life.stopped_by == "drill end" and life.returncode not in CLEAN_EXIT_CODES:
            problems.append(f"{span} did not stop cleanly on SIGTERM (exit {life.returncode})")
        else:
            notes.append(f"{span}, exit {life.returncode}, stopped by {life.stopped_by}")
    last = obs.bots[-1] if obs.bots else None
    if last is not None and last.stopped_by == "drill end":
        if obs.last_loop_ms is None:
            problems.append("at the end the bot's REST API did not say when its loop last ran")
        elif obs.end_ms - obs.last_loop_ms > LOOP_FRESH_MS:
            age = (obs.end_ms - obs.last_loop_ms) / 1000
            problems.append(f"the bot's loop stalled: it last ran {age:.0f} s before the end")
        else:
            age = (obs.end_ms - obs.last_loop_ms) / 1000
            notes.append(f"its loop last ran {age:.1f} s before the end")
    return not problems, problems or notes


def no_duplicate_trades(obs: Observations) -> tuple[bool, list[str]]:
    trades = obs.entries()
    if not trades:
        return False, ["the bot made no trade: there is nothing to check for duplicates"]
    problems = []
    last_by_pair: dict[str, TradeRow] = {}
    for trade in trades:
        before = last_by_pair.get(trade.pair)
        if before is not None and before.open_at(trade.open_ms):
            problems.append(
                f"two open trades on {trade.pair}: #{before.id} (opened {obs.t(before.open_ms)}, "
                f"closed {obs.t(before.close_ms)}) and #{trade.id} (opened {obs.t(trade.open_ms)})"
            )
        if before is None or (trade.close_ms or obs.end_ms) > (before.close_ms or obs.end_ms):
            last_by_pair[trade.pair] = trade
    repeated = [oid for oid, n in Counter(obs.book.order_ids).items() if n > 1]
    if repeated:
        problems.append(f"order id(s) used twice: {', '.join(repeated[:SHOWN])}")
    doubled = [k for k, n in Counter((t.pair, t.open_ms) for t in trades).items() if n > 1]
    if doubled:
        problems.append(f"trades recorded twice (same pair and open time): {doubled[:SHOWN]}")
    final = {t.id: t for t in trades}
    for trade_id, seen in sorted(obs.seen.items()):
        now = final.get(trade_id)
        if now is None:
            problems.append(f"trade #{trade_id} ({seen.pair}, opened {obs.t(seen.open_ms)}) lost")
        elif (now.pair, now.open_ms) != (seen.pair, seen.open_ms):
            problems.append(f"trade #{trade_id} changed from {seen.pair} to {now.pair}")
    if problems:
        return False, problems
    pairs = len({t.pair for t in trades})
    return True, [
        (
            f"{len(trades)} trades on {pairs} pair(s), {len(obs.book.order_ids)} order ids: never "
            "two open at once on a pair, no order id twice"
        ),
        f"all {len(obs.seen)} trades seen while the drill ran are in the final database, unchanged",
    ]


def _breaker_windows(obs: Observations) -> list[tuple[int, int]]:
    windows, on = [], None
    for record in sorted(obs.actions, key=lambda r: r.effective_ms):
        if record.action is Action.BREAKER_ON:
            on = record.effective_ms
        elif record.action is Action.BREAKER_OFF and on is not None:
            windows.append((on, record.effective_ms))
            on = None
    if on is not None:
        windows.append((on, obs.end_ms))
    return windows


def no_entries_while_breaker_on(obs: Observations) -> tuple[bool, list[str]]:
    problems, notes = [], []
    for start, end in _breaker_windows(obs):
        window = f"breaker on {obs.t(start)}..{obs.t(end)}"
        inside = [t for t in obs.entries() if start + LOOP_GRACE_MS <= t.decided_ms < end]
        refused = [r for r in obs.refusals("CIRCUIT_BREAKER") if start <= r.ms <= end]
        halts = [
            line
            for line in obs.lines("risk_state_changed")
            if start <= line.ms <= end + LOOP_GRACE_MS
            and line.fields.get("new") == "HALTED"
            and line.fields.get("reason") == "CIRCUIT_BREAKER"
        ]
        if inside:
            problems.append(f"{window}: {len(inside)} trade(s) opened: {_ids(inside, obs)}")
        elif not refused and not halts:
            problems.append(
                f"{window}: the bot never reacted (no CIRCUIT_BREAKER refusal or HALTED state): "
                "the breaker was not seen, so its effect cannot be judged"
            )
        else:
            first = min([r.ms for r in refused] + [h.ms for h in halts])
            notes.append(
                f"{window}: no trade opened after {obs.t(start + LOOP_GRACE_MS)}; first "
                f"reaction at {obs.t(first)}; {len(refused)} entries refused with "
                f"CIRCUIT_BREAKER; HALTED logged {len(halts)} time(s)"
            )
    return not problems, problems or notes


def entries_resume(obs: Observations) -> tuple[bool, list[str]]:
    after = [t for t in obs.entries() if t.open_ms > obs.quiet_ms]
    if after:
        first = after[0]
        wait = (first.open_ms - obs.quiet_ms) / 1000
        late = (
            f" (the drill waited {obs.resume_wait_ms / 1000:.1f} s past its end for it)"
            if obs.resume_wait_ms >= 1000
            else ""
        )
        return True, [
            (
                f"after the last event ({obs.t(obs.quiet_ms)}) trade #{first.id} {first.pair} "
                f"opened at {obs.t(first.open_ms)} ({wait:.1f} s later){late}; {len(after)} "
                "entries from then on"
            )
        ]
    refused = Counter(str(r.fields.get("reason")) for r in obs.refusals() if r.ms > obs.quiet_ms)
    entries = obs.entries()
    last = f"the last entry was at {obs.t(entries[-1].open_ms)}" if entries else "no entry at all"
    return False, [
        (
            f"no trade opened between the last event ({obs.t(obs.quiet_ms)}) and the end "
            f"({obs.t(obs.end_ms)}, {obs.resume_wait_ms / 1000:.0f} s past the scenario's end); "
            f"{last}; refusals after the last event: {_counts(refused)}"
        )
    ]


def _restart_problems(obs: Observations, rec: RestartRecord) -> tuple[list[str], list[str]]:
    down = f"bot down at {obs.t(rec.stopped_ms)}"
    if not rec.open_before:
        return [f"{down} with no open trade: there was nothing to carry over"], []
    if rec.started_ms is None:
        return [f"{down}: it was not started again"], []
    final = {t.id: t for t in obs.book.trades}
    problems, listed, closed = [], 0, 0
    for trade in rec.open_before:
        now = final.get(trade.id)
        name = f"#{trade.id} {trade.pair}"
        if now is None:
            problems.append(f"{name} (open when the bot went down) is gone from the database")
            continue
        if (now.pair, now.open_ms, now.amount) != (trade.pair, trade.open_ms, trade.amount):
            problems.append(f"{name} changed across the restart")
        twins = [t for t in obs.book.trades if t.pair == trade.pair and t.id != trade.id]
        doubled = [t for t in twins if now.open_at(t.open_ms)]
        if doubled:
            problems.append(f"{name} was doubled after the restart: {_ids(doubled, obs)}")
        if rec.api_open is not None and trade.id in rec.api_open:
            listed += 1
        elif now.close_ms is not None and now.close_ms >= rec.started_ms:
            closed += 1
        else:
            problems.append(
                f"{name}: the restarted bot neither reported it open nor closed it"
                + ("" if rec.api_open is not None else " (its REST API never answered)")
            )
    note = (
        f"{down} with {len(rec.open_before)} open trade(s); started again at "
        f"{obs.t(rec.started_ms)}; its REST API ({obs.t(rec.api_ms)}) listed {listed} of them "
        f"open, {closed} were closed by it afterwards; each is in the database once, unchanged"
    )
    return problems, [note]


def trades_survive_restart(obs: Observations) -> tuple[bool, list[str]]:
    problems, notes = [], []
    for rec in obs.restarts:
        bad, good = _restart_problems(obs, rec)
        problems += bad
        notes += good
    if not obs.restarts:
        problems.append("the bot was never stopped and started again")
    return not problems, problems or notes


def refusals(obs: Observations, reason: str) -> tuple[bool, list[str]]:
    found = obs.refusals(reason)
    if found:
        first = found[0]
        return True, [
            (
                f"{len(found)} entries refused with {reason}, first at {obs.t(first.ms)} "
                f"({first.fields.get('pair')}: {first.fields.get('detail')})"
            )
        ]
    seen = Counter(str(r.fields.get("reason")) for r in obs.refusals())
    return False, [
        (
            f"no entry was refused with {reason}; refusals seen: {_counts(seen)}; "
            f"{len(obs.entries())} entries were made"
        )
    ]


def halted(obs: Observations, reason: str) -> tuple[bool, list[str]]:
    changes = obs.lines("risk_state_changed")
    found = [
        c for c in changes if c.fields.get("new") == "HALTED" and c.fields.get("reason") == reason
    ]
    if found:
        first = found[0]
        return True, [f"HALTED with {reason} at {obs.t(first.ms)}: {first.fields.get('detail')}"]
    seen = [f"{c.fields.get('new')} ({c.fields.get('reason')}) at {obs.t(c.ms)}" for c in changes]
    return False, [f"the guard never went HALTED with {reason}; state changes: {seen or 'none'}"]


_CHECKS: dict[Check, Callable[[Observations], tuple[bool, list[str]]]] = {
    Check.BOT_SURVIVES: bot_survives,
    Check.NO_DUPLICATE_TRADES: no_duplicate_trades,
    Check.NO_ENTRIES_WHILE_BREAKER_ON: no_entries_while_breaker_on,
    Check.ENTRIES_RESUME: entries_resume,
    Check.TRADES_SURVIVE_RESTART: trades_survive_restart,
}


def judge(expectations: Sequence[Expectation], obs: Observations) -> list[Verdict]:
    """Every expectation's verdict, in the scenario's order."""
    verdicts = []
    for expectation in expectations:
        if obs.t0_ms is None:
            held, evidence = False, [obs.startup_problem or "the bot never started trading"]
        elif expectation.check is Check.REFUSALS and expectation.reason is not None:
            held, evidence = refusals(obs, expectation.reason.value)
        elif expectation.check is Check.HALTED and expectation.reason is not None:
            held, evidence = halted(obs, expectation.reason.value)
        else:
            held, evidence = _CHECKS[expectation.check](obs)
        verdicts.append(Verdict(str(expectation), held, tuple(evidence)))
    return verdicts

"""The command book: bad input changes nothing, stale changes are refused, /status reads
the guard's own log lines for each running bot."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from app.circuit_breaker import read_breaker
from app.registry import Registry
from app.settings import RiskSettings, load_settings
from app.telegram.commands import Caller, CommandBook
from app.telegram.status import parse_count

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
OPERATOR = Caller(4242, 4242, "operator")


@pytest.fixture
def settings(tmp_path: Path) -> RiskSettings:
    """State and registry in the test's folder."""
    env = {"RISK_STATE_DIR": str(tmp_path / "state"), "RISK_DB_PATH": str(tmp_path / "r.sqlite")}
    return load_settings(env, dotenv_path=None)


@pytest.fixture
def book(settings: RiskSettings, tmp_path: Path) -> Iterator[CommandBook]:
    """A command book over a fresh registry, the clock fixed at NOW."""
    with Registry(settings.database_url) as registry:
        yield CommandBook(
            settings,
            registry,
            log_file=tmp_path / "risk.jsonl",
            correlation_id="telegram-test",
            clock=lambda: NOW,
        )


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["30"],
        ["abc", "reason"],
        ["0", "reason"],
        ["527041", "reason"],
        ["\uff13\uff10", "reason"],  # fullwidth digits: isdigit() but not ASCII
    ],
)
def test_halt_when_arguments_bad_then_usage_and_breaker_untouched(
    book: CommandBook, settings: RiskSettings, args: list[str]
) -> None:
    """Missing reason, non-numbers (also non-ASCII digits), out of range: nothing changes."""
    answer = book.answer("halt", args, OPERATOR, NOW)

    assert "Usage: /halt <minutes> <reason>" in answer
    assert not settings.breaker_file.exists()
    assert book.registry.list_incidents() == []


def test_halt_when_sent_before_the_service_ran_then_not_obeyed(
    book: CommandBook, settings: RiskSettings
) -> None:
    """A /halt that waited 11 minutes for the service is not carried out."""
    answer = book.answer("halt", ["30", "late"], OPERATOR, NOW - timedelta(minutes=11))

    assert answer.startswith("Not done: this /halt was sent at 2026-11-30T11:49:00Z")
    assert not settings.breaker_file.exists()


def test_halt_then_resume_when_valid_then_breaker_changes_with_incidents_naming_who(
    book: CommandBook, settings: RiskSettings
) -> None:
    """/halt 30 and /resume drive the real breaker file and record who did it."""
    halted = book.answer("halt", ["30", "exchange", "outage"], OPERATOR, NOW)
    state = read_breaker(settings.breaker_file, NOW)
    resumed = book.answer("resume", [], OPERATOR, NOW)

    assert halted.startswith("Circuit breaker ACTIVE until 2026-11-30T12:30:00Z")
    assert (state.active, state.until) == (True, NOW + timedelta(minutes=30))
    assert resumed.startswith("Circuit breaker disabled (was active)")
    assert not read_breaker(settings.breaker_file, NOW).active
    described = [i.description for i in book.registry.list_incidents()]
    assert all("user @operator (id 4242) in chat 4242" in d for d in described)
    assert len(described) == 2


def test_status_when_a_bot_runs_then_its_risk_state_from_the_guard_log(
    book: CommandBook, tmp_path: Path
) -> None:
    """A running dry-run bot is listed with the newest risk_state_changed of its guard."""
    run_id = book.registry.start_run(kind="dry_run", correlation_id="bot-1", strategy="S")
    lines = [
        {"message": "risk_state_changed", "correlation_id": "bot-1", "new": "HALTED",
         "reason": "DAILY_LOSS_CAP", "until": "2026-12-01T00:00:00Z",
         "ts": "2026-11-30T11:00:00.000Z"},
        {"message": "risk_state_changed", "correlation_id": "other", "new": "COOLDOWN",
         "reason": "LOSS_STREAK", "until": None, "ts": "2026-11-30T11:30:00.000Z"},
    ]  # fmt: skip
    log = tmp_path / "risk.jsonl"
    log.write_text("half a line\n" + "".join(json.dumps(line) + "\n" for line in lines))

    answer = book.answer("status", [], OPERATOR, NOW)

    assert answer.startswith("Circuit breaker: off")
    assert "Bots running: 1" in answer
    assert (
        f"- S (dry_run, {run_id}): HALTED DAILY_LOSS_CAP until 2026-12-01 00:00Z "
        "since 2026-11-30 11:00Z"
    ) in answer


@pytest.mark.parametrize(
    ("args", "expected"), [([], 5), (["1"], 1), (["20"], 20), (["21"], None), (["-1"], None)]
)
def test_parse_count_when_given_then_bounded(args: list[str], expected: int | None) -> None:
    """/incidents and /runs take 1..20 (default 5); anything else is refused."""
    if expected is None:
        with pytest.raises(ValueError, match="from 1 to 20"):
            parse_count(args)
    else:
        assert parse_count(args) == expected

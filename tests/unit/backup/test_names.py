"""Strict relative paths, and which files each component may hold."""

from __future__ import annotations

import pytest

from app.backup.layout import NOT_FOR_TRADES
from app.backup.names import check, parse_relative, refusal
from app.errors import BackupError


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "is empty"),
        (".", r"not a relative path in normal form \(empty or '\.' part\)"),
        ("./", "not a relative path in normal form"),
        ("./a.log", "not a relative path in normal form"),
        ("a/./b.log", "not a relative path in normal form"),
        ("a//b.log", "not a relative path in normal form"),
        ("a/", "not a relative path in normal form"),
        ("..", "contains '..': it escapes its folder"),
        ("a/../../b", "contains '..': it escapes its folder"),
        ("/abs/file", "is absolute: it escapes its folder"),
        ("C:/x", "only A-Z a-z 0-9 . _ - are allowed"),
        ("a\\b", "only A-Z a-z 0-9 . _ - are allowed"),
        ("a\x00b", "only A-Z a-z 0-9 . _ - are allowed"),
        ("a\nb", "only A-Z a-z 0-9 . _ - are allowed"),
        ("caf\u00e9.log", "only A-Z a-z 0-9 . _ - are allowed"),
        ("a b.log", "only A-Z a-z 0-9 . _ - are allowed"),
        ("x" * 256, "has a name longer than 255 characters"),
        ("a/" * 600 + "b", "is longer than 1024 characters"),
        (None, r"is not a relative path \(not a string\)"),
        (["a"], r"is not a relative path \(not a string\)"),
        (7, r"is not a relative path \(not a string\)"),
    ],
)
def test_parse_relative_when_not_strict_then_refused(text: object, message: str) -> None:
    """Anything but a plain relative path of plain names is refused with the reason."""
    with pytest.raises(BackupError, match=message):
        parse_relative(text, "path")


def test_parse_relative_when_message_then_value_escaped_and_cut() -> None:
    """A hostile name never reaches a message raw: newlines escaped, length cut."""
    with pytest.raises(BackupError) as caught:
        parse_relative("evil\n\x1b[31mline" + "x" * 500, "path")
    message = str(caught.value)
    assert "\n" not in message
    assert "\x1b" not in message
    assert len(message) < 300


@pytest.mark.parametrize(
    ("component", "text"),
    [
        ("params", "MaCrossoverStrategy.json"),
        ("trades", "tradesv3.sqlite"),
        ("trades", "live/tradesv3.dryrun.sqlite"),
        ("backtests", "backtest-result-2026-01-01_00-00-00.zip"),
        ("backtests", "backtest-result-2026-01-01_00-00-00.meta.json"),
        ("backtests", ".last_result.json"),
        ("hyperopts", "strategy_MaCrossoverStrategy_2026-01-01_00-00-00.fthypt"),
        ("logs", "freqtrade/20260101T000000_abc.log"),
        ("logs", "risk.jsonl"),
        ("logs", "freqtrade.log.3"),
        ("logs", "incidents/incident_1_2_x.log"),
        ("state", "circuit_breaker.json"),
        ("hyperopts", "sweeps/sweep_20260101_ab/MaCrossoverStrategy/fold_1/MaCrossover.json"),
        ("hyperopts", "sweeps/sweep_20260101_ab/sweep.log"),
    ],
)
def test_refusal_when_file_the_component_holds_then_allowed(component: str, text: str) -> None:
    """The files each component really has pass."""
    assert refusal(component, parse_relative(text, "p"), NOT_FOR_TRADES) is None


@pytest.mark.parametrize(
    ("component", "text", "message"),
    [
        ("params", "Evil.py", "is not one of the params part's files"),
        ("params", "sub/Evil.json", "is nested deeper than 0 folder"),
        ("params", ".hidden.json", "is not one of the params part's files"),
        ("params", "9lives.json", "is not one of the params part's files"),
        ("trades", "strategies/tradesv3.sqlite", "lies in strategies/"),
        ("trades", "hyperopts/tradesv3.sqlite", "lies in hyperopts/"),
        ("trades", "evil.py", "is not one of the trades part's files"),
        ("trades", "tradesv3.sqlite.py", "is not one of the trades part's files"),
        ("trades", ".x/tradesv3.sqlite", "lies in a hidden folder"),
        ("trades", "a/b/c/tradesv3.sqlite", "is nested deeper than 2 folder"),
        ("backtests", "evil.py", "is not one of the backtests part's files"),
        ("backtests", ".bashrc", "is not one of the backtests part's files"),
        ("backtests", "x_signals.pkl", "is not one of the backtests part's files"),
        ("hyperopts", "hyperopt_tickerdata.pkl", "is not one of the hyperopts part's files"),
        ("hyperopts", "sweeps/s/S/train/S.py", "is not one of the hyperopts part's files"),
        ("logs", "sitecustomize.py", "is not one of the logs part's files"),
        ("logs", ".hidden.log", "is not one of the logs part's files"),
        ("logs", ".git/config.log", "lies in a hidden folder"),
        ("state", "running/backtest-1.json", "is a concurrency slot lock"),
        ("state", "circuit_breaker.json.lock", "is not one of the state part's files"),
    ],
)
def test_refusal_when_file_foreign_to_component_then_named(
    component: str, text: str, message: str
) -> None:
    """Code, dotfiles, pickles and files in other parts' folders are refused, with why."""
    with pytest.raises(BackupError, match=message):
        check(component, text, "member", NOT_FOR_TRADES)

"""The rule interface (app/risk/rules/base.py): defaults, abstract methods and ``pct``."""

from __future__ import annotations

from datetime import datetime

import pytest

from app.risk.decision import ALLOW, Decision
from app.risk.rules.base import Rule, pct
from app.risk.snapshot import GuardContext
from app.settings import RiskSettings
from tests.unit.risk.builders import NOW, ctx


class _AlwaysAllows(Rule):
    name = "always_allows"

    @classmethod
    def from_settings(cls, settings: RiskSettings) -> _AlwaysAllows:
        return cls()

    def check(self, ctx: GuardContext, now: datetime) -> Decision:
        return ALLOW


def test_rule_when_flags_not_declared_then_entry_level_no_candle_no_latch() -> None:
    """A rule is an entry rule that needs no candle and does not latch unless it says so."""
    assert (_AlwaysAllows.account_level, _AlwaysAllows.needs_candle) == (False, False)
    assert _AlwaysAllows.latches is False


def test_equity_floor_when_not_overridden_then_none() -> None:
    """A rule that does not depend on equity offers no floor (the guard never skips it)."""
    assert _AlwaysAllows().equity_floor(1000.0, 1200.0) is None
    assert _AlwaysAllows().check(ctx(), NOW) is ALLOW


def test_rule_when_check_missing_then_cannot_be_built() -> None:
    """A rule without ``check`` is refused at construction, not at the first entry."""

    class NoCheck(Rule):
        name = "no_check"

        @classmethod
        def from_settings(cls, settings: RiskSettings) -> NoCheck:
            return cls()

    with pytest.raises(TypeError, match="check"):
        NoCheck.from_settings(RiskSettings())


def test_rule_when_from_settings_missing_then_cannot_be_built() -> None:
    """A rule without ``from_settings`` cannot be instantiated either."""

    class NoFactory(Rule):
        name = "no_factory"

        def check(self, ctx: GuardContext, now: datetime) -> Decision:
            return ALLOW

    with pytest.raises(TypeError, match="from_settings"):
        NoFactory()


def test_rule_when_from_settings_missing_then_building_from_settings_fails_loudly() -> None:
    """build_rules calls from_settings on the class: a missing one raises, never turns the
    rule silently off by returning None."""

    class Forgetful(Rule):
        name = "forgetful"

        def check(self, ctx: GuardContext, now: datetime) -> Decision:
            return ALLOW

    with pytest.raises(NotImplementedError, match="Forgetful does not define from_settings"):
        Forgetful.from_settings(RiskSettings())


@pytest.mark.parametrize(
    ("ratio", "text"),
    [(0.1234, "12.34 %"), (0.05, "5.00 %"), (1.0, "100.00 %"), (0.0, "0.00 %"), (-0.5, "-50.00 %")],
)
def test_pct_when_ratio_given_then_percent_with_two_decimals(ratio: float, text: str) -> None:
    """Details show ratios as percentages with two decimals and a spaced percent sign."""
    assert pct(ratio) == text

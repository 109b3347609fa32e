"""The rule interface: one small class per module, one ``check(ctx, now) -> Decision``.

A rule is built from the settings by :meth:`Rule.from_settings`, which returns None when
the rule's variable is unset (the rule is off). Rules never read the clock, a file or a
database: ``now`` and the snapshot are all they get, so tests need no clock tricks.

``account_level`` rules decide from the account alone (they also run in ``bot_loop_start``
to set the risk state); the others look at the proposed entry and allow when there is
none. ``needs_candle`` rules run last, after the guard fetched the pair's last candle.
A ``latches`` rule's refusal holds until its ``until`` even if the numbers recover (the
guard keeps the latch; the rule stays pure).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from datetime import datetime
from typing import ClassVar

from app.risk.decision import Decision
from app.risk.snapshot import GuardContext
from app.settings import RiskSettings


class Rule(ABC):
    """Base class of the guard rules."""

    name: ClassVar[str]
    account_level: ClassVar[bool] = False
    needs_candle: ClassVar[bool] = False
    latches: ClassVar[bool] = False

    @classmethod
    @abstractmethod
    def from_settings(cls, settings: RiskSettings) -> Rule | None:
        """The rule configured by ``settings``, or None when its variable is unset."""
        # build_rules calls this on the class: a rule that forgot to define it must fail
        # here, not return None and be silently off (an ABC only stops instantiation).
        raise NotImplementedError(f"{cls.__name__} does not define from_settings")

    @abstractmethod
    def check(self, ctx: GuardContext, now: datetime) -> Decision:
        """Allow or refuse. Pure: no I/O, no clock; ``now`` is UTC-aware."""

    def equity_floor(self, day_start_equity: float, day_peak_equity: float) -> float | None:
        """For equity-driven rules: the equity at or below which ``check`` may refuse.

        Lets the guard skip re-evaluating the account on a candle where only prices moved
        and equity stayed above every floor. None: the rule does not depend on equity.
        """
        return None


def pct(ratio: float) -> str:
    """``0.1234`` -> ``'12.34 %'`` for details."""
    return f"{ratio * 100:.2f} %"

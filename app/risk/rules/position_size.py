"""Position size: trim a stake to RISK_MAX_POSITION_PCT of the wallet; refuse what is left
when it is below the exchange's minimum stake.

``trim`` runs in ``custom_stake_amount``. Returning a stake below ``min_stake`` would make
Freqtrade raise it to the minimum (up to +30 %) and break the cap, so a trimmed stake
below the minimum is refused instead. ``check`` runs in ``confirm_trade_entry`` on the
final stake (Freqtrade only truncates amounts, so a trimmed stake never grows).
"""

from __future__ import annotations

from datetime import datetime

from app.risk.decision import ALLOW, Decision, Reason, deny
from app.risk.rules.base import Rule, pct
from app.risk.snapshot import GuardContext
from app.settings import RiskSettings

# Float slack for ``stake <= cap``: amount/rate round trips are not exact.
_REL_TOLERANCE = 1e-9


class PositionSizeRule(Rule):
    """One entry's stake is at most ``max_ratio`` of the wallet."""

    name = "position_size"

    def __init__(self, max_ratio: float) -> None:
        self.max_ratio = max_ratio

    @classmethod
    def from_settings(cls, settings: RiskSettings) -> PositionSizeRule | None:
        """On when RISK_MAX_POSITION_PCT is set."""
        if settings.max_position_pct is None:
            return None
        return cls(settings.max_position_pct)

    def cap(self, wallet: float) -> float:
        """The largest stake allowed for ``wallet``."""
        return max(wallet, 0.0) * self.max_ratio

    def trim(
        self, proposed: float, wallet: float, min_stake: float | None
    ) -> tuple[float, Decision]:
        """Return ``(stake, decision)``: the stake cut to the cap, or 0 with a refusal."""
        cap = self.cap(wallet)
        stake = min(proposed, cap)
        if wallet <= 0:
            return 0.0, deny(Reason.POSITION_SIZE, f"wallet is {wallet:.8g}: nothing to stake")
        if min_stake is not None and stake < min_stake:
            return 0.0, deny(
                Reason.POSITION_SIZE,
                f"stake {proposed:.8g} trimmed to {stake:.8g} (RISK_MAX_POSITION_PCT="
                f"{self.max_ratio} of wallet {wallet:.8g}) is below the minimum stake "
                f"{min_stake:.8g}",
            )
        return stake, ALLOW

    def check(self, ctx: GuardContext, now: datetime) -> Decision:
        """Refuse a final stake above the cap (e.g. raised after trimming)."""
        if ctx.entry is None:
            return ALLOW
        wallet = ctx.account.wallet
        cap = self.cap(wallet)
        if wallet <= 0 or ctx.entry.stake > cap * (1 + _REL_TOLERANCE):
            return deny(
                Reason.POSITION_SIZE,
                f"stake {ctx.entry.stake:.8g} is above {pct(self.max_ratio)} of wallet "
                f"{wallet:.8g} (cap {cap:.8g}, RISK_MAX_POSITION_PCT={self.max_ratio})",
            )
        return ALLOW

"""The market a drill trades: which candles, which pairs, which timeframe.

By default a drill generates its own candles: deterministic, seeded, SYNTHETIC 1m candles
(``app.sample_data``) for three made-up BTC pairs, written into the drill's folder. A drill
needs short candles for several pairs (the guard's stale-data rule and a price crash show
within a minute, not five), must run on a fresh clone with no data and no internet, and
tests the bot and the guard, not a market: the faults move prices where a scenario needs
it. ``--datadir DIR`` serves real candles instead (``--pairs`` picks them; the timeframe
is the finest the chosen pairs share).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from app.errors import ConfigError
from app.offline_exchange.store import CandleStore, CandleType
from app.offline_exchange.timeframes import timeframe_to_ms
from app.sample_data import PAIRS, write_sample

SYNTHETIC_PAIRS: tuple[str, ...] = tuple(spec.pair for spec in PAIRS[:3])
SYNTHETIC_DAYS = 3  # 4,320 one-minute candles per pair; the replay cycles past the end
DEFAULT_REAL_PAIRS = 3
MINUTE_MS = 60_000


@dataclass(frozen=True)
class DrillMarket:
    """What the drill's exchange serves and its bot trades."""

    datadir: Path
    pairs: tuple[str, ...]
    timeframe: str
    stake_currency: str
    synthetic: bool


def _stake_currency(pairs: Sequence[str]) -> str:
    quotes = sorted({pair.split("/")[1].split(":")[0] for pair in pairs})
    if len(quotes) != 1:
        raise ConfigError(
            f"--pairs {' '.join(pairs)} are quoted in {', '.join(quotes)}; a drill's bot has "
            "one stake currency: choose pairs with the same quote currency"
        )
    return quotes[0]


def _synthetic_plan(pairs: Sequence[str] | None) -> tuple[tuple[str, ...], str]:
    available = tuple(spec.pair for spec in PAIRS)
    chosen = tuple(pairs) if pairs else SYNTHETIC_PAIRS
    unknown = [p for p in chosen if p not in available]
    if unknown:
        raise ConfigError(
            f"pair(s) {', '.join(unknown)} are not in the drill's synthetic market "
            f"({', '.join(available)}); pass --datadir DIR to drill on other candles"
        )
    return chosen, "1m"


def _real_plan(datadir: Path, pairs: Sequence[str] | None) -> tuple[tuple[str, ...], str]:
    store = CandleStore(datadir)
    store.validate()  # DataError (exit 3) names a missing, empty or unreadable folder
    markets = {m.pair: m for m in store.markets(False).values()}
    finest = {pair: store.timeframes(m, CandleType.SPOT)[0] for pair, m in markets.items()}
    if pairs:
        unknown = [p for p in pairs if p not in markets]
        if unknown:
            raise ConfigError(
                f"pair(s) {', '.join(unknown)} have no spot candle files in {datadir} "
                f"(available: {', '.join(sorted(markets)) or 'none'}); fix --pairs"
            )
        chosen = tuple(pairs)
    else:
        if not finest:
            raise ConfigError(f"{datadir} has no spot candle files; a drill trades spot pairs")
        shortest = min(timeframe_to_ms(tf) for tf in finest.values())
        short = sorted(p for p, tf in finest.items() if timeframe_to_ms(tf) == shortest)
        chosen = tuple(short[:DEFAULT_REAL_PAIRS])
    timeframe = max((finest[p] for p in chosen), key=timeframe_to_ms)
    if timeframe_to_ms(timeframe) < MINUTE_MS:
        timeframe = "1m"  # Freqtrade trades 1m at the finest; the exchange aggregates
    return chosen, timeframe


def plan_market(datadir: Path | None, pairs: Sequence[str] | None) -> DrillMarket:
    """Check ``--datadir``/``--pairs`` before anything starts; nothing is written yet.

    The synthetic market's ``datadir`` is a placeholder until :func:`materialize`.
    """
    if datadir is None:
        chosen, timeframe = _synthetic_plan(pairs)
        return DrillMarket(Path("data"), chosen, timeframe, _stake_currency(chosen), True)
    chosen, timeframe = _real_plan(datadir, pairs)
    return DrillMarket(datadir.resolve(), chosen, timeframe, _stake_currency(chosen), False)


def materialize(market: DrillMarket, workdir: Path) -> DrillMarket:
    """Write the synthetic candles into ``workdir/data`` (real data is served in place)."""
    if not market.synthetic:
        return market
    folder = workdir / "data"
    write_sample(folder, days=SYNTHETIC_DAYS, minutes=1)
    return DrillMarket(folder, market.pairs, market.timeframe, market.stake_currency, True)

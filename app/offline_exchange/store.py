"""Candle files on disk, as the offline exchange serves them.

A datadir is laid out as Freqtrade writes it: spot files ``<BASE>_<QUOTE>-<tf>.feather`` at
the top, futures files ``futures/<BASE>_<QUOTE>_<SETTLE>-<tf>-<futures|mark|funding_rate>.feather``
below. Each pair becomes one market. Candles are loaded once into numpy arrays; an interval
without a file of its own is aggregated from the finest file that divides it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

import numpy as np
import pyarrow as pa
from pyarrow import feather

from app.errors import DataError
from app.offline_exchange.timeframes import candle_open_ms, timeframe_to_ms

# Same shape as Freqtrade's IDataHandler._OHLCV_REGEX: <pair>-<timeframe>[-<candle type>].
_FILE = re.compile(r"^(?P<pair>[\w-]+?)-(?P<tf>\d+[a-zA-Z]{1,2})(?:-(?P<kind>[a-z_]+))?\.feather$")
_COLUMNS = ("date", "open", "high", "low", "close", "volume")


class CandleType(StrEnum):
    """What a candle file holds (Freqtrade's ``CandleType`` names)."""

    SPOT = "spot"
    FUTURES = "futures"
    MARK = "mark"
    FUNDING_RATE = "funding_rate"


@dataclass(frozen=True)
class Candles:
    """One series: open times in ms and OHLCV as float64 arrays of equal length."""

    timeframe_ms: int
    open_ms: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray

    def __len__(self) -> int:
        return len(self.open_ms)

    @property
    def first_open_ms(self) -> int:
        return int(self.open_ms[0])

    @property
    def end_ms(self) -> int:
        """Close time of the newest candle (exclusive)."""
        return int(self.open_ms[-1]) + self.timeframe_ms


@dataclass(frozen=True)
class Market:
    """A pair the exchange lists, with the files that feed it."""

    pair: str  # Freqtrade/ccxt symbol: "ETH/BTC", "XRP/USDT:USDT"
    base: str
    quote: str
    settle: str | None
    files: dict[tuple[str, CandleType], Path] = field(compare=False)

    @property
    def symbol_id(self) -> str:
        """Binance's market id: "ETHBTC", "XRPUSDT"."""
        return f"{self.base}{self.quote}"

    @property
    def is_futures(self) -> bool:
        return self.settle is not None

    @property
    def trade_type(self) -> CandleType:
        return CandleType.FUTURES if self.is_futures else CandleType.SPOT


def _parse_name(path: Path, futures: bool) -> tuple[str, str, str | None, str, CandleType] | None:
    match = _FILE.match(path.name)
    if match is None:
        return None
    parts = match["pair"].split("_")
    kind = match["kind"] or "spot"
    if kind not in CandleType.__members__.values():
        return None
    if futures and len(parts) == 3 and kind != "spot":
        return parts[0], parts[1], parts[2], match["tf"], CandleType(kind)
    if not futures and len(parts) == 2 and kind == "spot":
        return parts[0], parts[1], None, match["tf"], CandleType.SPOT
    return None


def read_candles(path: Path, timeframe_ms: int) -> Candles:
    """Read one Freqtrade feather file; :class:`DataError` names the file and the problem."""
    try:
        table = feather.read_table(path, columns=list(_COLUMNS))
    except (OSError, pa.ArrowException, KeyError, ValueError) as exc:
        raise DataError(
            f"candle file {path} cannot be read ({exc}); re-download it or remove it from "
            "the datadir"
        ) from exc
    if table.num_rows == 0:
        raise DataError(f"candle file {path} has no rows; re-download it or remove it")
    dates = table.column("date")
    if not pa.types.is_timestamp(dates.type):
        raise DataError(f"candle file {path}: column 'date' is {dates.type}, expected a timestamp")
    open_ms = dates.cast(pa.timestamp("ms", tz="UTC")).cast(pa.int64()).to_numpy()
    if np.any(np.diff(open_ms) <= 0):
        raise DataError(f"candle file {path}: dates are not strictly increasing; re-download it")
    values = [
        table.column(name).to_numpy(zero_copy_only=False).astype(np.float64)
        for name in _COLUMNS[1:]
    ]
    return Candles(timeframe_ms, open_ms.astype(np.int64), *values)


def aggregate(source: Candles, timeframe_ms: int) -> Candles:
    """Aggregate ``source`` into longer candles, dropping partial buckets at either end."""
    offset = candle_open_ms(0, timeframe_ms)  # non-zero only for Monday-aligned weeks
    keys = source.open_ms - (source.open_ms - offset) % timeframe_ms
    bucket_opens, starts = np.unique(keys, return_index=True)
    ends = np.append(starts[1:], len(keys))
    keep = np.ones(len(bucket_opens), dtype=bool)
    keep[0] = source.first_open_ms == bucket_opens[0]
    keep[-1] = keep[-1] and source.end_ms >= bucket_opens[-1] + timeframe_ms
    result = Candles(
        timeframe_ms,
        bucket_opens,
        source.open[starts],
        np.maximum.reduceat(source.high, starts),
        np.minimum.reduceat(source.low, starts),
        source.close[ends - 1],
        np.add.reduceat(source.volume, starts),
    )
    if keep.all():
        return result
    return Candles(timeframe_ms, *(arr[keep] for arr in _arrays(result)))


def _arrays(c: Candles) -> tuple[np.ndarray, ...]:
    return (c.open_ms, c.open, c.high, c.low, c.close, c.volume)


class CandleStore:
    """The markets and candles found in one datadir."""

    def __init__(self, datadir: Path) -> None:
        if not datadir.exists():
            raise DataError(
                f"datadir {datadir} does not exist; pass --datadir with a folder of Freqtrade "
                "candle files (e.g. ../shared/data/binance), or run `make data`"
            )
        if not datadir.is_dir():
            raise DataError(f"datadir {datadir} is not a folder; pass the folder of candle files")
        self.datadir = datadir
        self.spot: dict[str, Market] = {}
        self.futures: dict[str, Market] = {}
        self._scan()
        if not self.spot and not self.futures:
            raise DataError(
                f"datadir {datadir} has no candle files (<BASE>_<QUOTE>-<tf>.feather, or "
                "futures/<BASE>_<QUOTE>_<SETTLE>-<tf>-futures.feather); download data or pass "
                "another --datadir"
            )
        self._cache: dict[tuple[str, str, CandleType], Candles] = {}

    def _scan(self) -> None:
        found: dict[tuple[str, str, str | None], dict[tuple[str, CandleType], Path]] = {}
        for folder, futures in ((self.datadir, False), (self.datadir / "futures", True)):
            if not folder.is_dir():
                continue
            for path in sorted(folder.glob("*.feather")):
                parsed = _parse_name(path, futures)
                if parsed is None:
                    continue
                base, quote, settle, tf, kind = parsed
                found.setdefault((base, quote, settle), {})[(tf, kind)] = path
        for (base, quote, settle), files in found.items():
            pair = f"{base}/{quote}" + (f":{settle}" if settle else "")
            market = Market(pair, base, quote, settle, files)
            if not any(kind == market.trade_type for _, kind in files):
                continue  # mark/funding files without trade candles do not make a market
            (self.futures if settle else self.spot)[market.symbol_id] = market

    def markets(self, futures: bool) -> dict[str, Market]:
        """Markets by Binance id, spot or USD-M futures."""
        return self.futures if futures else self.spot

    def timeframes(self, market: Market, kind: CandleType) -> list[str]:
        """Timeframes with a file of their own, finest first."""
        tfs = [tf for tf, k in market.files if k == kind]
        return sorted(tfs, key=timeframe_to_ms)

    def candles(self, market: Market, interval: str, kind: CandleType | None = None) -> Candles:
        """The series for ``interval``: the file of that timeframe, or an aggregate of a finer one.

        Raises :class:`DataError` when no file can produce the interval.
        """
        kind = kind or market.trade_type
        key = (market.symbol_id, interval, kind)
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        target_ms = timeframe_to_ms(interval)
        path = market.files.get((interval, kind))
        if path is not None:
            result = read_candles(path, target_ms)
        else:
            finer = [
                tf
                for tf in self.timeframes(market, kind)
                if target_ms % timeframe_to_ms(tf) == 0 and timeframe_to_ms(tf) < target_ms
            ]
            if not finer:
                raise DataError(
                    f"no {kind} candles for {market.pair} at {interval} in {self.datadir} "
                    f"(files: {', '.join(self.timeframes(market, kind)) or 'none'})"
                )
            result = aggregate(self.candles(market, finer[-1], kind), target_ms)
        self._cache[key] = result
        return result

    def validate(self) -> None:
        """Read every market's finest trade series now, so a broken file fails at start-up."""
        for market in (*self.spot.values(), *self.futures.values()):
            self.candles(market, self.timeframes(market, market.trade_type)[0])

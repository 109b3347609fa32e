"""Freqtrade's trade persistence globals, saved before a test and restored after it.

Freqtrade keeps its persistence mode in class attributes: ``Trade.use_db`` (database vs
backtest lists; True when imported), ``PairLocks.use_db``/``timeframe``,
``CustomDataWrapper.use_db``, the scoped ``session`` that ``init_db`` puts on each model,
and the in-memory backtest lists of ``LocalTrade``. A test that calls ``init_db`` and
then "cleans up" with ``Trade.use_db = False`` (or runs a backtest in-process) leaves the
next test in backtest mode, where every ``Trade`` query raises NotImplementedError.

:func:`save` and :func:`restore` put all of it back as it was, whatever the test did.
Nothing here imports Freqtrade (about 2 s, and mutation runs of modules without
Freqtrade must not load it): when ``freqtrade.persistence`` is not loaded there is
nothing to save, and a test that loads it for the first time gets the import-time state
back (``Trade.use_db`` True, no session, empty lists).
"""

from __future__ import annotations

import sys
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

_MISSING = object()
# LocalTrade's backtest lists and counters (``LocalTrade.reset_trades`` empties them).
_BT_ATTRS = (
    "bt_trades",
    "bt_trades_open",
    "bt_trades_open_pp",
    "bt_open_open_trade_count",
    "bt_total_profit",
)


@dataclass
class PersistenceState:
    """Attribute values of Freqtrade's persistence classes, and the contents of the lists."""

    values: dict[tuple[type, str], Any] = field(default_factory=dict)
    contents: dict[int, Any] = field(default_factory=dict)


def _classes() -> dict[str, type] | None:
    """Freqtrade's persistence classes, or None when the package is not loaded."""
    if "freqtrade.persistence" not in sys.modules:
        return None
    from freqtrade.persistence.custom_data import CustomDataWrapper, _CustomData
    from freqtrade.persistence.key_value_store import _KeyValueStoreModel
    from freqtrade.persistence.pairlock import PairLock
    from freqtrade.persistence.pairlock_middleware import PairLocks
    from freqtrade.persistence.trade_model import LocalTrade, Order, Trade
    from freqtrade.persistence.wallet_history import WalletHistory

    return {
        "Trade": Trade,
        "LocalTrade": LocalTrade,
        "Order": Order,
        "PairLock": PairLock,
        "PairLocks": PairLocks,
        "CustomDataWrapper": CustomDataWrapper,
        "_CustomData": _CustomData,
        "_KeyValueStoreModel": _KeyValueStoreModel,
        "WalletHistory": WalletHistory,
    }


def _attributes(classes: dict[str, type]) -> list[tuple[type, str]]:
    pairs = [
        (classes["Trade"], "use_db"),
        (classes["PairLocks"], "use_db"),
        (classes["PairLocks"], "timeframe"),
        (classes["CustomDataWrapper"], "use_db"),
    ]
    pairs += [(classes["LocalTrade"], name) for name in _BT_ATTRS]
    owners = ("Trade", "Order", "PairLock", "_KeyValueStoreModel", "_CustomData", "WalletHistory")
    pairs += [(classes[name], "session") for name in owners]
    return pairs


def save() -> PersistenceState | None:
    """The current state, or None when Freqtrade's persistence is not loaded."""
    classes = _classes()
    if classes is None:
        return None
    state = PersistenceState()
    for owner, name in _attributes(classes):
        value = owner.__dict__.get(name, _MISSING)
        state.values[owner, name] = value
        if isinstance(value, list):
            state.contents[id(value)] = list(value)
        elif isinstance(value, dict):
            state.contents[id(value)] = {key: list(items) for key, items in value.items()}
    return state


def restore(saved: PersistenceState | None) -> None:
    """Put back what :func:`save` saw (the import-time state when it saw nothing loaded)."""
    classes = _classes()
    if classes is None:
        return
    if saved is None:
        saved = _import_time_state(classes)
    for (owner, name), value in saved.values.items():
        current = owner.__dict__.get(name, _MISSING)
        if name == "session" and current is not value and hasattr(current, "remove"):
            current.remove()  # the test's own session: close its connections
        if value is _MISSING:
            if name in owner.__dict__:
                delattr(owner, name)
            continue
        if id(value) in saved.contents:
            _refill(value, saved.contents[id(value)])
        setattr(owner, name, value)


def _refill(container: Any, contents: Any) -> None:
    """Give a saved list or dict its saved contents back (tests append in place)."""
    container.clear()
    container.update(contents) if isinstance(container, dict) else container.extend(contents)


def _import_time_state(classes: dict[str, type]) -> PersistenceState:
    """What importing Freqtrade gives: database mode on, no sessions, empty lists."""
    state = PersistenceState()
    for owner, name in _attributes(classes):
        state.values[owner, name] = _MISSING if name == "session" else None
    defaults: dict[str, Any] = {
        "use_db": True,
        "timeframe": "",
        "bt_trades": [],
        "bt_trades_open": [],
        "bt_trades_open_pp": defaultdict(list),
        "bt_open_open_trade_count": 0,
        "bt_total_profit": 0,
    }
    for owner, name in list(state.values):
        if name in defaults:
            state.values[owner, name] = defaults[name]
    return state

"""The project's ``MaCrossoverStrategy`` twice, with and without the guard (benchmarks).

Both classes are built from the strategy's own class body (user_data/strategies), so
their signals are identical whatever base class the project file uses today:
``UnguardedMaCrossoverStrategy`` on Freqtrade's ``IStrategy``, ``GuardedMaCrossoverStrategy``
on ``GuardedStrategy``.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

import cloudpickle
from freqtrade.strategy import IStrategy

from app.strategies import GuardedStrategy

_SOURCE = Path(__file__).resolve().parents[2] / "user_data/strategies/MaCrossoverStrategy.py"
_spec = importlib.util.spec_from_file_location("tradingbot_bench_ma_crossover", _SOURCE)
assert _spec is not None
assert _spec.loader is not None
_module = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = _module
_spec.loader.exec_module(_module)
# Hyperopt workers cannot import that module by name: send its objects by value.
cloudpickle.register_pickle_by_value(_module)

_BODY: dict[str, Any] = {
    key: value
    for key, value in vars(_module.MaCrossoverStrategy).items()
    if key not in ("__dict__", "__weakref__", "__module__", "__qualname__", "__doc__")
    and not key.startswith("_abc")
}

# Freqtrade finds strategies by a literal ``class Name(`` in the file, hence the subclasses.
_Unguarded = type("_Unguarded", (IStrategy,), {**_BODY, "__module__": __name__})
_Guarded = type("_Guarded", (GuardedStrategy,), {**_BODY, "__module__": __name__})


class UnguardedMaCrossoverStrategy(_Unguarded):  # type: ignore[misc,valid-type]
    """Plain Freqtrade."""


class GuardedMaCrossoverStrategy(_Guarded):  # type: ignore[misc,valid-type]
    """Behind the guard."""

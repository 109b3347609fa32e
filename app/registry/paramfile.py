"""Freqtrade's strategy parameter file: where it lives, what it holds, how to write it.

Freqtrade (``strategy/hyper.py`` ``load_params_from_file``) loads the parameters of a
strategy from the file next to the strategy's ``.py`` file, named after that *file*
(``Path(strategy.__file__).with_suffix(".json")``), and refuses the file when its
``strategy_name`` is not the class name. The content is what
``HyperoptTools.export_params`` writes::

    {"strategy_name": "MaCrossoverStrategy",
     "params": {"buy": {...}, "sell": {...}, "roi": {...}, "stoploss": {...}, ...},
     "ft_stratparam_v": 1,
     "export_time": "2026-11-21 10:15:00.123456+00:00"}

The strategy file is located the way Freqtrade's resolver does (``IResolver._search_object``):
the first ``*.py`` in the folder, in sorted order, whose text contains ``class <Name>(``.
"""

from __future__ import annotations

import ast
import contextlib
import json
import math
import os
import tempfile
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from app.errors import RegistryError

PARAM_FILE_VERSION = 1  # Freqtrade's ft_stratparam_v
TRAILING_KEYS = {
    "trailing_stop": (bool,),
    "trailing_only_offset_is_reached": (bool,),
    "trailing_stop_positive": (int, float, type(None)),
    "trailing_stop_positive_offset": (int, float),
}


def find_strategy_file(strategies_dir: Path, strategy: str) -> Path:
    """The ``.py`` file defining class ``strategy``, searched as Freqtrade searches."""
    if not strategies_dir.is_dir():
        raise RegistryError(
            f"strategies folder {str(strategies_dir)!r} does not exist; pass --strategies-dir "
            "with the folder holding the strategy files"
        )
    needle = f"class {strategy}("
    for entry in sorted(strategies_dir.iterdir()):
        if entry.suffix != ".py" or not entry.is_file():
            continue
        source = entry.read_text(encoding="utf-8", errors="replace")
        if needle not in source:
            continue
        with contextlib.suppress(SyntaxError, ValueError):
            tree = ast.parse(source, filename=str(entry))
            if any(isinstance(n, ast.ClassDef) and n.name == strategy for n in tree.body):
                return entry
    raise RegistryError(
        f"strategy {strategy!r} is not defined in any .py file of {str(strategies_dir)!r}; "
        "check the strategy name or pass --strategies-dir"
    )


def param_file_of(strategy_file: Path) -> Path:
    """The parameter file Freqtrade loads for a strategy defined in ``strategy_file``."""
    return strategy_file.with_suffix(".json")


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _stoploss_problem(values: Mapping[str, Any]) -> str | None:
    stoploss = values.get("stoploss")
    if isinstance(stoploss, int | float) and _is_number(stoploss) and -1 <= stoploss < 0:
        return None
    return f"stoploss.stoploss is {stoploss!r}; Freqtrade needs a number in [-1, 0)"


def _roi_problem(values: Mapping[str, Any]) -> str | None:
    for minutes, ratio in values.items():
        if not (str(minutes).isdigit() and _is_number(ratio)):
            return f"roi entry {minutes!r}: {ratio!r} must be '<minutes>': <ratio>"
    return None


def _max_open_trades_problem(values: Mapping[str, Any]) -> str | None:
    count = values.get("max_open_trades")
    if isinstance(count, int) and not isinstance(count, bool) and count >= -1:
        return None
    return f"max_open_trades.max_open_trades is {count!r}; use a whole number >= -1"


def _trailing_problem(values: Mapping[str, Any]) -> str | None:
    for key, value in values.items():
        allowed = TRAILING_KEYS.get(key)
        if allowed is None or not isinstance(value, allowed):
            return f"trailing.{key} = {value!r} is not a Freqtrade trailing setting"
    return None


_SPECIAL_SPACES = {
    "stoploss": _stoploss_problem,
    "roi": _roi_problem,
    "max_open_trades": _max_open_trades_problem,
    "trailing": _trailing_problem,
}


def _space_problem(space: str, values: Mapping[str, Any]) -> str | None:
    special = _SPECIAL_SPACES.get(space)
    if special is not None:
        return special(values)
    for name, value in values.items():  # buy, sell, protection and custom spaces
        if not isinstance(value, str | bool | int | float) or (
            isinstance(value, float) and not math.isfinite(value)
        ):
            return f"{space}.{name} = {value!r} is not a parameter value (number, text, bool)"
    return None


def validate_params(run_id: str, params: object) -> dict[str, dict[str, Any]]:
    """Check a hyperopt run's best parameters have Freqtrade's export shape; return a copy."""
    if not isinstance(params, Mapping) or not params:
        raise RegistryError(
            f"run {run_id} has no parameters to promote (params = {params!r}); promote a "
            "hyperopt run whose results were ingested"
        )
    clean: dict[str, dict[str, Any]] = {}
    for space, values in params.items():
        if not isinstance(space, str) or not space.isidentifier():
            raise RegistryError(f"run {run_id}: parameter space {space!r} is not a valid name")
        if not isinstance(values, Mapping):
            raise RegistryError(
                f"run {run_id}: parameter space {space!r} holds {values!r}; expected an object "
                "as Freqtrade exports it (e.g. {'buy': {'fast': 10}})"
            )
        problem = _space_problem(space, values)
        if problem:
            raise RegistryError(f"run {run_id}: {problem}")
        clean[space] = dict(values)
    return clean


def render_param_file(strategy: str, params: Mapping[str, Any], export_time: datetime) -> str:
    """The file's text, in the shape ``HyperoptTools.export_params`` writes."""
    document = {
        "strategy_name": strategy,
        "params": params,
        "ft_stratparam_v": PARAM_FILE_VERSION,
        "export_time": str(export_time),  # Freqtrade serialises the datetime with str()
    }
    return json.dumps(document, indent=2, allow_nan=False) + "\n"


def read_param_file(path: Path) -> str | None:
    """The file's text, or ``None`` when it does not exist."""
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None


def file_strategy_name(text: str) -> str | None:
    """``strategy_name`` of a parameter file's text (``None`` when unreadable)."""
    with contextlib.suppress(ValueError):
        document = json.loads(text)
        if isinstance(document, dict) and isinstance(document.get("strategy_name"), str):
            return str(document["strategy_name"])
    return None


def write_atomically(path: Path, text: str | None) -> None:
    """Replace ``path`` with ``text`` (temp file, fsync, rename); ``None`` removes it."""
    if text is None:
        path.unlink(missing_ok=True)
    else:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
            Path(tmp_name).chmod(0o644)
            Path(tmp_name).replace(path)
        except BaseException:
            Path(tmp_name).unlink(missing_ok=True)
            raise
    with contextlib.suppress(OSError):  # some filesystems cannot fsync a folder
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

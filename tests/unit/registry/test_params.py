"""Parameter promotion, rollback and history, on both registry backends."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from app.errors import RegistryError
from app.registry import Registry
from app.registry.params import ParamPromoter, _file_guard

TINY = Path(__file__).resolve().parent / "strategies" / "tiny_param_strategy.py"
BEST = {
    "buy": {"buy_fast": 17, "buy_enabled": False},
    "sell": {"sell_slow": 61},
    "roi": {"0": 0.3, "20": 0.1, "60": 0},
    "stoploss": {"stoploss": -0.2},
}
OTHER = {"buy": {"buy_fast": 3}, "stoploss": {"stoploss": -0.05}}


@pytest.fixture
def strategies(tmp_path: Path) -> Path:
    """A strategies folder holding the tiny test strategy."""
    folder = tmp_path / "strategies"
    folder.mkdir()
    shutil.copy(TINY, folder / TINY.name)
    return folder


@pytest.fixture
def promoter(registry: Registry, strategies: Path) -> ParamPromoter:
    return ParamPromoter(registry, strategies)


def _run(
    registry: Registry,
    params: Any = BEST,
    *,
    kind: str = "hyperopt",
    status: str = "succeeded",
    strategy: str = "TinyParamStrategy",
) -> str:
    run_id = registry.start_run(kind=kind, correlation_id="c", strategy=strategy)
    registry.finish_run(run_id, status=status, exit_code=0, params=params)
    return run_id


def _file(strategies: Path) -> Path:
    return strategies / "tiny_param_strategy.json"


def test_promote_when_hyperopt_run_then_freqtrade_format_file_and_active_set(
    registry: Registry, promoter: ParamPromoter, strategies: Path
) -> None:
    """The file is named after the strategy's .py file and has Freqtrade's export shape."""
    run_id = _run(registry)
    promotion = promoter.promote(run_id)
    document = json.loads(_file(strategies).read_text())
    assert promotion.file == _file(strategies)
    assert set(document) == {"strategy_name", "params", "ft_stratparam_v", "export_time"}
    assert document["strategy_name"] == "TinyParamStrategy"
    assert document["params"] == BEST
    assert document["ft_stratparam_v"] == 1
    assert promotion.param_set.active
    assert promotion.param_set.source_run_id == run_id
    assert promotion.previous is None
    assert list(strategies.glob(".*.tmp")) == []


def test_promote_when_loaded_by_freqtrade_then_strategy_uses_promoted_values(
    registry: Registry, promoter: ParamPromoter, strategies: Path, tmp_path: Path
) -> None:
    """Freqtrade's own resolver loads the promoted file and applies every space."""
    from freqtrade.resolvers import StrategyResolver

    promoter.promote(_run(registry))
    config = {
        "strategy": "TinyParamStrategy",
        "strategy_path": str(strategies),
        "user_data_dir": tmp_path,
        "stake_currency": "USDT",
        "stake_amount": 10,
        "dry_run": True,
        "max_open_trades": 3,
        "exchange": {"name": "binance", "pair_whitelist": []},
        "pairlists": [{"method": "StaticPairList"}],
        "entry_pricing": {},
        "exit_pricing": {},
    }
    strategy = StrategyResolver.load_strategy(config)
    strategy.ft_load_hyper_params()
    assert strategy.buy_fast.value == 17
    assert strategy.buy_enabled.value is False
    assert strategy.sell_slow.value == 61
    assert strategy.stoploss == -0.2
    assert strategy.minimal_roi == {0: 0.3, 20: 0.1, 60: 0}


def test_promote_when_second_set_then_first_retired_and_linked(
    registry: Registry, promoter: ParamPromoter, strategies: Path
) -> None:
    """A new promotion retires the active set and records it as previous."""
    first = promoter.promote(_run(registry)).param_set
    second = promoter.promote(_run(registry, OTHER))
    assert second.previous is not None
    assert second.previous.id == first.id
    assert second.param_set.previous_id == first.id
    history = promoter.history("TinyParamStrategy")
    assert [(s.id, s.active) for s in history.param_sets] == [
        (second.param_set.id, True),
        (first.id, False),
    ]
    assert history.param_sets[1].retired_utc is not None
    assert json.loads(_file(strategies).read_text())["params"] == OTHER
    assert history.file_matches_active is True


def test_rollback_when_two_sets_then_previous_active_and_file_rewritten(
    registry: Registry, promoter: ParamPromoter, strategies: Path
) -> None:
    """Rollback re-activates the replaced set and writes its parameters back."""
    first = promoter.promote(_run(registry)).param_set
    promoter.promote(_run(registry, OTHER))
    result = promoter.rollback("TinyParamStrategy")
    assert result.active is not None
    assert result.active.id == first.id
    assert not result.file_removed
    assert json.loads(_file(strategies).read_text())["params"] == BEST
    assert [s.active for s in promoter.history("TinyParamStrategy").param_sets] == [False, True]


def test_rollback_when_first_set_and_no_file_before_then_file_removed(
    registry: Registry, promoter: ParamPromoter, strategies: Path
) -> None:
    """Rolling back the first promotion removes the file: the strategy's defaults apply."""
    promoter.promote(_run(registry))
    result = promoter.rollback("TinyParamStrategy")
    assert result.active is None
    assert result.file_removed
    assert not _file(strategies).exists()
    assert not any(s.active for s in promoter.history("TinyParamStrategy").param_sets)


def test_rollback_when_file_existed_before_first_promotion_then_restored_exactly(
    registry: Registry, promoter: ParamPromoter, strategies: Path
) -> None:
    """A file that predates the first promotion (e.g. Freqtrade's own export) comes back."""
    original = '{"strategy_name": "TinyParamStrategy", "params": {"buy": {"buy_fast": 9}}}\n'
    _file(strategies).write_text(original)
    promoter.promote(_run(registry))
    promoter.rollback("TinyParamStrategy")
    assert _file(strategies).read_text() == original


def test_rollback_when_no_active_set_then_refused(promoter: ParamPromoter) -> None:
    """Nothing to roll back is an error naming the strategy."""
    with pytest.raises(RegistryError, match="'TinyParamStrategy' has no active parameter set"):
        promoter.rollback("TinyParamStrategy")


@pytest.mark.parametrize(
    ("make_run", "strategy", "message"),
    [
        (lambda r: _run(r, kind="backtest"), None, "is a backtest run; only hyperopt runs"),
        (lambda r: _run(r, status="failed"), None, "has status 'failed'; only succeeded"),
        (lambda r: "run_missing", None, "run 'run_missing' is not in the registry"),
        (_run, "OtherStrategy", "optimised strategy 'TinyParamStrategy', not 'Other"),
        (lambda r: _run(r, params=None), None, "has no parameters to promote"),
        (lambda r: _run(r, params={"buy": 3}), None, "space 'buy' holds 3; expected an object"),
        (
            lambda r: _run(r, params={"stoploss": {"stoploss": 0.5}}),
            None,
            "stoploss.stoploss is 0.5; Freqtrade needs a number in [-1, 0)",
        ),
        (
            lambda r: _run(r, params={"roi": {"soon": 0.1}}),
            None,
            "roi entry 'soon': 0.1 must be '<minutes>': <ratio>",
        ),
        (
            lambda r: _run(r, params={"trailing": {"trailing_stop": "yes"}}),
            None,
            "trailing.trailing_stop = 'yes' is not a Freqtrade trailing setting",
        ),
        (
            lambda r: _run(r, strategy="NoSuchStrategy"),
            None,
            "strategy 'NoSuchStrategy' is not defined in any .py file",
        ),
    ],
)
def test_promote_when_bad_input_then_refused_and_nothing_changed(
    registry: Registry,
    promoter: ParamPromoter,
    strategies: Path,
    make_run: Any,
    strategy: str | None,
    message: str,
) -> None:
    """Wrong kind/status/strategy and malformed parameters are refused before any write."""
    run_id = make_run(registry)
    with pytest.raises(RegistryError, match=re.escape(message)):
        promoter.promote(run_id, strategy=strategy)
    assert not _file(strategies).exists()
    assert promoter.history("TinyParamStrategy").param_sets == []


def test_promote_when_file_belongs_to_other_strategy_then_refused(
    registry: Registry, promoter: ParamPromoter, strategies: Path
) -> None:
    """Two strategies in one .py share one parameter file; overwriting would break the other."""
    foreign = '{"strategy_name": "SiblingStrategy", "params": {}}'
    _file(strategies).write_text(foreign)
    with pytest.raises(RegistryError, match="holds the parameters of strategy 'SiblingStrategy'"):
        promoter.promote(_run(registry))
    assert _file(strategies).read_text() == foreign


def test_history_when_file_edited_by_hand_then_mismatch_reported(
    registry: Registry, promoter: ParamPromoter, strategies: Path
) -> None:
    """history tells when the file on disk no longer holds the active set."""
    promoter.promote(_run(registry))
    _file(strategies).write_text(json.dumps({"strategy_name": "TinyParamStrategy", "params": {}}))
    assert promoter.history("TinyParamStrategy").file_matches_active is False


def test_file_guard_when_work_fails_then_file_put_back(tmp_path: Path) -> None:
    """A failure after the file was rewritten restores the previous content."""
    path = tmp_path / "s.json"
    path.write_text("before")
    with pytest.raises(RuntimeError), _file_guard(path):
        path.write_text("after")
        raise RuntimeError("commit failed")
    assert path.read_text() == "before"


def test_file_guard_when_file_was_absent_then_removed_again(tmp_path: Path) -> None:
    """A file created by failed work is removed again."""
    path = tmp_path / "s.json"
    with pytest.raises(RuntimeError), _file_guard(path):
        path.write_text("after")
        raise RuntimeError("commit failed")
    assert not path.exists()

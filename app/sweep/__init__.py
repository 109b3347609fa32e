"""Walk-forward sweeps: hyperopt on a training window, backtest on the window after it.

``tradingbot sweep`` (see :mod:`app.sweep.cli`) splits a timerange into folds
(:mod:`app.sweep.folds`), runs every hyperopt and out-of-sample backtest through the
guarded runner (:mod:`app.sweep.engine`) from per-fold copies of the strategy
(:mod:`app.sweep.workspace`), judges the out-of-sample results
(:mod:`app.sweep.criteria`) and prints them (:mod:`app.sweep.render`).
``tradingbot report strategies`` (:mod:`app.sweep.report`) writes the registry's latest
results into ``docs/STRATEGIES.md``.
"""

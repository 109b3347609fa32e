"""The Freqtrade child, started before the runner has decided whether it may run.

Importing Freqtrade costs seconds. The runner therefore starts this interpreter
first (``python -m app.runner.freqtrade_child <command> <orders fd> <lifeline fd>``).
It forks at once: the parent stays a small :class:`app.runner.supervisor.Supervisor`
(a child subreaper that ends every process of the run when the runner goes), the
forked process imports what the command needs while the runner, in parallel, reads the
configuration, records the run and asks the gates. Then the runner writes one JSON line
to the pipe ``orders fd``:

``{"run": true, "argv": [...], "env": {...}, "unset": [...], "secrets": [...],
"status_file": "..."}`` -- apply the environment changes, redact every log record
(:mod:`app.runner.childlog`, with the config's ``secrets`` besides the environment's),
make Freqtrade's ``sanitize_config`` mask every secret too, and call Freqtrade's own entry
point with ``argv``;
``{"run": false}`` or end of input -- exit 0 without running anything.

Nothing Freqtrade does happens before the runner says so, so a refused run never
touches an exchange, a database or a result folder.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
from pathlib import Path
from typing import Any

from app.runner import supervisor

# Modules worth importing ahead for each command (the rest load on demand).
PRELOAD: dict[str, tuple[str, ...]] = {
    "backtesting": ("freqtrade.commands.optimize_commands", "freqtrade.optimize.backtesting"),
    "hyperopt": ("freqtrade.commands.optimize_commands", "freqtrade.optimize.hyperopt"),
    "trade": ("freqtrade.commands.trade_commands", "freqtrade.worker"),
    "download-data": ("freqtrade.commands.data_commands", "freqtrade.data.history"),
}
COMMON = ("freqtrade.main", "freqtrade.commands", "freqtrade.exchange", "freqtrade.resolvers")
# Commands that only compute, in this one process, and write result files: once Freqtrade's
# main returns, their process ends without the interpreter's slow finalisation of every
# module and object (about 0.6 s after a backtest). Hyperopt is not one of them: its joblib
# workers are shut down by that finalisation (the supervisor would otherwise have to kill
# them). Trading commands always take the normal exit.
FAST_EXIT_COMMANDS = frozenset({"backtesting", "lookahead-analysis", "recursive-analysis"})


def preload(command: str) -> None:
    """Import Freqtrade's modules for ``command``; a missing one just loads later."""
    for name in (*COMMON, *PRELOAD.get(command, ())):
        try:
            importlib.import_module(name)
        except ImportError:
            continue


def main() -> int:
    """Fork into supervisor (this process) and Freqtrade (the new one)."""
    command, orders_fd, lifeline_fd = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    supervised = supervisor.become_subreaper()
    if not supervised:  # not Linux: no subreaper, Freqtrade runs in this process
        os.close(lifeline_fd)
        return run_freqtrade(command, orders_fd)
    parent = os.getpid()
    pid = os.fork()
    if pid == 0:
        os.close(lifeline_fd)
        # Should the supervisor itself be SIGKILLed, Freqtrade still stops.
        supervisor.die_with_parent(parent)
        return run_freqtrade(command, orders_fd)
    os.close(orders_fd)
    return supervisor.Supervisor(pid, lifeline_fd).run()


def run_freqtrade(command: str, orders_fd: int) -> int:
    """Import ahead, wait for the runner's order, then run Freqtrade (or exit 0)."""
    preload(command)
    with os.fdopen(orders_fd, "r") as orders:
        line = orders.readline()
    order: dict[str, Any] = json.loads(line) if line.strip() else {"run": False}
    if not order.get("run"):
        return 0
    for name in order.get("unset", []):
        os.environ.pop(name, None)
    os.environ.update(order.get("env", {}))
    _watch_logs(command, order)
    argv: list[str] = order["argv"]
    sys.argv = ["freqtrade", *argv]
    from freqtrade.main import main as freqtrade_main

    try:
        freqtrade_main(argv)  # exits the process with Freqtrade's own code
    except SystemExit as done:
        if command not in FAST_EXIT_COMMANDS:
            raise
        _fast_exit(done.code)
    return 0


def _watch_logs(command: str, order: dict[str, Any]) -> None:
    from app.redaction import Redactor
    from app.runner.childlog import LogWatch, harden_sanitize_config

    redactor = Redactor.from_sources(os.environ, extra=order.get("secrets", []))
    status = order.get("status_file")
    LogWatch(redactor, Path(status) if status else None, command).install()
    harden_sanitize_config(redactor)


def _fast_exit(code: object) -> None:
    """Run the atexit handlers, flush every stream, then end with Freqtrade's code.

    The atexit handlers include the guard's ``guard_summary`` line, the log watch's
    report and logging's own shutdown (which flushes and closes every handler); only the
    garbage collection of the interpreter's modules and objects is skipped.
    """
    import atexit

    # The function the interpreter's own exit calls first (CPython has no public name for
    # it); running it here keeps every registered handler's effect.
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    if isinstance(code, str):  # sys.exit("message") prints the message and exits 1
        sys.stderr.write(f"{code}\n")
        sys.stderr.flush()
    status = code if isinstance(code, int) else (0 if code is None else 1)
    os._exit(status)


if __name__ == "__main__":
    raise SystemExit(main())

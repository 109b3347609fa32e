"""The Freqtrade child, started before the runner has decided whether it may run.

Importing Freqtrade costs seconds. The runner therefore starts this interpreter
first (``python -m app.runner.freqtrade_child <command> <fd> <runner pid>``): it imports what
the command needs while the runner, in parallel, reads the configuration, records
the run and asks the gates. Then the runner writes one JSON line to the pipe ``fd``:

``{"run": true, "argv": [...], "env": {...}, "unset": [...]}`` -- apply the
environment changes and call Freqtrade's own entry point with ``argv``;
``{"run": false}`` or end of input -- exit 0 without running anything.

Nothing Freqtrade does happens before the runner says so, so a refused run never
touches an exchange, a database or a result folder.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
from typing import Any

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
# workers are shut down by that finalisation and would outlive a fast exit, holding the
# output pipes open. Trading commands always take the normal exit.
FAST_EXIT_COMMANDS = frozenset({"backtesting", "lookahead-analysis", "recursive-analysis"})


def preload(command: str) -> None:
    """Import Freqtrade's modules for ``command``; a missing one just loads later."""
    for name in (*COMMON, *PRELOAD.get(command, ())):
        try:
            importlib.import_module(name)
        except ImportError:
            continue


def die_with_parent(parent_pid: int) -> None:
    """Ask Linux to SIGTERM this process when the runner dies, even by SIGKILL.

    The child runs in its own process group (signals reach it through the runner), so
    without this a killed runner would leave Freqtrade running unsupervised.
    """
    if not sys.platform.startswith("linux"):
        return
    import ctypes
    import signal

    pr_set_pdeathsig = 1
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(pr_set_pdeathsig, signal.SIGTERM)
    if os.getppid() != parent_pid:  # the runner died before prctl took effect
        os.kill(os.getpid(), signal.SIGTERM)


def main() -> int:
    command, fd = sys.argv[1], int(sys.argv[2])
    die_with_parent(int(sys.argv[3]))
    preload(command)
    with os.fdopen(fd, "r") as orders:
        line = orders.readline()
    order: dict[str, Any] = json.loads(line) if line.strip() else {"run": False}
    if not order.get("run"):
        return 0
    unset: list[str] = order.get("unset", [])
    env: dict[str, str] = order.get("env", {})
    argv: list[str] = order["argv"]
    for name in unset:
        os.environ.pop(name, None)
    os.environ.update(env)
    sys.argv = ["freqtrade", *argv]
    from freqtrade.main import main as freqtrade_main

    try:
        freqtrade_main(argv)  # exits the process with Freqtrade's own code
    except SystemExit as done:
        if command not in FAST_EXIT_COMMANDS:
            raise
        _fast_exit(done.code)
    return 0


def _fast_exit(code: object) -> None:
    """Run the atexit handlers, flush every stream, then end with Freqtrade's code.

    The atexit handlers include the guard's ``guard_summary`` line and logging's own
    shutdown (which flushes and closes every handler); only the garbage collection of the
    interpreter's modules and objects is skipped.
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

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

    freqtrade_main(argv)  # exits the process with Freqtrade's own code
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

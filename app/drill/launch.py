"""``python -m app.drill.launch PARENT_PID ARGS...``: ``tradingbot ARGS`` that dies with the drill.

The drill starts its bot's runner through this: Linux sends the runner SIGTERM when the
drill's process ends, even by SIGKILL (``PR_SET_PDEATHSIG`` survives ``exec``), and the
runner stops Freqtrade the way ``docker stop`` does. No bot outlives its drill.
"""

from __future__ import annotations

import os
import sys

from app.runner.supervisor import die_with_parent


def main() -> None:
    """Set the parent-death signal, then become ``python -m app ARGS``."""
    parent = int(sys.argv[1])
    die_with_parent(parent)
    os.execv(sys.executable, [sys.executable, "-m", "app", *sys.argv[2:]])  # noqa: S606  # becomes the runner


if __name__ == "__main__":
    main()

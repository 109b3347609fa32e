"""``tradingbot exporter``: the Prometheus exporter in the foreground (``/metrics``, ``/health``).

Same as ``python scripts/exporter.py``. Reads the ``RISK_*`` settings (state folder,
breaker file, registry) and the ``EXPORTER_*`` settings (bots to poll) once at start:
a bad value exits 2 naming it. Loopback only unless ``--allow-remote``.
"""

from __future__ import annotations

import argparse
import logging
import signal
import threading

DEFAULT_PORT = 9000


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "exporter",
        help="serve Prometheus metrics of the breaker, slots, registry, guards and bots",
        description=(
            "Serve /metrics (Prometheus) and /health. Collects at scrape time from the circuit "
            "breaker, the backtest slots, the registry (read-only), each bot's guard metrics "
            "file and the bots listed in EXPORTER_BOTS (Freqtrade REST API). Runs until "
            "SIGINT/SIGTERM."
        ),
    )
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help=f"TCP port (default {DEFAULT_PORT})"
    )
    parser.add_argument(
        "--allow-remote",
        action="store_true",
        help="allow --host to be a non-loopback address (the exporter has no authentication)",
    )
    parser.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    from app.errors import ConfigError
    from app.exporter.service import build_server
    from app.exporter.settings import load_exporter_settings
    from app.hosts import check_host
    from app.logs import Event, configure_logging, get_logger, log_event
    from app.settings import load_settings

    if not 0 <= args.port <= 65535:
        raise ConfigError(f"--port {args.port} is not a TCP port; use 0-65535 (0 = a free one)")
    check_host(args.host, args.allow_remote, what="the exporter")
    risk = load_settings()
    exporter = load_exporter_settings()
    configure_logging(log_file=None)  # stderr only: the exporter may run on a read-only disk
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    server = build_server(risk, exporter, host=args.host, port=args.port)
    with server:
        log_event(
            get_logger("exporter"),
            logging.INFO,
            Event.EXPORTER_STARTED,
            url=server.url,
            bots=[bot.name for bot in exporter.bots],
            state_dir=str(risk.state_dir),
        )
        print(f"Exporter serving {server.url}/metrics and {server.url}/health", flush=True)
        stop.wait()
    print("Exporter stopped.", flush=True)
    return 0

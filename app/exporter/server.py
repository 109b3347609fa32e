"""The exporter's HTTP server: ``/metrics`` (Prometheus text or OpenMetrics) and ``/health``.

Binds in the caller's thread (a taken port fails at once with a clear message), then
serves each request in its own thread. ``/health`` answers ``{"status": "ok"}`` whenever
the process serves requests: it says nothing about the sources, whose state is in
``/metrics`` (``tradingbot_exporter_source_up``). Anything else is 404; methods other
than GET and HEAD are 405. A scrape answers before the scraper's own timeout
(``X-Prometheus-Scrape-Timeout-Seconds``): sources still running then show as down.
"""

from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder

from app.errors import ConfigError
from app.exporter.collector import TradingbotCollector, scrape_timeout
from app.threads import start_thread

HEALTH_BODY = json.dumps({"status": "ok"}).encode()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    registry: CollectorRegistry

    def server_bind(self) -> None:
        # Like prometheus-client's server: no reverse DNS lookup of the host at bind time.
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.socket.bind(self.server_address)
        host, port = self.socket.getsockname()[:2]
        self.server_name, self.server_port = str(host), int(port)


class _Server6(_Server):
    address_family = socket.AF_INET6


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    error_content_type = "text/plain"
    error_message_format = "%(code)d %(message)s\n"
    routes: ClassVar[tuple[str, ...]] = ("/metrics", "/health")

    def do_GET(self) -> None:  # http.server's naming
        """Serve /metrics and /health."""
        path = self.path.split("?", 1)[0]
        if path == "/health":
            self._reply(200, "application/json", HEALTH_BODY)
        elif path == "/metrics":
            encoder, content_type = choose_encoder(self.headers.get("Accept", ""))
            with scrape_timeout(_seconds(self.headers.get("X-Prometheus-Scrape-Timeout-Seconds"))):
                body = encoder(self.server.registry)
            self._reply(200, content_type, body)
        else:
            self._reply(404, "text/plain", b"404 Not Found: use /metrics or /health\n")

    def do_HEAD(self) -> None:  # http.server's naming
        """Headers of GET, without a body (and without a scrape)."""
        ok = self.path.split("?", 1)[0] in self.routes
        self.send_response(200 if ok else 404)
        self.end_headers()

    def _not_allowed(self) -> None:
        self._reply(405, "text/plain", b"405 Method Not Allowed\n")

    do_POST = do_PUT = do_DELETE = do_PATCH = _not_allowed  # noqa: N815  # http.server's naming

    def _reply(self, status: int, content_type: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # stdlib signature
        """No access log: Prometheus scrapes every few seconds."""


def _seconds(text: str | None) -> float | None:
    """Prometheus's scrape timeout header; None when absent or not a positive number."""
    try:
        value = float(text) if text else None
    except ValueError:
        return None
    return value if value is not None and 0 < value < 3600 else None


class ExporterServer:
    """``/metrics`` over ``collector`` on ``host:port``; use as a context manager."""

    def __init__(self, collector: TradingbotCollector, *, host: str, port: int) -> None:
        self.collector = collector
        registry = CollectorRegistry(auto_describe=False)
        registry.register(collector)
        try:
            server_class = _Server6 if ":" in host else _Server
            self._httpd = server_class((host, port), _Handler, bind_and_activate=False)
            self._httpd.registry = registry
            self._httpd.server_bind()
            self._httpd.server_activate()
        except OSError as exc:
            raise ConfigError(
                f"cannot listen on {host}:{port} ({exc.strerror or exc}); the port is probably "
                "used by another program: choose another --port (0 = a free one)"
            ) from None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The port actually bound (useful with --port 0)."""
        return self._httpd.server_port

    @property
    def url(self) -> str:
        host = self._httpd.server_name
        return f"http://{f'[{host}]' if ':' in host else host}:{self.port}"

    def start(self) -> ExporterServer:
        """Serve in a daemon thread."""
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, args=(0.2,), name="exporter", daemon=True
        )
        start_thread(self._thread)
        return self

    def shutdown(self) -> None:
        """Stop serving and release the port and the collector's threads."""
        if self._thread is not None:  # shutdown() waits for a serve_forever that never ran
            self._httpd.shutdown()
            self._thread.join(5)
        self._httpd.server_close()
        self.collector.close()

    def __enter__(self) -> ExporterServer:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.shutdown()

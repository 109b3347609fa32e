"""Fixtures for the guard's unit tests: a JSON log file to read back."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from app.logs import configure_logging, reset_logging
from app.risk.guard import reset_process_errors

LogReader = Callable[[], list[dict[str, Any]]]


@pytest.fixture
def risk_log(tmp_path: Path) -> Iterator[LogReader]:
    """Send the ``tradingbot`` log tree (DEBUG and up) to a temp file; return its reader."""
    path = tmp_path / "risk.jsonl"
    configure_logging(log_file=path, to_stderr=False, level=logging.DEBUG)

    def read() -> list[dict[str, Any]]:
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]

    yield read
    reset_logging()


@pytest.fixture(autouse=True)
def _fresh_error_budget() -> None:
    """Each test sees the first GUARD_ERROR of its 'process' logged in full."""
    reset_process_errors()

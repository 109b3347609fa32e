"""What a candle folder holds, answered without pandas (kept light for the CLI and runner)."""

from __future__ import annotations

from pathlib import Path

# Written by `tradingbot sample-data` into every folder of generated candles.
SYNTHETIC_MARKER = "SYNTHETIC.md"


def has_candles(folder: Path) -> bool:
    """True when ``folder`` holds at least one Freqtrade feather candle file."""
    return folder.is_dir() and any(folder.glob("*.feather"))


def is_synthetic(folder: Path) -> bool:
    """True when ``folder`` holds the generated SYNTHETIC sample."""
    return (folder / SYNTHETIC_MARKER).exists()

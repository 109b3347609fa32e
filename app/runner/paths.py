"""Paths as the registry stores them."""

from __future__ import annotations

from pathlib import Path


def portable_path(path: Path) -> str:
    """``path`` relative to the working directory when inside it, else absolute.

    The project root is the working directory both on the host and in the container
    (``/freqtrade``), so relative paths such as ``user_data/backtest_results/x.zip`` mean
    the same file in both places, and the same file is always stored the same way.
    """
    resolved = path.resolve()
    try:
        return str(resolved.relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(resolved)

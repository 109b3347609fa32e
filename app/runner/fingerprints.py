"""Fingerprints of a run's inputs: the strategy's code and parameters, and its candles.

They let ``registry verify`` tell "same inputs, different result" (a reproducibility
problem) from "the inputs changed" (nothing to verify).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from pathlib import Path

_CHUNK = 1 << 20
_CANDLE_SUFFIXES = (".feather", ".parquet", ".json", ".json.gz")


def file_sha256(path: Path) -> str:
    """sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def find_strategy_file(name: str, search: Iterable[Path]) -> Path | None:
    """The ``.py`` file defining ``class <name>(`` in the first folder that has one."""
    pattern = re.compile(rf"^class\s+{re.escape(name)}\s*\(", re.MULTILINE)
    for folder in search:
        if not folder.is_dir():
            continue
        for path in sorted(folder.glob("*.py")):
            try:
                if pattern.search(path.read_text(errors="replace")):
                    return path
            except OSError:
                continue
    return None


def strategy_hash(path: Path) -> str:
    """sha256 over the strategy source and its parameter file (``<stem>.json``) if present."""
    digest = hashlib.sha256()
    digest.update(path.read_bytes())
    params = path.with_suffix(".json")
    if params.is_file():
        digest.update(b"\0params\0")
        digest.update(params.read_bytes())
    return digest.hexdigest()


def pair_of_file(path: Path) -> str | None:
    """``ETH_BTC-5m.feather`` -> ``ETH/BTC``; futures files -> ``XRP/USDT:USDT``."""
    name = path.name
    if not name.endswith(_CANDLE_SUFFIXES) or "-" not in name:
        return None
    stem = name.split("-", 1)[0]
    return stem.replace("_", "/", 1).replace("_", ":", 1)


def data_fingerprint(candle_dir: Path, pairs: Iterable[str]) -> str | None:
    """sha256 over (name, content hash) of every candle file of ``pairs`` in ``candle_dir``."""
    wanted = set(pairs)
    if not candle_dir.is_dir():
        return None
    files = sorted(p for p in candle_dir.iterdir() if p.is_file() and pair_of_file(p) in wanted)
    if not files:
        return None
    digest = hashlib.sha256()
    for path in files:
        digest.update(f"{path.name}:{file_sha256(path)}\n".encode())
    return digest.hexdigest()

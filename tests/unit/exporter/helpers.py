"""Helpers for the exporter's unit tests: collect one source into a readable dict."""

from __future__ import annotations

import time

from app.exporter.catalog import Batch, HistogramValue
from app.exporter.collector import Source


def collect(source: Source, now: float | None = None) -> dict[str, float | HistogramValue]:
    """Samples as ``{'name{label=value,...}': value}``; exceptions propagate."""
    batch = Batch()
    source.collect(batch, time.time() if now is None else now)
    return as_dict(batch)


def as_dict(batch: Batch) -> dict[str, float | HistogramValue]:
    from app.exporter.catalog import SPECS

    out: dict[str, float | HistogramValue] = {}
    for name, labels, value in batch.samples:
        pairs = ",".join(f"{k}={v}" for k, v in zip(SPECS[name].labels, labels, strict=True))
        out[f"{name}{{{pairs}}}" if pairs else name] = value
    return out

"""The run registry: every run, its metrics, incidents and promoted parameter sets.

``from app.registry import Registry, RunRecord, IncidentRecord`` is the public API; see
:class:`app.registry.store.Registry`. The names load on first use (PEP 562), so that
importing a light submodule such as the CLI does not pull in SQLAlchemy.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from app.registry.models import RUN_KINDS, RUN_STATUSES, SEVERITIES
    from app.registry.records import IncidentRecord, ParamSetRecord, RunRecord
    from app.registry.store import Registry

_EXPORTS = {
    "RUN_KINDS": "app.registry.models",
    "RUN_STATUSES": "app.registry.models",
    "SEVERITIES": "app.registry.models",
    "IncidentRecord": "app.registry.records",
    "ParamSetRecord": "app.registry.records",
    "RunRecord": "app.registry.records",
    "Registry": "app.registry.store",
}

__all__ = [
    "RUN_KINDS",
    "RUN_STATUSES",
    "SEVERITIES",
    "IncidentRecord",
    "ParamSetRecord",
    "Registry",
    "RunRecord",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'app.registry' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)

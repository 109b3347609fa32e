"""The run registry: every run, its metrics, incidents and promoted parameter sets.

``from app.registry import Registry, RunRecord, IncidentRecord`` is the public API; see
:class:`app.registry.store.Registry`.
"""

from app.registry.models import RUN_KINDS, RUN_STATUSES, SEVERITIES
from app.registry.records import IncidentRecord, ParamSetRecord, RunRecord
from app.registry.store import Registry

__all__ = [
    "RUN_KINDS",
    "RUN_STATUSES",
    "SEVERITIES",
    "IncidentRecord",
    "ParamSetRecord",
    "Registry",
    "RunRecord",
]

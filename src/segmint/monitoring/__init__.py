"""Stage 6: continuous segmentation — update cycles, segment history, migration,
stability, drift and alerts (see docs/monitoring.md).

The entry point is :func:`run_cycle` (``Project.update``, ``segmint update``).
"""

from segmint.monitoring._alerts import Alert, Delivery, evaluate_alerts, send_webhook
from segmint.monitoring._cycle import CycleResult, cycles, run_cycle
from segmint.monitoring._drift import centroid_shifts, feature_drift, share_psi
from segmint.monitoring._events import EventsResult, RescoreResult, ingest_events, rescore
from segmint.monitoring._history import (
    DEFAULT_ORDER,
    adjusted_rand,
    client_history,
    migration_matrix,
    open_history,
    stable_core_counts,
)
from segmint.monitoring._schedule import parse_interval, run_schedule
from segmint.monitoring._tables import (
    ALERTS,
    CYCLES,
    DRIFT,
    HISTORY,
    MIGRATION,
    SHARES,
    STABILITY,
)
from segmint.monitoring._trajectory import stable_core, upward_trajectory

__all__ = [
    "ALERTS",
    "CYCLES",
    "DEFAULT_ORDER",
    "DRIFT",
    "HISTORY",
    "MIGRATION",
    "SHARES",
    "STABILITY",
    "Alert",
    "CycleResult",
    "Delivery",
    "EventsResult",
    "RescoreResult",
    "adjusted_rand",
    "centroid_shifts",
    "client_history",
    "open_history",
    "cycles",
    "evaluate_alerts",
    "feature_drift",
    "ingest_events",
    "migration_matrix",
    "parse_interval",
    "rescore",
    "run_cycle",
    "run_schedule",
    "send_webhook",
    "share_psi",
    "stable_core",
    "stable_core_counts",
    "upward_trajectory",
]

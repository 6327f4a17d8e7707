"""Stage 6: continuous segmentation — update cycles, segment history, migration,
stability, drift and alerts (see docs/monitoring.md).

What a cycle records is :func:`record_cycle`; the cycle itself (which stage runs after
which) is :func:`segmint.pipeline.run_cycle` (``Project.update``, ``segmint update``).
"""

from segmint.monitoring._alerts import (
    WEBHOOK_QUEUE,
    Alert,
    Delivery,
    alerts_from_frame,
    check_target,
    evaluate_alerts,
    mark_delivered,
    mask_url,
    pending,
    send_webhook,
)
from segmint.monitoring._cycle import (
    CycleResult,
    cycle_drift,
    cycles,
    dimension_names,
    fail_cycle,
    previous_cycle,
    record_cycle,
    reference_versions,
    refit_plan,
    undo_cycles,
)
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
    "WEBHOOK_QUEUE",
    "Alert",
    "CycleResult",
    "Delivery",
    "EventsResult",
    "RescoreResult",
    "adjusted_rand",
    "centroid_shifts",
    "check_target",
    "client_history",
    "open_history",
    "cycle_drift",
    "cycles",
    "alerts_from_frame",
    "dimension_names",
    "evaluate_alerts",
    "fail_cycle",
    "feature_drift",
    "ingest_events",
    "mark_delivered",
    "mask_url",
    "migration_matrix",
    "parse_interval",
    "pending",
    "previous_cycle",
    "record_cycle",
    "reference_versions",
    "refit_plan",
    "rescore",
    "run_schedule",
    "send_webhook",
    "share_psi",
    "stable_core",
    "stable_core_counts",
    "undo_cycles",
    "upward_trajectory",
]

"""Orchestration: which stage runs after which — the whole run, the update cycle, event
re-scoring, and webhook delivery after a cycle. It sits above every stage (it imports
them; none imports it); :class:`segmint.Project` and the CLI are thin layers over it.
"""

from segmint.pipeline._cycle import run_cycle, undo_cycle
from segmint.pipeline._events import ingest_events, rescore
from segmint.pipeline._notify import deliver_queued
from segmint.pipeline._run import STAGES, PipelineRun, run_pipeline
from segmint.pipeline._steps import (
    catalog,
    check_as_of,
    default_as_of,
    features_frame,
    ingest,
    newest_data_day,
    open_history,
    publish,
    readiness,
    report,
    segment,
    snapshot_features,
    stored_features,
)
from segmint.pipeline._workspace import Workspace

__all__ = [
    "STAGES",
    "PipelineRun",
    "Workspace",
    "catalog",
    "check_as_of",
    "default_as_of",
    "deliver_queued",
    "features_frame",
    "ingest",
    "ingest_events",
    "newest_data_day",
    "open_history",
    "readiness",
    "publish",
    "report",
    "rescore",
    "run_cycle",
    "run_pipeline",
    "segment",
    "snapshot_features",
    "stored_features",
    "undo_cycle",
]

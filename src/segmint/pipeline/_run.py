"""The whole pipeline in one call: ingest → features → segment → catalog → report."""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from segmint.pipeline import _steps as steps
from segmint.pipeline._workspace import Workspace
from segmint.store import project_lock

STAGES = ("ingest", "features", "segment", "catalog", "report")


@dataclass
class PipelineRun:
    """What :func:`run_pipeline` (``Project.run``) did, stage by stage."""

    as_of: dt.date
    ingest: Any
    n_clients: int
    n_features: int
    segmentation: Any
    catalog: Any
    report: Path
    timings: dict[str, float] = field(default_factory=dict)
    #: one line each: readiness warnings, feature groups and dimensions skipped, top-N
    #: options that left values out
    notes: list[str] = field(default_factory=list)


def run_pipeline(
    ws: Workspace, *, as_of=None, report=None, progress=None, allow_shrink: bool = False,
    strict: bool | None = None,
) -> PipelineRun:
    """Run every stage in order under the project lock (see :meth:`segmint.Project.run`).

    After ingestion the readiness of the data is measured (strict: refused when short)."""
    timings: dict[str, float] = {}

    def step(name: str, fn):
        t0 = time.perf_counter()
        out = fn()
        timings[name] = time.perf_counter() - t0
        if progress:
            progress(name, STAGES.index(name) + 1, len(STAGES))
        return out

    with project_lock(ws.warehouse_path):
        ingested = step("ingest", lambda: steps.ingest(ws, allow_shrink=allow_shrink))
        ready = steps.readiness(ws, strict=strict)
        date = steps.as_date(as_of) or steps.default_as_of(ws)
        features = step("features", lambda: steps.snapshot_features(ws, date))
        seg = step("segment", lambda: steps.segment(ws, date, load=False))
        steps.open_history(ws, date)  # `segmint history` works after the first run
        catalog = step("catalog", lambda: steps.catalog(ws, as_of=date))
        path = step("report", lambda: steps.report(ws, report, as_of=date))
        steps.publish(ws, kind="run")
    return PipelineRun(
        as_of=date,
        ingest=ingested,
        n_clients=features.rows,
        n_features=len(features.columns) - 1,
        segmentation=seg,
        catalog=catalog,
        report=path,
        timings=timings,
        notes=ready.warnings + features.notes
        + [f"skipped dimension {d}: {why}" for d, why in seg.skipped.items()],
    )

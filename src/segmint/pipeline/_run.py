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


def run_pipeline(
    ws: Workspace, *, as_of=None, report=None, progress=None, allow_shrink: bool = False
) -> PipelineRun:
    """Run every stage in order under the project lock (see :meth:`segmint.Project.run`)."""
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
        date = steps.as_date(as_of) or steps.default_as_of(ws)
        features = step("features", lambda: steps.snapshot_features(ws, date))
        seg = step("segment", lambda: steps.segment(ws, date, load=False))
        catalog = step("catalog", lambda: steps.catalog(ws, as_of=date))
        path = step("report", lambda: steps.report(ws, report, as_of=date))
    return PipelineRun(
        as_of=date,
        ingest=ingested,
        n_clients=features.rows,
        n_features=len(features.columns) - 1,
        segmentation=seg,
        catalog=catalog,
        report=path,
        timings=timings,
    )

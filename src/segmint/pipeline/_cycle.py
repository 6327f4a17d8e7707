"""The update cycle: which stage runs after which.

ingest (what is new) → fold it into the feature state → features → drift and the refit
policy → assign (refitting what the policy says) → record history, migration,
stability, drift and alerts (:func:`segmint.monitoring.record_cycle`) — all under the
project lock; then, with the lock released, the queued webhook messages are sent.
"""

from __future__ import annotations

import datetime as dt
import logging
import time

from segmint.features import state_anchor
from segmint.monitoring import (
    CycleResult,
    cycle_drift,
    dimension_names,
    fail_cycle,
    previous_cycle,
    record_cycle,
    reference_versions,
    refit_plan,
    undo_cycles,
)
from segmint.pipeline import _steps as steps
from segmint.pipeline._notify import deliver_queued
from segmint.pipeline._workspace import Workspace
from segmint.segmentation import load_version
from segmint.store import crash_point, project_lock
from segmint.targeting import assign_holdout

log = logging.getLogger("segmint.pipeline")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def run_cycle(
    ws: Workspace,
    as_of: dt.date | str | None = None,
    *,
    refit: bool = False,
    ingest: bool = True,
    notify: bool = True,
    force_as_of: bool = False,
    allow_shrink: bool = False,
) -> CycleResult:
    """Run one update cycle (see :meth:`segmint.Project.update`)."""
    with project_lock(ws.warehouse_path):
        result = _locked_cycle(ws, as_of, refit=refit, ingest=ingest, notify=notify,
                               force_as_of=force_as_of, allow_shrink=allow_shrink)
        steps.publish(ws, kind="cycle")
    if notify and ws.config.monitoring.webhook is not None:
        t0 = time.perf_counter()
        deliveries = deliver_queued(ws)
        result.webhook = deliveries.get(result.cycle_id)
        result.timings["webhook"] = time.perf_counter() - t0
    return result


def _locked_cycle(ws, as_of, *, refit, ingest, notify, force_as_of, allow_shrink=False) -> CycleResult:
    started = _now()
    timings: dict[str, float] = {}
    t0 = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal t0
        timings[name] = time.perf_counter() - t0
        t0 = time.perf_counter()

    if ingest:
        steps.ingest(ws, allow_shrink=allow_shrink)
        lap("ingest")
    if ws.config.features.incremental:
        from segmint.features._snapshot import refresh_state

        with ws.warehouse() as wh:
            state = refresh_state(wh, ws.config.features, build=True)
        if state != "in_sync":
            log.info("incremental feature state: %s", state)
        lap("state")
    given = steps.as_date(as_of)
    as_of = given or steps.default_as_of(ws)
    if given is not None:
        steps.check_as_of(ws, given, force=force_as_of)
    with ws.warehouse() as wh:
        previous, applied = previous_cycle(wh, as_of)
    try:
        result = _cycle(ws, as_of, previous, applied, refit, notify, started, lap)
    except Exception as exc:
        with ws.warehouse() as wh:
            fail_cycle(wh, as_of, previous, started, exc)
        raise
    result.timings = timings
    return result


def _cycle(ws, as_of, previous, applied, refit, notify, started, lap) -> CycleResult:
    cfg = ws.config
    with ws.warehouse() as wh:
        anchor = state_anchor(wh)  # where the feature state's windows were: undo goes back
    steps.snapshot_features(ws, as_of)
    lap("features")
    with ws.warehouse() as wh:
        names = dimension_names(cfg.segmentation, wh)
        refs = reference_versions(wh, names, applied)
        drift = cycle_drift(wh, cfg.monitoring, refs, as_of)
        lap("drift")
        plan = refit_plan(cfg.monitoring, refs, drift, as_of, refit)
        # a version fitted at this as_of after the previous cycle's is this cycle's own
        # refit, left by an interrupted run: apply it rather than fitting again
        todo = set(plan)
        for name in plan:
            latest = load_version(wh.con, name)
            if latest is not None and latest.as_of == as_of and latest.version > refs[name].version:
                log.info("%s: version %d was fitted at %s already", name, latest.version, as_of)
                todo.discard(name)
    for name in sorted(todo):
        log.info("refitting %s (%s)", name, plan[name])
    seg = steps.segment(ws, as_of, refit=todo, load=False)
    lap("segment")
    crash_point("update:after_segment")
    if cfg.experiments.holdout is not None:  # new clients join the global holdout or not
        with ws.warehouse() as wh:
            assign_holdout(wh, cfg.experiments, as_of=as_of)
    with ws.warehouse() as wh:
        result = record_cycle(
            wh, cfg.monitoring, project=cfg.project, as_of=as_of, previous=previous,
            applied=applied, models=seg.models, drift=drift, plan=plan, started=started,
            notify=notify, state_anchor=anchor,
        )
    lap("record")
    return result


def undo_cycle(ws: Workspace, as_of: dt.date | str) -> list[dt.date]:
    """Roll back the cycle of ``as_of`` and every later one (see
    :func:`segmint.monitoring.undo_cycles`); returns the dates undone."""
    day = steps.as_date(as_of)
    assert day is not None
    with project_lock(ws.warehouse_path), ws.warehouse() as wh:
        return undo_cycles(wh, day)

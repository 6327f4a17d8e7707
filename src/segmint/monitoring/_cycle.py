"""What an update cycle records: history, migration, stability, drift and alerts of
the assignments a cycle wrote, in one transaction (the orchestration that runs ingest,
features and assignment first lives in :mod:`segmint.pipeline`).

A cycle is keyed by its as_of: re-running the latest as_of replaces that cycle's rows
(history included), so a cycle that died part-way is simply run again. An as_of
before the latest cycle's is refused.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from segmint.config import MonitoringConfig, SegmentationConfig
from segmint.errors import WarehouseError
from segmint.features import move_anchor
from segmint.monitoring._alerts import (
    WEBHOOK_QUEUE,
    Alert,
    Delivery,
    alerts_frame,
    enqueue,
    evaluate_alerts,
)
from segmint.monitoring._drift import centroid_shifts, feature_drift, share_psi
from segmint.monitoring._history import (
    DEFAULT_ORDER,
    migration_matrix,
    stable_core_counts,
    transition_stats,
    undo_history,
    update_history,
)
from segmint.monitoring._tables import (
    ALERTS,
    CYCLES,
    DRIFT,
    MIGRATION,
    PER_CYCLE,
    SHARES,
    STABILITY,
    ensure_tables,
)
from segmint.monitoring._trajectory import upward_trajectory
from segmint.segmentation import ASSIGNMENTS, FEATURES, ModelVersion, load_version
from segmint.store import Warehouse, crash_point

log = logging.getLogger("segmint.monitoring")


@dataclass
class CycleResult:
    """What one update cycle did.

    Attributes
    ----------
    cycle_id, as_of, previous_as_of
    refitted : dimensions whose applied version differs from the previous cycle's
    clients : clients assigned
    changes : history rows opened by this cycle (segment changes, new clients)
    stability : DataFrame, one row per dimension (``segment_stability``)
    drift : DataFrame, one row per feature (``feature_drift``)
    alerts : list of :class:`Alert`
    upward : DataFrame, clients on an upward trajectory over the last
        ``trajectory_cycles`` cycles (see :func:`upward_trajectory`)
    webhook : :class:`Delivery` or None
    timings : seconds per stage
    """

    cycle_id: str
    as_of: dt.date
    previous_as_of: dt.date | None
    refitted: list[str]
    clients: int
    changes: int
    stability: pd.DataFrame
    drift: pd.DataFrame
    alerts: list[Alert]
    upward: pd.DataFrame
    webhook: Delivery | None = None
    timings: dict[str, float] = field(default_factory=dict)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def cycles(wh: Warehouse) -> pd.DataFrame:
    """The recorded cycles, oldest first (empty before the first cycle)."""
    if not wh.has_table(CYCLES):
        return pd.DataFrame(columns=["cycle_id", "as_of", "status"])
    return wh.con.execute(f"SELECT * FROM {CYCLES} ORDER BY as_of").df()


def previous_cycle(wh: Warehouse, as_of: dt.date) -> tuple[dt.date | None, dict[str, int]]:
    """The latest successful cycle before ``as_of`` and the versions it applied; refuses
    an ``as_of`` before the latest cycle."""
    if not wh.has_table(CYCLES):
        return None, {}
    last = wh.con.execute(f"SELECT max(as_of) FROM {CYCLES} WHERE status = 'ok'").fetchone()[0]  # type: ignore[index]
    if last is not None and as_of < last:
        raise WarehouseError(
            f"update --as-of {as_of}: cycles run forward; the latest cycle is {last} "
            "(re-run it with the same as_of, or pick a later date)"
        )
    prev = wh.con.execute(
        f"SELECT max(as_of) FROM {CYCLES} WHERE status = 'ok' AND as_of < ?", [as_of]
    ).fetchone()[0]  # type: ignore[index]
    if prev is None:
        return None, {}
    rows = wh.con.execute(
        f"SELECT dimension, model_version FROM {STABILITY} WHERE as_of = ?", [prev]
    ).fetchall()
    return prev, {d: int(v) for d, v in rows}


def dimension_names(config: SegmentationConfig, wh: Warehouse) -> list[str]:
    """The dimensions the project's segmentation resolves to over the stored features."""
    from segmint.segmentation import resolve_dimensions

    columns = {r[0] for r in wh.con.execute(f"DESCRIBE {FEATURES}").fetchall()}
    dims, _ = resolve_dimensions(config, columns)
    return [d.name for d in dims]


def reference_versions(
    wh: Warehouse, names: list[str], applied: dict[str, int]
) -> dict[str, ModelVersion]:
    """The versions the previous cycle applied (else the latest stored), per dimension."""
    out = {}
    for name in names:
        mv = load_version(wh.con, name, applied.get(name))
        if mv is not None:
            out[name] = mv
    return out


def cycle_drift(
    wh: Warehouse, config: MonitoringConfig, refs: dict[str, ModelVersion], as_of: dt.date
) -> pd.DataFrame:
    """Feature drift of ``as_of`` against each applied model's reference snapshot."""
    cfg = config.drift
    have = {
        r[0]
        for r in wh.con.execute(f"SELECT DISTINCT as_of FROM {FEATURES}").fetchall()
    }
    frames = []
    for day in sorted({mv.as_of for mv in refs.values()}):
        if day not in have:
            log.warning("drift: no features snapshot at %s (a model's reference); skipped", day)
            continue
        frames.append(feature_drift(wh.con, day, as_of, cfg))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def refit_plan(
    config: MonitoringConfig,
    refs: dict[str, ModelVersion],
    drift: pd.DataFrame,
    as_of: dt.date,
    refit: bool,
) -> dict[str, str]:
    """Dimension -> reason, for the dimensions this cycle refits (the refit policy)."""
    policy = config.refit
    plan = {}
    for name, mv in refs.items():
        if refit:
            plan[name] = "requested"
        elif policy.every_days is not None and (as_of - mv.as_of).days >= policy.every_days:
            plan[name] = f"fitted {(as_of - mv.as_of).days} days before"
        elif policy.on_drift and mv.kind == "learned" and not drift.empty:
            mine = drift[
                (drift.reference_as_of == mv.as_of)
                & drift.feature.isin(mv.params.get("features", []))
                & (drift.psi >= policy.psi_threshold)
            ]
            if not mine.empty:
                plan[name] = "drift in " + ", ".join(mine.feature)
    return plan


def fail_cycle(wh: Warehouse, as_of: dt.date, previous: dt.date | None, started, exc) -> None:
    """Record a cycle that failed (unless the as_of already has a successful one)."""
    with wh.transaction() as tx:
        ensure_tables(tx)
        tx.execute(f"DELETE FROM {CYCLES} WHERE as_of = ? AND status <> 'ok'", [as_of])
        tx.execute(
            f"INSERT INTO {CYCLES} (cycle_id, as_of, previous_as_of, started_at, finished_at, "
            "status, detail) SELECT ?, ?, ?, ?, ?, 'failed', ? "
            f"WHERE NOT EXISTS (SELECT 1 FROM {CYCLES} WHERE as_of = ?)",
            [as_of.isoformat(), as_of, previous, started, _now(), repr(exc), as_of],
        )


def record_cycle(
    wh: Warehouse,
    config: MonitoringConfig,
    *,
    project: str,
    as_of: dt.date,
    previous: dt.date | None,
    applied: dict[str, int],
    models: dict[str, ModelVersion],
    drift: pd.DataFrame,
    plan: dict[str, str],
    started: dt.datetime,
    notify: bool = True,
    state_anchor: dt.date | None = None,
) -> CycleResult:
    """Record one cycle's history, migration, stability, shares, drift and alerts, in one
    transaction keyed by ``as_of``, from the assignments the cycle wrote.

    ``models`` are the versions applied (per dimension), ``applied`` the previous cycle's
    versions. The alerts' webhook message, when one is configured, is queued in the same
    transaction (``webhook_queue``) and sent later, outside the warehouse lock.
    ``state_anchor`` is where the incremental feature state's windows were before the
    cycle's snapshot (kept so that :func:`undo_cycles` can move them back).
    """
    mon = config
    refitted = sorted(
        d for d, mv in models.items() if d not in applied or applied[d] != mv.version
    )
    identity = {
        d: models[d].evidence.get("identity", {})
        for d in refitted
        if d in applied and models[d].kind == "learned"
    }
    order = DEFAULT_ORDER | dict(mon.order)
    cycle_id = as_of.isoformat()
    con = wh.con
    matrix = migration_matrix(con, previous, as_of, order) if previous else pd.DataFrame()
    stats = transition_stats(matrix) if previous else pd.DataFrame(columns=["dimension"])
    shares = _shares(con, as_of, previous)
    centroid = {
        d: centroid_shifts(con, mv, as_of)
        for d, mv in models.items()
        if mv.kind == "learned" and "parent" not in mv.params
    }
    shares["centroid_shift"] = [
        centroid.get(d, {}).get(s) for d, s in zip(shares.dimension, shares.segment_id, strict=True)
    ]
    stability = _stability(models, stats, shares, mon.drift.epsilon)
    alerts = evaluate_alerts(
        mon.alerts, drift=drift, stability=stability, shares=shares, identity=identity
    )
    since = con.execute(
        f"SELECT as_of FROM (SELECT DISTINCT as_of FROM {CYCLES} WHERE status = 'ok' "
        f"AND as_of < ? UNION SELECT ?) ORDER BY as_of DESC LIMIT 1 OFFSET ?",
        [as_of, as_of, mon.stable_core_cycles - 1],
    ).fetchone() if wh.has_table(CYCLES) else None
    webhook = mon.webhook
    with wh.transaction() as tx:
        ensure_tables(tx)
        for table in PER_CYCLE:
            tx.execute(f"DELETE FROM {table} WHERE as_of = ?", [as_of])
        undo_history(tx, as_of)
        update_history(tx, as_of)
        changes = tx.execute(
            "SELECT count(*) FROM segment_history WHERE valid_from = ? AND source = 'cycle'",
            [as_of],
        ).fetchone()[0]  # type: ignore[index]
        core = stable_core_counts(tx, since[0]) if since else {}
        stability["stable_core"] = [core.get(d) if since else None for d in stability.dimension]
        _insert(tx, STABILITY, stability, cycle_id, as_of)
        _insert(tx, SHARES, shares, cycle_id, as_of)
        if not matrix.empty:
            matrix.insert(0, "previous_as_of", previous)
            _insert(tx, MIGRATION, matrix, cycle_id, as_of)
        if not drift.empty:
            _insert(tx, DRIFT, drift, cycle_id, as_of)
        _insert(tx, ALERTS, alerts_frame(alerts), cycle_id, as_of)
        clients = tx.execute(
            f"SELECT count(DISTINCT client_id) FROM {ASSIGNMENTS} WHERE as_of = ?", [as_of]
        ).fetchone()[0]  # type: ignore[index]
        crash_point("update:before_commit")
        counts = {
            "reclassified": {r.dimension: r.reclassified for r in stability.itertuples() if pd.notna(r.reclassified)},
            "refit_reasons": plan,
            "state_anchor_before": state_anchor.isoformat() if state_anchor else None,
        }
        queued = notify and webhook is not None and (bool(alerts) or webhook.send_empty)
        tx.execute(
            f"INSERT INTO {CYCLES} VALUES (?, ?, ?, ?, ?, 'ok', ?, ?, ?, ?, ?, ?, NULL)",
            [cycle_id, as_of, previous, started, _now(), refitted, clients, changes,
             len(alerts), "queued" if queued else None, None],
        )
        # needs this cycle's row (same connection, same transaction)
        upward = upward_trajectory(wh, cycles=mon.trajectory_cycles)
        counts["upward_trajectory"] = len(upward)
        tx.execute(
            f"UPDATE {CYCLES} SET counts = ? WHERE as_of = ?",
            [json.dumps(counts, default=_plain), as_of],
        )
        if queued:
            enqueue(
                tx,
                cycle_id,
                as_of,
                {
                    "project": project,
                    "cycle_id": cycle_id,
                    "as_of": as_of.isoformat(),
                    "alerts": alerts_frame(alerts).to_dict(orient="records"),
                },
            )
    log.info(
        "cycle %s: %d clients, %d history changes, %d alerts, refitted: %s",
        cycle_id, clients, changes, len(alerts), ", ".join(refitted) or "none",
    )
    return CycleResult(
        cycle_id, as_of, previous, refitted, int(clients), int(changes), stability, drift,
        alerts, upward, None,
    )


def undo_cycles(wh: Warehouse, as_of: dt.date) -> list[dt.date]:
    """Remove the cycle of ``as_of`` and every later one, as if they had never run.

    Deletes their monitoring rows, reopens the history spells they closed, removes the
    assignments and features snapshots of their dates and the model versions fitted
    since the first of them started (a refit a cycle made), and moves the incremental
    feature state's windows back where they were. Loaded source data is kept. Returns
    the dates undone, oldest first.

    Raises
    ------
    WarehouseError
        When no cycle ran at ``as_of``.
    """
    from segmint.segmentation import MODELS

    wh.require(CYCLES, hint="no update cycle has run yet")
    days = [
        r[0]
        for r in wh.con.execute(
            f"SELECT DISTINCT as_of FROM {CYCLES} WHERE as_of >= ? ORDER BY as_of", [as_of]
        ).fetchall()
    ]
    if not days or days[0] != as_of:
        known = [r[0].isoformat() for r in wh.con.execute(
            f"SELECT DISTINCT as_of FROM {CYCLES} ORDER BY as_of DESC LIMIT 5").fetchall()]
        raise WarehouseError(
            f"update --undo {as_of}: no cycle ran at that date (latest: {', '.join(known) or 'none'})"
        )
    first_start, counts = wh.con.execute(
        f"SELECT started_at, counts FROM {CYCLES} WHERE as_of = ? ORDER BY started_at LIMIT 1",
        [as_of],
    ).fetchone()  # type: ignore[misc]
    anchor = json.loads(counts or "{}").get("state_anchor_before")
    with wh.transaction() as tx:
        if wh.has_table(MODELS) and first_start is not None:
            # versions fitted by the undone cycles (or after them) go with them
            tx.execute(f"DELETE FROM {MODELS} WHERE created_at >= ?", [first_start])
        for day in reversed(days):
            for table in PER_CYCLE:
                tx.execute(f"DELETE FROM {table} WHERE as_of = ?", [day])
            if wh.has_table("segment_history"):
                undo_history(tx, day)
            for table in (ASSIGNMENTS, FEATURES):
                if wh.has_table(table):
                    tx.execute(f"DELETE FROM {table} WHERE as_of = ?", [day])
            if wh.has_table(WEBHOOK_QUEUE):
                tx.execute(f"DELETE FROM {WEBHOOK_QUEUE} WHERE as_of = ?", [day])
    if anchor is not None:
        # its own transaction (atomic, and idempotent: an undo killed here leaves a valid
        # state whose windows the next snapshot moves where it needs them)
        move_anchor(wh, dt.date.fromisoformat(anchor))
    return days


def _plain(x: Any) -> Any:
    return x.item() if hasattr(x, "item") else str(x)


def _insert(tx, table: str, frame: pd.DataFrame, cycle_id: str, as_of: dt.date) -> None:
    frame = frame.copy()
    frame.insert(0, "as_of", as_of)
    frame.insert(0, "cycle_id", cycle_id)
    cols = [r[0] for r in tx.execute(f"DESCRIBE {table}").fetchall()]
    for c in cols:
        if c not in frame.columns:
            frame[c] = None
    tx.register("_monitoring_rows", frame[cols])
    try:
        tx.execute(f"INSERT INTO {table} SELECT * FROM _monitoring_rows")
    finally:
        tx.unregister("_monitoring_rows")


def _shares(con, as_of: dt.date, previous: dt.date | None) -> pd.DataFrame:
    q = (
        f"SELECT dimension, segment_id, any_value(segment_name) AS segment_name, count(*) AS clients, "
        f"count(*) / sum(count(*)) OVER (PARTITION BY dimension) AS share "
        f"FROM {ASSIGNMENTS} WHERE as_of = ? GROUP BY dimension, segment_id"
    )
    cur = con.execute(q, [as_of]).df()
    if previous is None:
        cur["previous_share"] = float("nan")
        cur["share_change"] = float("nan")
    else:
        prev = con.execute(q, [previous]).df()[["dimension", "segment_id", "segment_name", "share"]]
        # outer: a segment that emptied stays visible (0 clients) with its share change
        cur = cur.merge(
            prev.rename(columns={"share": "previous_share", "segment_name": "previous_name"}),
            on=["dimension", "segment_id"],
            how="outer",
        )
        cur["segment_name"] = cur.segment_name.fillna(cur.previous_name)
        cur["clients"] = cur.clients.fillna(0).astype("int64")
        cur["share"] = cur.share.fillna(0.0)
        cur = cur.drop(columns="previous_name")
        cur["share_change"] = cur.share - cur.previous_share.fillna(0.0)
    return cur.sort_values(["dimension", "segment_id"]).reset_index(drop=True)


def _stability(models, stats: pd.DataFrame, shares: pd.DataFrame, eps: float) -> pd.DataFrame:
    rows = []
    for dim, mv in sorted(models.items()):
        s = shares[shares.dimension == dim]
        r: dict[str, Any] = {
            "dimension": dim,
            "model_version": mv.version,
            "reference_as_of": mv.as_of,
            "clients": int(s.clients.sum()),
        }
        st = stats[stats.dimension == dim]
        r.update(st.iloc[0].drop("dimension").to_dict() if not st.empty else {})
        if s.previous_share.notna().any():
            r["max_share_change"] = float(s.share_change.abs().max())
            r["share_psi"] = share_psi(
                s.set_index("segment_id").previous_share.dropna(), s.set_index("segment_id").share, eps
            )
        shifts = s.centroid_shift.dropna()
        r["max_centroid_shift"] = float(shifts.max()) if not shifts.empty else None
        rows.append(r)
    cols = ["dimension", "model_version", "reference_as_of", "clients", "compared", "reclassified",
            "reclassification_rate", "ari", "upward", "downward", "stable_core",
            "max_share_change", "share_psi", "max_centroid_shift"]
    return pd.DataFrame(rows).reindex(columns=cols)

"""Human approval of model changes: proposals and their diff, approve, reject, pin,
rollback, alert acknowledgement — every action in the audit log.

Which version assigns is decided by the registry
(:func:`segmint.segmentation.applied_version`) from the append-only table
``segment_model_decisions``; this module appends the decisions and re-assigns the
latest assignments date when the applied version changes, so the warehouse never
holds assignments of a version that no longer applies.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pandas as pd

from segmint.config._governance import FairnessConfig
from segmint.config._segmentation import SegmentationConfig
from segmint.errors import ParameterError, WarehouseError
from segmint.governance._audit_log import log_action
from segmint.segmentation import (
    applied_version,
    load_version,
    record_decision,
    run_segmentation,
    version_sql,
    version_statuses,
)
from segmint.segmentation._registry import MODELS, ensure_registry, pinned_version
from segmint.store import Warehouse


def model_versions(wh: Warehouse) -> pd.DataFrame:
    """Every stored version with its status: ``applied``, ``proposed``, ``approved``
    (no longer the latest), ``rejected``, ``rolled_back``, ``superseded``; and whether a
    pin holds it."""
    con = wh.con
    ensure_registry(con)
    rows = con.execute(
        f"SELECT dimension, version, as_of, created_at, kind, method, k FROM {MODELS} "
        "ORDER BY dimension, version"
    ).df()
    status, pinned = [], []
    cache: dict[str, tuple[dict[int, str], int | None, int | None]] = {}
    for r in rows.itertuples():
        if r.dimension not in cache:
            mv = applied_version(con, r.dimension)
            cache[r.dimension] = (
                version_statuses(con, r.dimension),
                pinned_version(con, r.dimension),
                mv.version if mv else None,
            )
        statuses, pin, applied = cache[r.dimension]
        if r.version == applied:
            status.append("applied")
        else:
            status.append(statuses.get(int(r.version), "superseded")
                          .replace("approved", "superseded"))
        pinned.append(pin == r.version)
    rows["status"] = status
    rows["pinned"] = pinned
    return rows


def _version(wh: Warehouse, dimension: str, version: int):
    mv = load_version(wh.con, dimension, version)
    if mv is None:
        have = [str(v) for d, v, *_ in wh.con.execute(
            f"SELECT dimension, version FROM {MODELS} WHERE dimension = ?", [dimension]).fetchall()]
        raise ParameterError(
            f"models: no version {version} of dimension {dimension!r} "
            f"(versions: {', '.join(have) or 'none'})"
        )
    return mv


def _latest_as_of(wh: Warehouse) -> dt.date | None:
    if not wh.has_table("segment_assignments"):
        return None
    return wh.con.execute("SELECT max(as_of) FROM segment_assignments").fetchone()[0]  # type: ignore[index]


def _reassign(wh: Warehouse, config: SegmentationConfig | None) -> None:
    """Assign the latest assignments date again with the versions that now apply."""
    as_of = _latest_as_of(wh)
    if config is None or as_of is None:
        return
    have = wh.con.execute("SELECT count(*) FROM features WHERE as_of = ?", [as_of]).fetchone()[0]  # type: ignore[index]
    if have:
        run_segmentation(wh, config, as_of=as_of, load=False, approval=True)


def _decide(
    wh: Warehouse, dimension: str, version: int, action: str, actor: str, reason: str | None,
    detail: dict[str, Any] | None = None,
) -> None:
    with wh.transaction() as tx:
        record_decision(tx, dimension, version, action, actor=actor, reason=reason)
        log_action(tx, f"model_{action}", actor=actor, subject=f"{dimension}:{version}",
                   reason=reason, detail=detail)


def approve(
    wh: Warehouse,
    dimension: str,
    version: int,
    *,
    actor: str,
    reason: str | None = None,
    config: SegmentationConfig | None = None,
) -> None:
    """Approve a proposed version: it applies from now on (and to the latest
    assignments date, re-assigned at once when ``config`` is given)."""
    _version(wh, dimension, version)
    status = version_statuses(wh.con, dimension).get(version)
    if status != "proposed":
        raise ParameterError(
            f"models approve {dimension} {version}: not a proposal (status: {status or 'applied'})"
        )
    _decide(wh, dimension, version, "approved", actor, reason)
    _reassign(wh, config)


def reject(wh: Warehouse, dimension: str, version: int, *, actor: str, reason: str | None = None) -> None:
    """Reject a proposed version: it never applies."""
    _version(wh, dimension, version)
    status = version_statuses(wh.con, dimension).get(version)
    if status != "proposed":
        raise ParameterError(
            f"models reject {dimension} {version}: not a proposal (status: {status or 'applied'})"
        )
    _decide(wh, dimension, version, "rejected", actor, reason)


def pin(
    wh: Warehouse, dimension: str, version: int, *, actor: str, reason: str | None = None,
    config: SegmentationConfig | None = None,
) -> None:
    """Hold a dimension at ``version`` whatever is fitted or approved later."""
    _version(wh, dimension, version)
    if version_statuses(wh.con, dimension).get(version) in ("proposed", "rejected"):
        raise ParameterError(
            f"models pin {dimension} {version}: approve the version before pinning it"
        )
    _decide(wh, dimension, version, "pinned", actor, reason)
    _reassign(wh, config)


def unpin(
    wh: Warehouse, dimension: str, *, actor: str, reason: str | None = None,
    config: SegmentationConfig | None = None,
) -> None:
    """Release a pin: the latest approved version applies again."""
    held = pinned_version(wh.con, dimension)
    if held is None:
        raise ParameterError(f"models unpin {dimension}: the dimension is not pinned")
    _decide(wh, dimension, held, "unpinned", actor, reason)
    _reassign(wh, config)


def rollback(
    wh: Warehouse, dimension: str, *, actor: str, reason: str | None = None,
    config: SegmentationConfig | None = None,
) -> int:
    """Withdraw the applied version; the version before it applies again (and the
    latest assignments date is re-assigned with it when ``config`` is given).

    Returns
    -------
    int
        The version that applies now.
    """
    if pinned_version(wh.con, dimension) is not None:
        raise ParameterError(f"models rollback {dimension}: the dimension is pinned; unpin it first")
    current = applied_version(wh.con, dimension)
    if current is None:
        raise ParameterError(f"models rollback {dimension}: no version of this dimension applies")
    with wh.transaction() as tx:
        record_decision(tx, dimension, current.version, "rolled_back", actor=actor, reason=reason)
        restored = applied_version(tx, dimension)
        if restored is None:
            raise ParameterError(
                f"models rollback {dimension}: version {current.version} is the only applicable "
                "version; nothing to roll back to"
            )
        log_action(tx, "model_rolled_back", actor=actor, subject=f"{dimension}:{current.version}",
                   reason=reason, detail={"restored": restored.version})
    _reassign(wh, config)
    return restored.version


def proposal_diff(
    wh: Warehouse,
    dimension: str,
    version: int,
    *,
    fairness: FairnessConfig | None = None,
) -> dict[str, Any]:
    """What applying ``version`` would change against the applied version, on the
    features snapshot the proposal was fitted at: segments created and retired, each
    segment's share before and after, the share of clients reclassified, rule changes,
    and the fairness audit of the proposed assignment.
    """
    from segmint.governance._fairness import GROUPS, _cells, _disparity, stage_groups

    new = _version(wh, dimension, version)
    old = applied_version(wh.con, dimension)
    con = wh.con
    as_of = new.as_of
    have = con.execute("SELECT count(*) FROM features WHERE as_of = ?", [as_of]).fetchone()[0]  # type: ignore[index]
    if not have:
        raise WarehouseError(f"models diff: no features snapshot at {as_of} (the proposal's as_of)")
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _gov_snapshot AS SELECT * FROM features WHERE as_of = ?", [as_of]
    )
    try:
        con.execute(f"CREATE OR REPLACE TEMP TABLE _gov_new AS {version_sql(new, '_gov_snapshot', as_of)}")
        old_ids: set[str] = set()
        if old is not None:
            con.execute(f"CREATE OR REPLACE TEMP TABLE _gov_old AS {version_sql(old, '_gov_snapshot', as_of)}")
            old_ids = {s["id"] for s in old.segments}
        else:
            con.execute("CREATE OR REPLACE TEMP TABLE _gov_old AS SELECT * FROM _gov_new WHERE false")
        shares = con.execute(
            """SELECT coalesce(n.segment_id, o.segment_id) AS segment_id,
                      coalesce(n.segment_name, o.segment_name) AS segment_name,
                      coalesce(o.share, 0) AS share_before, coalesce(n.share, 0) AS share_after
               FROM (SELECT segment_id, any_value(segment_name) AS segment_name,
                            count(*) / sum(count(*)) OVER () AS share FROM _gov_new GROUP BY 1) n
               FULL JOIN (SELECT segment_id, any_value(segment_name) AS segment_name,
                            count(*) / sum(count(*)) OVER () AS share FROM _gov_old GROUP BY 1) o
               USING (segment_id) ORDER BY 1"""
        ).df()
        shares["share_change"] = shares.share_after - shares.share_before
        moved = con.execute(
            "SELECT avg((n.segment_id <> o.segment_id)::INTEGER) FROM _gov_new n JOIN _gov_old o "
            "USING (client_id)"
        ).fetchone()[0]  # type: ignore[index]
        fair = FairnessConfig() if fairness is None else fairness
        how = stage_groups(wh, fair, as_of)
        disparity = pd.DataFrame()
        if how:
            cells = _cells(
                con,
                "SELECT 'proposal' AS source, dimension AS name, segment_id AS selection, client_id "
                "FROM _gov_new",
                list(how),
            )
            if not cells.empty:
                _, disparity = _disparity(cells, fair, list(how))
        con.execute(f"DROP TABLE IF EXISTS {GROUPS}")
    finally:
        for t in ("_gov_snapshot", "_gov_new", "_gov_old"):
            con.execute(f"DROP TABLE IF EXISTS {t}")
    new_ids = {s["id"] for s in new.segments}
    rules_old = {r["segment"]: r["when"] for r in (old.params.get("rules", []) if old else [])}
    rules_new = {r["segment"]: r["when"] for r in new.params.get("rules", [])}
    rule_changes = [
        {"segment": s, "before": rules_old.get(s), "after": rules_new.get(s)}
        for s in sorted(set(rules_old) | set(rules_new))
        if rules_old.get(s) != rules_new.get(s)
    ]
    return {
        "dimension": dimension,
        "version": version,
        "applied_version": old.version if old else None,
        "as_of": as_of.isoformat(),
        "created": sorted(new_ids - old_ids),
        "retired": sorted(old_ids - new_ids),
        "reclassified": float(moved) if moved is not None else None,
        "shares": shares.to_dict(orient="records"),
        "rule_changes": rule_changes,
        "fairness": [] if disparity.empty else disparity.to_dict(orient="records"),
        "fairness_flags": int(disparity.flagged.sum()) if not disparity.empty else 0,
    }


def acknowledge_alert(
    wh: Warehouse,
    cycle_id: str,
    rule: str,
    *,
    actor: str,
    reason: str | None = None,
    dimension: str | None = None,
) -> int:
    """Acknowledge the alerts of one cycle and rule (one dimension's, when named).

    Returns
    -------
    int
        Alerts acknowledged.
    """
    wh.require("alerts", hint="alerts are raised by `segmint update`")
    where = "cycle_id = ? AND rule = ?" + (" AND dimension = ?" if dimension else "")
    args = [cycle_id, rule] + ([dimension] if dimension else [])
    n = wh.con.execute(f"SELECT count(*) FROM alerts WHERE {where}", args).fetchone()[0]  # type: ignore[index]
    if not n:
        raise ParameterError(
            f"alerts ack: no alert {rule!r} in cycle {cycle_id}" + (f" for {dimension}" if dimension else "")
        )
    with wh.transaction() as tx:
        log_action(tx, "alert_acknowledged", actor=actor, subject=f"{cycle_id}:{rule}", reason=reason,
                   detail={"dimension": dimension, "alerts": int(n)})
    return int(n)


def acknowledged_alerts(wh: Warehouse) -> pd.DataFrame:
    """Acknowledgements from the audit log (cycle_id, rule, dimension, actor, at, reason)."""
    from segmint.governance._audit_log import audit_log

    log = audit_log(wh)
    log = log[log.action == "alert_acknowledged"]
    return pd.DataFrame({
        "cycle_id": log.subject.str.split(":").str[0], "rule": log.subject.str.split(":", n=1).str[1],
        "dimension": [json.loads(d).get("dimension") if d else None for d in log.detail],
        "actor": log.actor, "at": log.logged_at, "reason": log.reason,
    })


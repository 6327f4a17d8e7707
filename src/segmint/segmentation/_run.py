"""The segment step: fit or load each dimension, assign every client in the engine."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from segmint.config._segmentation import SegmentationConfig
from segmint.errors import ConfigError, WarehouseError
from segmint.segmentation._dimension import (
    fingerprint,
    fit_dimension,
    micro_version,
    resolve_dimensions,
    version_sql,
)
from segmint.segmentation._naming import apply_segment_names
from segmint.segmentation._preprocess import quote
from segmint.segmentation._registry import (
    ModelVersion,
    applied_version,
    ensure_registry,
    load_version,
    next_version,
    pinned_version,
    record_decision,
    save_version,
    version_statuses,
)
from segmint.store import Warehouse

FEATURES = "features"
ASSIGNMENTS = "segment_assignments"

_DDL = f"""
CREATE TABLE IF NOT EXISTS {ASSIGNMENTS} (
    client_id VARCHAR NOT NULL,
    dimension VARCHAR NOT NULL,
    segment_id VARCHAR NOT NULL,
    segment_name VARCHAR NOT NULL,
    model_version INTEGER NOT NULL,
    as_of DATE NOT NULL,
    score DOUBLE
)
"""


@dataclass
class SegmentationRun:
    """What :func:`run_segmentation` did.

    Attributes
    ----------
    as_of : date
    models : dict of dimension -> ModelVersion (the versions applied)
    fitted : list of dimensions fitted in this run (the others reused a stored version)
    skipped : dict of built-in dimension -> reason it was not run
    sizes : DataFrame (dimension, segment_id, segment_name, clients)
    assignments : DataFrame or None (the rows written, when requested)
    timings : dict of step -> seconds
    """

    as_of: dt.date
    models: dict[str, ModelVersion]
    fitted: list[str]
    skipped: dict[str, str]
    sizes: pd.DataFrame
    assignments: pd.DataFrame | None = None
    timings: dict[str, float] = field(default_factory=dict)


def latest_as_of(warehouse: Warehouse) -> dt.date:
    warehouse.require(FEATURES, hint="compute features first (`segmint features`)")
    row = warehouse.con.execute(f"SELECT max(as_of) FROM {FEATURES}").fetchone()
    if row is None or row[0] is None:
        raise WarehouseError(f"table {FEATURES} is empty; compute features first")
    return row[0]


def run_segmentation(
    warehouse: Warehouse,
    config: SegmentationConfig,
    *,
    as_of: dt.date | None = None,
    refit: bool | Collection[str] = False,
    out: str | Path | None = None,
    load: bool = True,
    approval: bool = False,
    exclude_learned: str | None = None,
    exclude_all: str | None = None,
) -> SegmentationRun:
    """Fit (first time, on ``refit`` or when a dimension's definition changed) or apply
    every dimension at ``as_of`` and write ``segment_assignments`` atomically.

    ``refit`` is true (every dimension) or the names of the dimensions to refit.
    With ``approval`` (``governance.approval: required``), or while a dimension is
    pinned, a refit of a dimension that already has a version is stored as a
    *proposed* version and the applied version keeps assigning (see
    :func:`~segmint.segmentation._registry.applied_version`).

    ``exclude_learned`` / ``exclude_all`` are SQL predicates over ``client_id`` naming
    clients kept out of learned dimensions (fit and assignment) / of every dimension
    (governance's consent: :func:`segmint.governance.consent_predicates`)."""
    con = warehouse.con
    timings: dict[str, float] = {}
    as_of = as_of or latest_as_of(warehouse)
    warehouse.require(FEATURES, hint="compute features first (`segmint features`)")
    n = con.execute(f"SELECT count(*) FROM {FEATURES} WHERE as_of = ?", [as_of]).fetchone()[0]  # type: ignore[index]
    if not n:
        have = [
            r[0].isoformat()
            for r in con.execute(
                f"SELECT DISTINCT as_of FROM {FEATURES} ORDER BY 1 DESC LIMIT 5"
            ).fetchall()
        ]
        raise WarehouseError(
            f"no features snapshot at {as_of.isoformat()} (latest: {', '.join(have) or 'none'})"
        )
    columns = {r[0] for r in con.execute(f"DESCRIBE {FEATURES}").fetchall()}
    sparse: set[str] = set()
    if {"clv_12m", "frequency"} <= columns:
        # CLV is null when its model was not identified on this data: the built-in value
        # tiers then rest on monetary_total rather than putting every client in one tier
        have, buyers = con.execute(
            f"SELECT count(clv_12m) FILTER (frequency > 0), count(*) FILTER (frequency > 0) "
            f"FROM {FEATURES} WHERE as_of = ?",
            [as_of],
        ).fetchone()  # type: ignore[misc]
        if buyers and have < 0.9 * buyers:
            sparse.add("clv_12m")
    # a value measure no source feeds (all null or zero) cannot rank anyone
    candidates = [c for c in ("margin_12m", "revenue_12m", "assets", "monetary_total") if c in columns]
    if candidates:
        fed = con.execute(
            "SELECT " + ", ".join(f"count(*) FILTER ({quote(c)} <> 0)" for c in candidates)
            + f" FROM {FEATURES} WHERE as_of = ?",
            [as_of],
        ).fetchone()
        assert fed is not None
        sparse.update(c for c, n in zip(candidates, fed, strict=True) if not n)
    dims, skipped = resolve_dimensions(config, columns, sparse=sparse)
    if not dims:
        raise ConfigError(
            "segmentation: no dimension to run ("
            + "; ".join(f"{k}: {v}" for k, v in skipped.items())
            + ")"
        )
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE _segment_snapshot AS "
        f"SELECT * FROM {FEATURES} WHERE as_of = DATE '{as_of.isoformat()}'"
    )
    source = "_segment_snapshot"
    if exclude_all:
        con.execute(f"DELETE FROM {source} WHERE {exclude_all}")
    learned_source = source
    if exclude_learned:
        learned_source = "_segment_snapshot_learned"
        con.execute(
            f"CREATE OR REPLACE TEMP VIEW {learned_source} AS SELECT * FROM {source} "
            f"WHERE NOT ({exclude_learned})"
        )
    ensure_registry(con)
    models: dict[str, ModelVersion] = {}
    new: list[ModelVersion] = []
    fitted: list[str] = []
    proposed: list[ModelVersion] = []
    for dim in dims:
        t0 = time.perf_counter()
        current = applied_version(con, dim.name)
        stale = current is None or current.params.get("fingerprint") != fingerprint(dim)
        wanted = refit if isinstance(refit, bool) else dim.name in refit
        held = current is not None and (approval or pinned_version(con, dim.name) is not None)
        pending = (
            _pending(con, dim.name, fingerprint(dim), as_of if wanted else None) if held else None
        )
        if (wanted or stale) and pending is None:
            mv = fit_dimension(
                con,
                learned_source if dim.kind == "learned" else source,
                dim,
                columns,
                as_of=as_of,
                config=config,
                previous=current if current is not None and current.method == dim.method else None,
                version=next_version(con, dim.name),
            )
            (proposed if held else new).append(mv)
            fitted.append(dim.name)
            if held:
                assert current is not None
                mv = current
        else:
            assert current is not None
            mv = current
        models[dim.name] = mv
        if "micro" in mv.params:
            models[f"{dim.name}_micro"] = micro_version(mv)
        timings[f"fit:{dim.name}"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    with warehouse.transaction() as tx:
        for mv in new:
            save_version(tx, mv)
        for mv in proposed:
            save_version(tx, mv)
            record_decision(tx, mv.dimension, mv.version, "proposed", actor="segmint",
                            reason=f"refit at {as_of.isoformat()}")
        tx.execute(_DDL)
        tx.execute(
            f"DELETE FROM {ASSIGNMENTS} WHERE as_of = ? AND dimension IN ({', '.join('?' * len(models))})",
            [as_of, *models],
        )
        for mv in models.values():
            src = learned_source if mv.kind == "learned" else source
            tx.execute(f"INSERT INTO {ASSIGNMENTS} {version_sql(mv, src, as_of)}")
        apply_segment_names(tx, [ASSIGNMENTS], as_of=as_of)  # the catalog's names, as everywhere
    timings["assign"] = time.perf_counter() - t0
    if learned_source != source:
        con.execute(f"DROP VIEW IF EXISTS {learned_source}")
    con.execute(f"DROP TABLE IF EXISTS {source}")
    sizes = con.execute(
        "SELECT * FROM (SELECT dimension, segment_id, segment_name, count(*) AS clients "
        f"FROM {ASSIGNMENTS} WHERE as_of = ? GROUP BY ALL) "
        "ORDER BY dimension, length(segment_id), segment_id",
        [as_of],
    ).df()
    if out is not None:
        _export(warehouse, as_of, Path(out))
    frame = None
    if load:
        frame = con.execute(
            f"SELECT * FROM {ASSIGNMENTS} WHERE as_of = ? ORDER BY dimension, client_id", [as_of]
        ).df()
    return SegmentationRun(as_of, models, fitted, skipped, sizes, frame, timings)


def _pending(con, dimension: str, fp: str, as_of: dt.date | None) -> ModelVersion | None:
    """A proposal awaiting a decision, fitted from the current definition (at ``as_of``
    when given): a re-run does not propose again."""
    statuses = version_statuses(con, dimension)
    waiting = [v for v, s in statuses.items() if s == "proposed"]
    if not waiting:
        return None
    mv = load_version(con, dimension, max(waiting))
    if mv is not None and mv.params.get("fingerprint") == fp and as_of in (None, mv.as_of):
        return mv
    return None


def _export(warehouse: Warehouse, as_of: dt.date, path: Path) -> None:
    suffix = path.suffix.lower()
    if suffix not in (".parquet", ".csv"):
        raise ConfigError(f"--out {path}: expected a .parquet or .csv file")
    path.parent.mkdir(parents=True, exist_ok=True)
    fmt = "PARQUET" if suffix == ".parquet" else "CSV, HEADER"
    target = str(path).replace("'", "''")
    warehouse.con.execute(
        f"COPY (SELECT * FROM {ASSIGNMENTS} WHERE as_of = DATE '{as_of.isoformat()}' "
        f"ORDER BY dimension, client_id) TO '{target}' (FORMAT {fmt})"
    )

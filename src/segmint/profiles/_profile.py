"""Segment profiles, computed in DuckDB: size, value, churn risk, feature lifts, cross-tabs.

All aggregates of a dimension are one wide grouped SQL query (``GROUPING
SETS`` give the segment rows and the population row together); Python only
reshapes the small result.
Means and medians ignore nulls; medians interpolate (``median`` =
``quantile_cont(0.5)``); the lift of a feature is the standardised mean
difference ``(segment mean - population mean) / population std`` with the
population form of the standard deviation, and 0 when the feature does not
vary in the population.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

import duckdb

from segmint.errors import WarehouseError
from segmint.profiles._models import (
    CrossTab,
    CrossTabCell,
    FeatureStat,
    PropensityStat,
    SegmentProfile,
    ValueStat,
)
from segmint.store import Warehouse

VALUE_METRICS = ("revenue_12m", "clv_12m", "margin_12m")
_NUMERIC = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT",
            "UINTEGER", "UBIGINT", "FLOAT", "DOUBLE", "REAL")
_KEYS = {"client_id", "as_of"}
ASSIGN = "_catalog_assign"
FEATURES = "_catalog_features"


def q(name: str) -> str:
    """A quoted SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


@dataclass(frozen=True)
class DimensionInfo:
    """The model behind one dimension's current assignments."""

    dimension: str
    model_version: str
    kind: str
    method: str | None
    params: dict[str, Any] | None
    evidence: dict[str, Any] | None


def latest_as_of(wh: Warehouse) -> dt.date:
    wh.require("segment_assignments", hint="run `segmint segment` first")
    row = wh.con.execute("SELECT max(as_of) FROM segment_assignments").fetchone()
    if row is None or row[0] is None:
        raise WarehouseError("segment_assignments is empty; run `segmint segment` first")
    return row[0]


def prepare(wh: Warehouse, as_of: dt.date) -> list[DimensionInfo]:
    """Stage the current assignments and features of ``as_of`` as temp tables.

    For each dimension the most recent model version with assignments at
    ``as_of`` is used (latest ``segment_models.created_at``, else the highest
    version string).
    """
    wh.require("features", "segment_assignments", hint="run `segmint features` and `segmint segment` first")
    con = wh.con
    has_models = wh.has_table("segment_models")
    models_join = (
        "LEFT JOIN segment_models m ON m.dimension = a.dimension "
        "AND m.version::VARCHAR = a.model_version::VARCHAR"
        if has_models else ""
    )
    created = "max(m.created_at)" if has_models else "NULL::TIMESTAMP"
    rows = con.execute(
        f"""SELECT a.dimension, a.model_version, {created} AS created
            FROM segment_assignments a {models_join} WHERE a.as_of = ?
            GROUP BY a.dimension, a.model_version
            QUALIFY row_number() OVER (PARTITION BY a.dimension
                                       ORDER BY created DESC NULLS LAST, a.model_version DESC) = 1
            ORDER BY a.dimension""",
        [as_of],
    ).fetchall()
    if not rows:
        raise WarehouseError(f"segment_assignments: no assignments as of {as_of}")
    con.execute("CREATE OR REPLACE TEMP TABLE _catalog_versions (dimension VARCHAR, model_version VARCHAR)")
    con.executemany("INSERT INTO _catalog_versions VALUES (?, ?)", [[r[0], str(r[1])] for r in rows])
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE {ASSIGN} AS
            SELECT a.client_id, a.dimension, a.segment_id::VARCHAR AS segment_id,
                   a.segment_name::VARCHAR AS segment_name
            FROM segment_assignments a JOIN _catalog_versions v
              ON a.dimension = v.dimension AND a.model_version::VARCHAR = v.model_version
            WHERE a.as_of = ?""",
        [as_of],
    )
    con.execute(f"CREATE OR REPLACE TEMP TABLE {FEATURES} AS SELECT * FROM features WHERE as_of = ?", [as_of])
    if con.execute(f"SELECT count(*) FROM {FEATURES}").fetchone()[0] == 0:
        raise WarehouseError(f"features: no rows as of {as_of} (the assignments' date)")
    infos = []
    for dimension, version, _ in rows:
        model = None
        if has_models:
            model = con.execute(
                "SELECT kind, method, params, evidence FROM segment_models "
                "WHERE dimension = ? AND version::VARCHAR = ? ORDER BY created_at DESC LIMIT 1",
                [dimension, version],
            ).fetchone()
        kind, method, params, evidence = model or ("learned", None, None, None)
        infos.append(
            DimensionInfo(dimension, str(version), kind if kind in ("rules", "learned") else "learned",
                          method, _json(params), _json(evidence))
        )
    return infos


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def numeric_features(con: duckdb.DuckDBPyConnection, table: str = FEATURES) -> list[str]:
    """Numeric columns of the features table, in table order."""
    rows = con.execute(f"DESCRIBE {table}").fetchall()
    return [name for name, typ, *_ in rows
            if name not in _KEYS and (typ in _NUMERIC or typ.startswith("DECIMAL"))]


def _base(dimension_param: str = "?") -> str:
    return (
        f"SELECT a.segment_id, f.* FROM {ASSIGN} a LEFT JOIN {FEATURES} f USING (client_id) "
        f"WHERE a.dimension = {dimension_param}"
    )


REPORTED_DIGITS = 9
"""Significant digits of the floats a profile reports.

Parallel aggregation adds terms in a varying order, so the last bits of a mean or a
standard deviation differ between runs on the same data; rounding to 9 significant
digits (far above that noise, far below any meaningful difference) makes the catalog of
the same data and seed byte-identical, and ties between lifts break by name."""


def _r(x: float | None) -> float | None:
    return None if x is None else float(f"{float(x):.{REPORTED_DIGITS}g}")


def profile_segments(
    con: duckdb.DuckDBPyConnection, dimension: str, features: list[str], *, top: int = 5
) -> dict[str, SegmentProfile]:
    """Profiles of every segment of ``dimension`` (staged by :func:`prepare`)."""
    present = set(features)
    values = [m for m in VALUE_METRICS if m in present]
    aggs = ["count(*)", "avg(churn_risk)" if "churn_risk" in present else "NULL::DOUBLE"]
    for m in values:
        aggs += [f"sum({q(m)})", f"avg({q(m)})"]
    for f in features:
        x = f"CAST({q(f)} AS DOUBLE)"
        aggs += [f"avg({x})", f"median({x})", f"stddev_pop({x})"]
    # one wide grouped query: the segment rows and the population row (segment_id NULL)
    rows = con.execute(
        f"""SELECT grouping(segment_id) = 1, segment_id, {', '.join(aggs)} FROM ({_base()})
            GROUP BY GROUPING SETS ((segment_id), ())""",
        [dimension],
    ).fetchall()
    pop = next(r[1:] for r in rows if r[0])
    seg_rows = {r[1]: r[1:] for r in rows if not r[0]}
    total = pop[1]
    nv = 3 + 2 * len(values)

    def stats(row: tuple) -> dict[str, tuple]:
        return {f: row[nv + 3 * j: nv + 3 * j + 3] for j, f in enumerate(features)}

    pop_stats = stats(pop)

    profiles = {}
    for seg, row in sorted(seg_rows.items()):
        fstats = []
        seg_stats = stats(row)
        for f in features:
            mean, med, _ = (_r(x) for x in seg_stats[f])
            pmean, pmed, pstd = (_r(x) for x in pop_stats[f])
            lift = None
            if mean is not None and pmean is not None:
                lift = _r((mean - pmean) / pstd) if pstd else 0.0
            fstats.append(FeatureStat(feature=f, mean=mean, median=med, population_mean=pmean,
                                      population_median=pmed, population_std=pstd, lift=lift))
        value = []
        for i, m in enumerate(values):
            seg_sum, seg_avg = _r(row[3 + 2 * i]), _r(row[4 + 2 * i])
            pop_sum, pop_avg = _r(pop[3 + 2 * i]), _r(pop[4 + 2 * i])
            share = _r(seg_sum / pop_sum) if seg_sum is not None and pop_sum else None
            value.append(ValueStat(metric=m, total=seg_sum, mean=seg_avg, population_mean=pop_avg,
                                   share_of_total=share))
        ranked = sorted((f for f in fstats if f.lift is not None), key=lambda f: (-abs(f.lift), f.feature))
        profiles[seg] = SegmentProfile(
            size=row[1], share=row[1] / total, value=value, churn_risk=_r(row[2]),
            population_churn_risk=_r(pop[2]), features=fstats,
            top_features=[f.feature for f in ranked[:top]],
        )
    return profiles


def crosstabs(con: duckdb.DuckDBPyConnection, dimension: str, others: list[str]) -> list[CrossTab]:
    """Clients by (segment of ``dimension``, segment of each other dimension)."""
    out = []
    for other in others:
        rows = con.execute(
            f"""SELECT a.segment_id, b.segment_id, count(*) FROM {ASSIGN} a
                JOIN {ASSIGN} b USING (client_id)
                WHERE a.dimension = ? AND b.dimension = ? GROUP BY ALL ORDER BY 1, 2""",
            [dimension, other],
        ).fetchall()
        out.append(CrossTab(other_dimension=other,
                            cells=[CrossTabCell(segment_id=a, other_segment_id=b, clients=n) for a, b, n in rows]))
    return out


SCORE_PREFIX = "propensity_"


def propensity_stats(
    con: duckdb.DuckDBPyConnection, dimension: str, features: list[str]
) -> dict[str, list[PropensityStat]]:
    """Per segment, each ``propensity_*`` score's mean and top-decile share.

    Deciles are taken over every client of the staged snapshot with a score, ordered by
    score then client_id: those of the targeting stage's ``scores`` table. Read from the
    features generically: profiles never import the targeting stage.
    """
    out: dict[str, list[PropensityStat]] = {}
    for col in (f for f in features if f.startswith(SCORE_PREFIX)):
        rows = con.execute(
            f"""WITH d AS (SELECT client_id, {q(col)} AS x,
                             ntile(10) OVER (ORDER BY {q(col)}, client_id) AS decile
                           FROM {FEATURES} WHERE {q(col)} IS NOT NULL)
                SELECT grouping(a.segment_id) = 1, a.segment_id, avg(d.x), avg((d.decile = 10)::INT)
                FROM {ASSIGN} a JOIN d USING (client_id) WHERE a.dimension = ?
                GROUP BY GROUPING SETS ((a.segment_id), ())""",
            [dimension],
        ).fetchall()
        pop = next((r for r in rows if r[0]), None)
        for is_pop, seg, mean, top in rows:
            if not is_pop:
                out.setdefault(seg, []).append(PropensityStat(
                    feature=col, mean=mean, population_mean=pop[2] if pop else None,
                    top_decile_share=top,
                ))
    return out

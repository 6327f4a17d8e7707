"""Drift of features and segments between a reference snapshot and the current one.

**Features.** The reference of a model version is the features snapshot at the as_of
it was fitted on (``segment_models.as_of``). For each feature, in DuckDB SQL:

- *continuous* features (more than ``discrete_max_values`` distinct reference values)
  are binned at the distinct deciles of the reference (``quantile_cont`` at 0.1 .. 0.9;
  a value equal to an edge falls in the lower bin; tied deciles collapse, so a feature
  that is mostly zero has fewer bins); nulls form one more bin. The second test is the
  two-sample Kolmogorov–Smirnov statistic over the non-null values (the largest gap
  between the two empirical CDFs), with its asymptotic p-value.
- *discrete* features (few distinct values, or text) use each value (and null) as a
  bin; the second test is the Jensen–Shannon distance (base 2, 0..1) of the two
  distributions.

The population stability index is ``sum((c - r) * ln(c / r))`` over bins, ``r`` and
``c`` the reference and current shares with an empty bin's share replaced by
``epsilon`` (1e-4). Bands: below ``psi_warning`` (0.1) *stable*, below ``psi_alert``
(0.25) *moderate*, else *significant*.

Values are compared at 10 significant digits (parallel sums in the feature engine are
not bit-reproducible; noise in the last digit would otherwise split tied values).

**Segments.** The share PSI of a dimension compares its segment shares with the previous
cycle's (same formula). The centroid shift of a learned segment is the distance between
the mean of its current clients in the model's preprocessed space (the same SQL the
assignment uses) and the stored centre, divided by the median distance between stored
centres (so 1.0 means "moved as far as segments are apart").
"""

from __future__ import annotations

import datetime as dt
import math

import duckdb
import numpy as np
import pandas as pd
from scipy.special import kolmogorov

from segmint.config._monitoring import DriftConfig
from segmint.errors import FeatureError
from segmint.segmentation import ASSIGNMENTS, FEATURES, ModelVersion
from segmint.segmentation._preprocess import PreprocessSpec, quote

_NUMERIC = ("DOUBLE", "FLOAT", "REAL", "BIGINT", "INTEGER", "SMALLINT", "TINYINT", "HUGEINT",
            "UBIGINT", "UINTEGER", "USMALLINT", "UTINYINT", "BOOLEAN")
_DECILES = "[0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]"
# number of edges below the value (edges hold at most nine distinct deciles; a missing
# edge compares as NULL and counts 0): plain arithmetic, much faster than a list lambda
_EDGES_BELOW = " + ".join(f"coalesce(CAST(l.num > r.edges[{i}] AS INTEGER), 0)" for i in range(1, 10))


def _signif(x: str, digits: int = 10) -> str:
    """``x`` rounded to ``digits`` significant digits: the feature engine's parallel sums
    are not bit-reproducible, and noise in the last digit would split tied values (and
    move the KS statistic by a client) between two runs on the same data."""
    return (
        f"CASE WHEN {x} = 0 OR NOT isfinite({x}) THEN {x} "
        f"ELSE round({x}, {digits} - CAST(ceil(log10(abs({x}))) AS INTEGER)) END"
    )


def band(psi: float, cfg: DriftConfig) -> str:
    return "stable" if psi < cfg.psi_warning else "moderate" if psi < cfg.psi_alert else "significant"


def drift_features(con: duckdb.DuckDBPyConnection, cfg: DriftConfig) -> tuple[list[str], list[str]]:
    """(numeric, text) features to test: the configured ones, or every numeric feature."""
    types = {
        r[0]: str(r[1]).split("(")[0]
        for r in con.execute(f"DESCRIBE {FEATURES}").fetchall()
        if r[0] not in ("client_id", "as_of")
    }
    names = cfg.features if cfg.features is not None else [
        c for c, t in types.items() if t in _NUMERIC and c not in cfg.exclude
    ]
    missing = [f for f in names if f not in types]
    if missing:
        raise FeatureError(
            f"monitoring.drift.features: {', '.join(missing)} not in the features table"
        )
    return [f for f in names if types[f] in _NUMERIC], [f for f in names if types[f] not in _NUMERIC]


def feature_drift(
    con: duckdb.DuckDBPyConnection, reference: dt.date, current: dt.date, cfg: DriftConfig
) -> pd.DataFrame:
    """One row per feature: PSI, band and the second test, reference vs current snapshot."""
    numeric, text = drift_features(con, cfg)
    if not numeric and not text:
        return pd.DataFrame()

    def side(label: str, day: dt.date) -> str:
        parts = []
        if numeric:
            cols = ", ".join(f"{_signif(f'CAST({quote(c)} AS DOUBLE)')} AS {quote(c)}" for c in numeric)
            parts.append(
                f"SELECT '{label}' AS side, feature, num, CAST(NULL AS VARCHAR) AS cat FROM "
                f"(SELECT {cols} FROM {FEATURES} WHERE as_of = DATE '{day.isoformat()}') "
                f"UNPIVOT INCLUDE NULLS (num FOR feature IN ({', '.join(quote(c) for c in numeric)}))"
            )
        if text:
            cols = ", ".join(f"CAST({quote(c)} AS VARCHAR) AS {quote(c)}" for c in text)
            parts.append(
                f"SELECT '{label}' AS side, feature, CAST(NULL AS DOUBLE) AS num, cat FROM "
                f"(SELECT {cols} FROM {FEATURES} WHERE as_of = DATE '{day.isoformat()}') "
                f"UNPIVOT INCLUDE NULLS (cat FOR feature IN ({', '.join(quote(c) for c in text)}))"
            )
        return " UNION ALL ".join(parts)

    con.execute(
        f"CREATE OR REPLACE TEMP TABLE _drift_long AS {side('ref', reference)} "
        f"UNION ALL {side('cur', current)}"
    )
    eps = float(cfg.epsilon)
    try:
        # step by step through temp tables: DuckDB plans the single-query form badly
        con.execute(
            f"""
            CREATE OR REPLACE TEMP TABLE _drift_ref AS
            SELECT feature,
                   bool_or(cat IS NOT NULL) OR count(DISTINCT num) <= {int(cfg.discrete_max_values)}
                       AS discrete,
                   list_sort(list_distinct(quantile_cont(num, {_DECILES}))) AS edges
            FROM _drift_long WHERE side = 'ref' GROUP BY feature
            """
        )
        con.execute(
            f"""
            CREATE OR REPLACE TEMP TABLE _drift_counts AS
            SELECT feature, discrete, bin_num, bin_cat,
                   count(*) FILTER (side = 'ref') AS n_ref, count(*) FILTER (side = 'cur') AS n_cur
            FROM (
                SELECT l.side, l.feature, r.discrete, l.cat AS bin_cat,
                       CASE WHEN r.discrete OR l.num IS NULL THEN l.num ELSE {_EDGES_BELOW} END
                           AS bin_num
                FROM _drift_long AS l JOIN _drift_ref AS r USING (feature)
            )
            GROUP BY ALL
            """
        )
        frame = con.execute(
            f"""
            WITH shares AS (
                SELECT *, n_ref / nullif(sum(n_ref) OVER (PARTITION BY feature), 0) AS p,
                          n_cur / nullif(sum(n_cur) OVER (PARTITION BY feature), 0) AS q
                FROM _drift_counts
            )
            SELECT feature, any_value(discrete) AS discrete, count(*) AS bins,
                   sum((greatest(coalesce(q, 0), {eps}) - greatest(coalesce(p, 0), {eps}))
                       * ln(greatest(coalesce(q, 0), {eps}) / greatest(coalesce(p, 0), {eps}))) AS psi,
                   sqrt(greatest(0.5 * sum(CASE WHEN p > 0 THEN p * log2(2 * p / (p + q)) ELSE 0 END)
                        + 0.5 * sum(CASE WHEN q > 0 THEN q * log2(2 * q / (p + q)) ELSE 0 END), 0))
                       AS js
            FROM shares GROUP BY feature
            """
        ).df()
        ks = con.execute(
            """
            WITH c AS (
                SELECT feature, num, count(*) FILTER (side = 'ref') AS a,
                       count(*) FILTER (side = 'cur') AS b
                FROM _drift_long JOIN _drift_ref USING (feature)
                WHERE num IS NOT NULL AND NOT discrete GROUP BY feature, num
            ),
            t AS (SELECT feature, sum(a) AS na, sum(b) AS nb FROM c GROUP BY feature),
            gap AS (
                -- the gap between the two empirical CDFs after each distinct value
                SELECT feature, sum(a / na - b / nb) OVER (
                    PARTITION BY feature ORDER BY num
                    ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS d
                FROM c JOIN t USING (feature)
                WHERE na > 0 AND nb > 0
            )
            SELECT feature, max(abs(d)) AS ks, any_value(na) AS na, any_value(nb) AS nb
            FROM gap JOIN t USING (feature) GROUP BY feature
            """
        ).df()
        means = con.execute(
            "SELECT feature, avg(num) FILTER (side = 'ref') AS reference_mean, "
            "avg(num) FILTER (side = 'cur') AS current_mean FROM _drift_long GROUP BY feature"
        ).df()
    finally:
        for t in ("_drift_long", "_drift_ref", "_drift_counts"):
            con.execute(f"DROP TABLE IF EXISTS {t}")
    frame = frame.merge(ks, on="feature", how="left").merge(means, on="feature", how="left")
    out = []
    for r in frame.itertuples(index=False):
        if r.discrete:
            test, stat, p = "jensen_shannon", float(r.js), None
        else:
            test, stat = "ks", float(r.ks) if pd.notna(r.ks) else None
            p = None
            if stat is not None and r.na and r.nb:
                en = math.sqrt(r.na * r.nb / (r.na + r.nb))
                p = float(kolmogorov(stat * en))
        psi = max(float(r.psi), 0.0)
        out.append(
            {
                "reference_as_of": reference,
                "feature": r.feature,
                "kind": "discrete" if r.discrete else "continuous",
                "bins": int(r.bins),
                "psi": psi,
                "band": band(psi, cfg),
                "test": test,
                "statistic": stat,
                "p_value": p,
                "reference_mean": _num(r.reference_mean),
                "current_mean": _num(r.current_mean),
            }
        )
    order = {f: i for i, f in enumerate(numeric + text)}
    return pd.DataFrame(out).sort_values("feature", key=lambda s: s.map(order)).reset_index(drop=True)


def _num(x) -> float | None:
    return None if x is None or pd.isna(x) else float(x)


def share_psi(previous: pd.Series, current: pd.Series, eps: float) -> float:
    """PSI between two share vectors indexed by segment (missing = 0)."""
    idx = previous.index.union(current.index)
    p = np.maximum(previous.reindex(idx).fillna(0.0).to_numpy(), eps)
    q = np.maximum(current.reindex(idx).fillna(0.0).to_numpy(), eps)
    return float(np.sum((q - p) * np.log(q / p)))


def centroid_shifts(
    con: duckdb.DuckDBPyConnection, mv: ModelVersion, as_of: dt.date
) -> dict[str, float]:
    """Relative shift of each segment's centre (see the module docstring); {} when the
    version has no centres or no preprocessing."""
    p = mv.params
    model = p.get("model") or {}
    key = {"centroid": "centers", "gaussian": "means"}.get(model.get("type"))
    if mv.kind != "learned" or key is None or not p.get("preprocessing"):
        return {}
    centres = np.asarray(model[key], dtype=float)
    spec = PreprocessSpec.from_json(p["preprocessing"])
    source = f"(SELECT * FROM {FEATURES} WHERE as_of = DATE '{as_of.isoformat()}')"
    query, z = spec.sql_select(source, ["client_id"])
    means = ", ".join(f"avg({c}) AS {c}" for c in z)
    rows = con.execute(
        f"SELECT a.segment_id, {means} FROM ({query}) AS s JOIN {ASSIGNMENTS} AS a "
        "ON a.client_id = s.client_id AND a.dimension = ? AND a.as_of = ? GROUP BY a.segment_id",
        [mv.dimension, as_of],
    ).fetchall()
    current = {r[0]: np.asarray(r[1:], dtype=float) for r in rows}
    from scipy.spatial.distance import pdist

    spread = float(np.median(pdist(centres))) if len(centres) > 1 else 1.0
    out = {}
    for i, seg in enumerate(mv.segments):
        if seg["id"] in current:
            out[seg["id"]] = float(np.linalg.norm(current[seg["id"]] - centres[i]) / (spread or 1.0))
    return out

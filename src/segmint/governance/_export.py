"""Profile exports for sharing: small cells suppressed, or differential-privacy noise.

Without ``dp_epsilon`` the export holds each segment's size, share and the means of
the requested features, with small-cell (and complementary) suppression exactly as the
released catalog has it (sizes and cross-tabs are one release:
:func:`segmint.profiles.segment_suppression`); a suppressed segment's share and means are
withheld too.

With ``dp_epsilon`` every number is released with Laplace noise through OpenDP,
spending ``dp_epsilon`` from the project's privacy budget (``privacy_ledger``):

- a client is in exactly one segment of a dimension, so a dimension's sizes are a
  histogram of L1 sensitivity 1 (one client added or removed);
- a mean is a noisy sum of the feature clamped to public bounds ``[lo, hi]``
  (sensitivity ``max(|lo|, |hi|)``) over the noisy size; shares are noisy sizes over
  their total (post-processing costs nothing);
- the epsilon is split evenly over the queries (per dimension: the sizes and one sum
  per mean) and the queries compose: their epsilons add up to ``dp_epsilon``.

The noise scale of each query is the one OpenDP's ``make_laplace`` needs for its
epsilon (found with ``binary_search_param`` and checked with ``map``).
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from segmint.errors import ParameterError, SegmintError
from segmint.governance._audit_log import log_action
from segmint.store import Warehouse

LEDGER = "privacy_ledger"

_DDL = f"""
CREATE TABLE IF NOT EXISTS {LEDGER} (
    release_id VARCHAR NOT NULL,
    released_at TIMESTAMP NOT NULL,
    actor VARCHAR NOT NULL,
    epsilon DOUBLE NOT NULL,
    budget DOUBLE NOT NULL,
    description VARCHAR,
    queries JSON NOT NULL
)
"""


class PrivacyBudgetError(SegmintError, ValueError):
    """A differentially private release would spend more than the project's budget."""


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _opendp():
    """``opendp.prelude`` (an optional dependency: ``segmint[governance]``)."""
    try:
        import opendp.prelude as dp
    except ImportError:
        from segmint.errors import MissingDependencyError

        raise MissingDependencyError("opendp", "governance") from None
    return dp


def laplace_scale(sensitivity: float, epsilon: float) -> float:
    """The Laplace scale OpenDP's vector Laplace mechanism needs so that inputs at L1
    distance ``sensitivity`` are ``epsilon``-indistinguishable."""
    dp = _opendp()

    dp.enable_features("contrib")
    space = dp.vector_domain(dp.atom_domain(T=float, nan=False)), dp.l1_distance(T=float)
    scale = dp.binary_search_param(
        lambda s: dp.m.make_laplace(*space, scale=s), d_in=float(sensitivity), d_out=float(epsilon)
    )
    return float(scale)


def _laplace(values: np.ndarray, scale: float) -> np.ndarray:
    dp = _opendp()

    dp.enable_features("contrib")
    space = dp.vector_domain(dp.atom_domain(T=float, nan=False)), dp.l1_distance(T=float)
    m = dp.m.make_laplace(*space, scale=scale)
    return np.asarray(m([float(v) for v in values]), dtype=float)


def privacy_spent(wh: Warehouse) -> float:
    """Epsilon spent by the project's releases so far."""
    wh.con.execute(_DDL)
    return float(wh.con.execute(f"SELECT coalesce(sum(epsilon), 0) FROM {LEDGER}").fetchone()[0])  # type: ignore[index]


def privacy_ledger(wh: Warehouse) -> pd.DataFrame:
    """Every differentially private release, oldest first."""
    wh.con.execute(_DDL)
    return wh.con.execute(f"SELECT * FROM {LEDGER} ORDER BY released_at").df()


def _aggregates(
    wh: Warehouse, as_of: dt.date, means: dict[str, tuple[float, float] | None]
) -> pd.DataFrame:
    cols = {r[0] for r in wh.con.execute("DESCRIBE features").fetchall()}
    for f in means:
        if f not in cols:
            raise ParameterError(f"export profiles --mean {f}: not a column of the features table")
    aggs = ["count(*) AS clients"]
    for f, bounds in means.items():
        x = f"f.{_q(f)}::DOUBLE"
        if bounds is not None:
            x = f"least(greatest(coalesce({x}, {bounds[0]!r}), {bounds[0]!r}), {bounds[1]!r})"
        aggs.append(f"sum({x}) AS {_q('sum_' + f)}")
        aggs.append(f"avg({x}) AS {_q('mean_' + f)}")
    return wh.con.execute(
        f"SELECT a.dimension, a.segment_id::VARCHAR AS segment_id, any_value(a.segment_name) "
        f"AS segment_name, {', '.join(aggs)} FROM segment_assignments a "
        "LEFT JOIN features f ON f.client_id = a.client_id AND f.as_of = a.as_of "
        "WHERE a.as_of = ? GROUP BY 1, 2 ORDER BY 1, 2",
        [as_of],
    ).df()


def export_profiles(
    wh: Warehouse,
    out: str | Path,
    *,
    min_cell: int = 10,
    budget: float = 1.0,
    dp_epsilon: float | None = None,
    means: dict[str, tuple[float, float] | None] | None = None,
    as_of: dt.date | None = None,
    actor: str = "segmint",
) -> pd.DataFrame:
    """Write the segments' sizes, shares and feature means for sharing (CSV or JSON by
    the suffix of ``out``) and return them.

    Parameters
    ----------
    wh : Warehouse
    out : path of the file to write
    min_cell : suppression minimum (without ``dp_epsilon``)
    budget : the project's total epsilon (``governance.privacy_budget``)
    dp_epsilon : epsilon of a differentially private release (None: suppression instead)
    means : feature -> (lo, hi) clamping bounds (required with ``dp_epsilon``; optional
        otherwise)
    as_of : assignments' date (default: the latest)
    actor : recorded in the ledger and the audit log

    Raises
    ------
    PrivacyBudgetError
        The release would take the spent epsilon above ``budget``; nothing is written.
    """
    out = Path(out)
    if out.suffix.lower() not in (".csv", ".json"):
        raise ParameterError(f"export profiles --out {out}: expected a .csv or .json file")
    means = dict(means or {})
    wh.require("segment_assignments", "features", hint="run `segmint run` first")
    as_of = as_of or wh.con.execute("SELECT max(as_of) FROM segment_assignments").fetchone()[0]  # type: ignore[index]
    agg = _aggregates(wh, as_of, means)
    if dp_epsilon is None:
        frame = agg[["dimension", "segment_id", "segment_name", "clients"]].copy()
        status = _suppressed_sizes(wh, agg, as_of, min_cell)
        frame["clients"] = frame.clients.astype("float64").where(status.isna())
        # which suppressed size is the small one is not said: it would bound the other
        frame["suppressed"] = status.notna()
        frame["share"] = agg.clients / agg.groupby("dimension").clients.transform("sum")
        for f in means:
            frame[f"mean_{f}"] = agg[f"mean_{f}"]
        hidden = frame.clients.isna()
        frame.loc[hidden, [c for c in frame.columns if c == "share" or c.startswith("mean_")]] = np.nan
        frame.insert(0, "as_of", as_of)
    else:
        frame = _dp_release(wh, agg, as_of, dp_epsilon, budget, means, actor)
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix.lower() == ".csv":
        frame.to_csv(out, index=False)
    else:
        out.write_text(frame.to_json(orient="records", date_format="iso", indent=1))
    return frame


def _suppressed_sizes(wh: Warehouse, agg: pd.DataFrame, as_of: dt.date, min_cell: int) -> pd.Series:
    """Each segment size's suppression status, as the released catalog has it: the sizes
    and the cross-tabs between dimensions are one release (the catalog shows both), so a
    size the catalog withholds as a complement is withheld here too."""
    from segmint.profiles import segment_suppression

    crosstabs = wh.con.execute(
        "SELECT a.dimension, a.segment_id::VARCHAR AS segment_id, b.dimension AS other_dimension, "
        "b.segment_id::VARCHAR AS other_segment_id, count(*) AS clients "
        "FROM segment_assignments a JOIN segment_assignments b USING (client_id, as_of) "
        "WHERE a.as_of = ? AND a.dimension < b.dimension GROUP BY ALL",
        [as_of],
    ).df()
    seg = segment_suppression(agg, crosstabs, min_cell=min_cell)
    return pd.Series([seg.sizes[(d, s)] for d, s in zip(agg.dimension, agg.segment_id, strict=True)],
                     index=agg.index, dtype=object)


def _dp_release(wh, agg, as_of, epsilon, budget, means, actor) -> pd.DataFrame:
    if not epsilon or epsilon <= 0:
        raise ParameterError(f"export profiles --dp-epsilon {epsilon}: must be positive")
    missing = [f for f, b in means.items() if b is None]
    if missing:
        raise ParameterError(
            f"export profiles --mean {missing[0]}: a differentially private mean needs public "
            "bounds (--mean FEATURE:LO:HI)"
        )
    spent = privacy_spent(wh)
    if spent + epsilon > budget + 1e-12:
        raise PrivacyBudgetError(
            f"privacy budget: this release needs epsilon {epsilon:g} but only "
            f"{max(budget - spent, 0):g} of governance.privacy_budget {budget:g} is left "
            f"({spent:g} spent)"
        )
    dims = list(dict.fromkeys(agg.dimension))
    n_queries = len(dims) * (1 + len(means))
    each = epsilon / n_queries
    queries: list[dict[str, Any]] = []
    frames = []
    for d in dims:
        part = agg[agg.dimension == d].reset_index(drop=True)
        scale = laplace_scale(1.0, each)
        noisy = np.maximum(_laplace(part.clients.to_numpy(float), scale), 0.0)
        queries.append({"dimension": d, "query": "sizes", "sensitivity": 1.0, "epsilon": each,
                        "scale": scale})
        rel = pd.DataFrame({"as_of": as_of, "dimension": d, "segment_id": part.segment_id,
                            "segment_name": part.segment_name, "clients": np.round(noisy)})
        total = noisy.sum()
        rel["share"] = noisy / total if total > 0 else np.nan
        for f, (lo, hi) in means.items():
            sens = max(abs(lo), abs(hi))
            s_scale = laplace_scale(sens, each)
            sums = _laplace(part[f"sum_{f}"].fillna(0).to_numpy(float), s_scale)
            rel[f"mean_{f}"] = np.clip(sums / np.maximum(noisy, 1.0), lo, hi)
            queries.append({"dimension": d, "query": f"sum_{f}", "sensitivity": sens,
                            "epsilon": each, "scale": s_scale, "bounds": [lo, hi]})
        frames.append(rel)
    with wh.transaction() as tx:
        tx.execute(_DDL)
        release_id = uuid.uuid4().hex[:12]
        tx.execute(
            f"INSERT INTO {LEDGER} VALUES (?, ?, ?, ?, ?, ?, ?)",
            [release_id, dt.datetime.now(dt.UTC).replace(tzinfo=None), actor, float(epsilon),
             float(budget), f"profiles as of {as_of}", json.dumps(queries)],
        )
        log_action(tx, "dp_release", actor=actor, subject=release_id,
                   detail={"epsilon": epsilon, "queries": len(queries)})
    return pd.concat(frames, ignore_index=True)

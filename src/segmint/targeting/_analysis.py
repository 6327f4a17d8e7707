"""Lift of a randomised campaign: overall and per segment, with intervals.

The exposures (``campaigns`` entity: client, campaign, arm, send date) are joined in
DuckDB with the canonical entity holding the outcome, in a window after each client's
send date (``experiments.campaigns.<name>.outcome``), and with the same outcome in a
window before it (the CUPED covariate). One SQL query then aggregates, per segment
and arm, the sufficient statistics (counts, sums, sums of cross products); the
statistics below run on that small frame:

- conversion (or mean outcome) per arm; absolute lift with Newcombe's hybrid score
  interval (proportions) or Welch's interval (means); relative lift with a
  delta-method interval on the log ratio;
- CUPED (Deng et al. 2013): the outcome adjusted by ``theta' (x - mean x)`` with
  ``theta`` the pooled within-arm regression of the outcome on the pre-period
  covariates, and the variance reduction it buys;
- Benjamini-Hochberg q-values across the segments of the dimension;
- incremental conversions and revenue (lift x treated clients), the campaign's cost
  and its return on cost.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from segmint.config import CampaignConfig, ExperimentsConfig
from segmint.config._experiments import OutcomeConfig
from segmint.errors import ColumnNotFoundError, ConfigError, WarehouseError
from segmint.store import Warehouse
from segmint.targeting._experiments import balance_check
from segmint.targeting._stats import (
    benjamini_hochberg,
    log_ratio_interval,
    newcombe_interval,
    two_proportion_p_value,
    welch_interval,
)

__all__ = [
    "ALL",
    "CampaignAnalysis",
    "analyze_campaign",
    "campaign_config",
    "exposure_outcomes_sql",
    "lift_table",
    "segment_sizes",
]

ALL = "(all)"
BINARY_METRICS = ("purchase", "product_opened", "label")


def _lit(x: Any) -> str:
    return "'" + str(x).replace("'", "''") + "'"


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def campaign_config(config: ExperimentsConfig, campaign: str) -> CampaignConfig:
    """The campaign's configuration; a campaign not declared gets the defaults."""
    return config.campaigns.get(campaign, CampaignConfig())


def _events_sql(wh: Warehouse, o: OutcomeConfig) -> str:
    """``client_id, ts, v`` rows of the outcome's entity (v: 1 per event, or the amount)."""
    if o.metric in ("purchase", "revenue"):
        wh.require("transactions", hint="run `segmint ingest` first")
        where = [] if o.category is None else [f"category = {_lit(o.category)}"]
        if o.metric == "purchase":
            where.append("amount > 0")
        value = "1.0" if o.metric == "purchase" else "amount"
        sql = f"SELECT client_id, ts, {value} AS v FROM transactions"
    elif o.metric == "visits":
        wh.require("engagement", hint="map and ingest the engagement entity")
        where = [] if o.channel is None else [f"channel = {_lit(o.channel)}"]
        sql = "SELECT client_id, ts, 1.0 AS v FROM engagement"
    elif o.metric == "product_opened":
        wh.require("holdings", hint="map and ingest the holdings entity")
        where = []
        if o.product is not None:
            where.append(f"product = {_lit(o.product)}")
        if o.product_type is not None:
            where.append(f"product_type = {_lit(o.product_type)}")
        sql = "SELECT client_id, CAST(opened_at AS TIMESTAMP) AS ts, 1.0 AS v FROM holdings"
    else:
        wh.require("labels", hint="map and ingest the labels entity")
        where = [f"label = {_lit(o.label)}"]
        sql = (
            "SELECT client_id, CAST(observed_at AS TIMESTAMP) AS ts, "
            "CASE WHEN value > 0 THEN 1.0 ELSE 0.0 END AS v FROM labels"
        )
    return sql + (" WHERE " + " AND ".join(where) if where else "")


def _window_agg(events: str, alias: str, binary: bool, window: int, pre: int) -> str:
    agg = "max" if binary else "sum"
    post = f"ev.ts >= e.sent_at AND ev.ts < e.sent_at + INTERVAL {int(window)} DAY"
    before = f"ev.ts >= e.sent_at - INTERVAL {int(pre)} DAY AND ev.ts < e.sent_at"
    return (
        f"{alias} AS (SELECT e.client_id, "
        f"coalesce({agg}(ev.v) FILTER (WHERE {post}), 0) AS post, "
        f"coalesce({agg}(ev.v) FILTER (WHERE {before}), 0) AS pre "
        f"FROM e LEFT JOIN ({events}) ev ON ev.client_id = e.client_id "
        f"AND ev.ts >= e.sent_at - INTERVAL {int(pre)} DAY "
        f"AND ev.ts < e.sent_at + INTERVAL {int(window)} DAY GROUP BY e.client_id)"
    )


def _segment_sql(wh: Warehouse, by: str | None, first_send: dt.date) -> tuple[str, str | None]:
    """SQL ``client_id, segment`` for the dimension (or clients column) ``by``."""
    if by is None:
        return f"SELECT client_id, {_lit(ALL)} AS segment FROM e", None
    if wh.has_table("segment_assignments"):
        days = wh.con.execute(
            "SELECT max(as_of) FILTER (WHERE as_of < ?), min(as_of) "
            "FROM segment_assignments WHERE dimension = ?",
            [first_send, by],
        ).fetchone()
        if days is not None and days[1] is not None:
            day, note = days[0], None
            if day is None:
                day = days[1]
                note = (
                    f"segments of {by!r} are from {day}, after the first send date "
                    f"{first_send}: they may reflect the campaign"
                )
            return (
                f"SELECT client_id, segment_name AS segment FROM segment_assignments "
                f"WHERE dimension = {_lit(by)} AND as_of = DATE {_lit(day.isoformat())}",
                note,
            )
    column = by.removeprefix("clients.")
    cols = {r[0] for r in wh.con.execute("DESCRIBE clients").fetchall()} if wh.has_table("clients") else set()
    if column in cols:
        return f"SELECT client_id, CAST({_q(column)} AS VARCHAR) AS segment FROM clients", None
    raise ColumnNotFoundError(
        f"--by {by!r}: not a segmentation dimension in segment_assignments nor a column of clients"
    )


def exposure_outcomes_sql(
    wh: Warehouse,
    config: ExperimentsConfig,
    campaign: str,
    *,
    by: str | None = None,
    covariates: list[str] | tuple[str, ...] = (),
) -> tuple[str, list[str], list[str]]:
    """SQL of one row per exposed client: ``client_id, arm, segment, y, revenue, x0..xk``.

    ``y`` is the outcome in the window after the send date (0/1 for conversions),
    ``revenue`` the transactions' amount in the same window, ``x0`` the outcome in the
    ``pre_days`` before it and ``x1..`` the named features of the latest snapshot
    before the first send date (missing values: 0).

    Returns
    -------
    sql, covariate names, notes
    """
    wh.require("campaigns", hint="map the `campaigns` entity and run `segmint ingest`")
    row = wh.con.execute(
        "SELECT count(*), min(sent_at) FROM campaigns WHERE campaign = ?", [campaign]
    ).fetchone()
    if row is None or not row[0]:
        known = [r[0] for r in wh.con.execute("SELECT DISTINCT campaign FROM campaigns ORDER BY 1").fetchall()]
        raise WarehouseError(
            f"campaigns: no exposures of campaign {campaign!r} (campaigns: {', '.join(known[:20]) or 'none'})"
        )
    first_send = row[1]
    c = campaign_config(config, campaign)
    o = c.outcome
    binary = o.metric in BINARY_METRICS
    notes: list[str] = []
    ctes = [
        f"e AS (SELECT client_id, arm, CAST(sent_at AS TIMESTAMP) AS sent_at FROM campaigns "
        f"WHERE campaign = {_lit(campaign)} AND arm IN ('treatment', 'control'))",
        _window_agg(_events_sql(wh, o), "o", binary, o.window_days, c.pre_days),
    ]
    has_tx = wh.has_table("transactions")
    if has_tx:
        ctes.append(
            _window_agg(
                "SELECT client_id, ts, amount AS v FROM transactions", "r", False, o.window_days, c.pre_days
            )
        )
    seg_sql, note = _segment_sql(wh, by, first_send)
    if note:
        notes.append(note)
    ctes.append(f"s AS ({seg_sql})")
    names = ["pre_outcome"]
    cov_cols = ["o.pre AS x0"]
    join_f = ""
    if covariates:
        wh.require("features", hint="compute features before the send date")
        snap = wh.con.execute("SELECT max(as_of) FROM features WHERE as_of < ?", [first_send]).fetchone()
        if snap is None or snap[0] is None:
            raise WarehouseError(f"features: no snapshot before the first send date {first_send}")
        present = {r[0] for r in wh.con.execute("DESCRIBE features").fetchall()}
        for i, f in enumerate(covariates, start=1):
            if f not in present:
                raise ColumnNotFoundError(f"covariate {f!r}: not a column of the features table")
            cov_cols.append(f"coalesce(CAST(f.{_q(f)} AS DOUBLE), 0) AS x{i}")
            names.append(f)
        join_f = (
            f" LEFT JOIN features f ON f.client_id = e.client_id "
            f"AND f.as_of = DATE {_lit(snap[0].isoformat())}"
        )
    revenue = "r.post" if has_tx else "CAST(0 AS DOUBLE)"
    sql = (
        "WITH " + ", ".join(ctes) + " "
        f"SELECT e.client_id, e.arm, coalesce(s.segment, '(none)') AS segment, "
        f"CAST(o.post AS DOUBLE) AS y, CAST({revenue} AS DOUBLE) AS revenue, "
        + ", ".join(cov_cols)
        + " FROM e JOIN o ON o.client_id = e.client_id"
        + (" JOIN r ON r.client_id = e.client_id" if has_tx else "")
        + " LEFT JOIN s ON s.client_id = e.client_id"
        + join_f
    )
    return sql, names, notes


@dataclass
class CampaignAnalysis:
    """A campaign's lift, overall (segment ``(all)``) and per segment.

    Attributes
    ----------
    campaign : str
    by : str or None
        The dimension (or clients column) the segments come from.
    metric : str
        The outcome metric; ``binary`` says whether it is a conversion.
    lifts : DataFrame
        One row per segment (the first is ``(all)``); see :func:`lift_table`.
    covariates : list of str
        CUPED covariates (``pre_outcome``: the outcome in the pre-period).
    notes : list of str
    """

    campaign: str
    by: str | None
    metric: str
    binary: bool
    lifts: pd.DataFrame
    covariates: list[str]
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary."""
        rows = self.lifts.astype(object).where(self.lifts.notna(), None).to_dict("records")
        return {
            "campaign": self.campaign,
            "by": self.by,
            "metric": self.metric,
            "binary": self.binary,
            "covariates": self.covariates,
            "notes": self.notes,
            "segments": [{k: _plain(v) for k, v in r.items()} for r in rows],
        }


def _plain(v: Any) -> Any:
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def _moments_sql(sql: str, k: int) -> str:
    cols = ["y", "revenue", *[f"x{i}" for i in range(k)]]
    parts = ["count(*) AS n"]
    parts += [f"sum({c}) AS s_{c}" for c in cols]
    for i, a in enumerate(cols):
        for b in cols[i:]:
            parts.append(f"sum({a} * {b}) AS p_{a}_{b}")
    return (
        f"SELECT coalesce(segment, {_lit(ALL)}) AS segment, arm, {', '.join(parts)} "
        f"FROM ({sql}) GROUP BY GROUPING SETS ((segment, arm), (arm))"
    )


def _arm_moments(row: pd.Series, k: int) -> tuple[float, np.ndarray, np.ndarray]:
    """n, mean vector and sample covariance matrix of [y, revenue, x0..] from sums."""
    cols = ["y", "revenue", *[f"x{i}" for i in range(k)]]
    n = float(row["n"])
    s = np.array([float(row[f"s_{c}"]) for c in cols])
    p = np.empty((len(cols), len(cols)))
    for i, a in enumerate(cols):
        for j in range(i, len(cols)):
            p[i, j] = p[j, i] = float(row[f"p_{a}_{cols[j]}"])
    mean = s / n
    cov = (p - n * np.outer(mean, mean)) / max(n - 1, 1)
    return n, mean, cov


def _adjusted_var(cov: np.ndarray, theta: np.ndarray, xi: slice) -> float:
    """Variance of ``y - theta' x`` from the covariance of (y, revenue, x...)."""
    return float(max(cov[0, 0] - 2 * theta @ cov[xi, 0] + theta @ cov[xi, xi] @ theta, 0.0))


def lift_table(
    moments: pd.DataFrame,
    k: int,
    *,
    binary: bool,
    alpha: float = 0.05,
    cost_per_contact: float = 0.0,
    fixed_cost: float = 0.0,
    value_per_conversion: float | None = None,
) -> pd.DataFrame:
    """Per-segment statistics from per-(segment, arm) sufficient statistics.

    Parameters
    ----------
    moments : DataFrame
        ``segment, arm, n, s_<v>, p_<v>_<w>`` for v, w in ``y, revenue, x0..x{k-1}``
        (sums and sums of products), as :func:`exposure_outcomes_sql` aggregated.
    k : int
        Number of CUPED covariates.
    binary : bool
        ``y`` is a 0/1 conversion (Newcombe interval) rather than a mean (Welch).

    Returns
    -------
    DataFrame
        ``segment, n_control, n_treatment, control, treatment, lift, lift_low,
        lift_high, rel_lift, rel_low, rel_high, p_value, q_value, lift_cuped,
        cuped_low, cuped_high, variance_reduction, incremental, incremental_low,
        incremental_high, incremental_revenue, incremental_revenue_low,
        incremental_revenue_high, cost, roi``.
    """
    rows = []
    total_treated = float(moments.loc[(moments.segment == ALL) & (moments.arm == "treatment"), "n"].sum())
    z = stats.norm.ppf(1 - alpha / 2)
    for seg, grp in moments.groupby("segment", sort=False):
        arms = {r["arm"]: r for _, r in grp.iterrows()}
        if "treatment" not in arms or "control" not in arms:
            n_t = float(arms["treatment"]["n"]) if "treatment" in arms else 0.0
            n_c = float(arms["control"]["n"]) if "control" in arms else 0.0
            rows.append({"segment": seg, "n_control": int(n_c), "n_treatment": int(n_t)})
            continue
        n_t, m_t, c_t = _arm_moments(arms["treatment"], k)
        n_c, m_c, c_c = _arm_moments(arms["control"], k)
        y_t, y_c, v_t, v_c = m_t[0], m_c[0], c_t[0, 0], c_c[0, 0]
        d = y_t - y_c
        if binary:
            x_t, x_c = y_t * n_t, y_c * n_c
            lo, hi = newcombe_interval(x_t, n_t, x_c, n_c, alpha=alpha)
            p = two_proportion_p_value(x_t, n_t, x_c, n_c)
            # the Bernoulli variance (ddof 0), as the intervals use
            v_t, v_c = y_t * (1 - y_t), y_c * (1 - y_c)
        else:
            lo, hi, p, _ = welch_interval(y_t, v_t, n_t, y_c, v_c, n_c, alpha=alpha)
        rel, rel_lo, rel_hi = log_ratio_interval(y_t, v_t, n_t, y_c, v_c, n_c, alpha=alpha)
        # CUPED: theta from the pooled within-arm covariance of (y, x)
        xi = slice(2, 2 + k)
        pooled = ((n_t - 1) * c_t + (n_c - 1) * c_c) / max(n_t + n_c - 2, 1)
        sxx, sxy = pooled[xi, xi], pooled[xi, 0]
        theta = np.linalg.lstsq(sxx, sxy, rcond=None)[0] if k else np.zeros(0)
        x_bar = (n_t * m_t[xi] + n_c * m_c[xi]) / (n_t + n_c)
        adj_t = y_t - theta @ (m_t[xi] - x_bar)
        adj_c = y_c - theta @ (m_c[xi] - x_bar)

        se_raw2 = c_t[0, 0] / n_t + c_c[0, 0] / n_c
        a_t, a_c = _adjusted_var(c_t, theta, xi) / n_t, _adjusted_var(c_c, theta, xi) / n_c
        se_cuped = math.sqrt(a_t + a_c)
        if min(n_t, n_c) < 2:  # no variance from a single client: no interval
            t_crit = float("nan")
        elif a_t + a_c > 0:
            df = (a_t + a_c) ** 2 / (a_t**2 / (n_t - 1) + a_c**2 / (n_c - 1))
            t_crit = float(stats.t.ppf(1 - alpha / 2, df))
        else:
            t_crit = float(z)
        d_cuped = adj_t - adj_c
        reduction = 1 - (a_t + a_c) / se_raw2 if se_raw2 > 0 else 0.0
        # revenue (Welch)
        r_lo, r_hi, _, _ = welch_interval(m_t[1], c_t[1, 1], n_t, m_c[1], c_c[1, 1], n_c, alpha=alpha)
        share = n_t / total_treated if total_treated else 0.0
        cost = n_t * cost_per_contact + fixed_cost * share
        value = d * n_t * value_per_conversion if value_per_conversion is not None else (m_t[1] - m_c[1]) * n_t
        rows.append(
            {
                "segment": seg,
                "n_control": int(n_c),
                "n_treatment": int(n_t),
                "control": y_c,
                "treatment": y_t,
                "lift": d,
                "lift_low": float(lo),
                "lift_high": float(hi),
                "rel_lift": float(rel),
                "rel_low": float(rel_lo),
                "rel_high": float(rel_hi),
                "p_value": float(p),
                "lift_cuped": d_cuped,
                "cuped_low": d_cuped - t_crit * se_cuped,
                "cuped_high": d_cuped + t_crit * se_cuped,
                "variance_reduction": reduction,
                "incremental": d * n_t,
                "incremental_low": float(lo) * n_t,
                "incremental_high": float(hi) * n_t,
                "incremental_revenue": (m_t[1] - m_c[1]) * n_t,
                "incremental_revenue_low": float(r_lo) * n_t,
                "incremental_revenue_high": float(r_hi) * n_t,
                "cost": cost,
                "roi": (value - cost) / cost if cost > 0 else float("nan"),
            }
        )
    frame = pd.DataFrame(rows)
    for col in ("p_value", "lift"):
        if col not in frame:
            frame[col] = np.nan
    segs = frame["segment"] != ALL
    frame["q_value"] = np.nan
    frame.loc[segs, "q_value"] = benjamini_hochberg(frame.loc[segs, "p_value"].to_numpy())
    frame.loc[~segs, "q_value"] = frame.loc[~segs, "p_value"]
    order = [ALL] + sorted(s for s in frame["segment"] if s != ALL)
    return frame.set_index("segment").loc[order].reset_index()


def analyze_campaign(
    wh: Warehouse,
    config: ExperimentsConfig,
    campaign: str,
    *,
    by: str | None = None,
    covariates: list[str] | tuple[str, ...] = (),
    alpha: float = 0.05,
) -> CampaignAnalysis:
    """Lift of ``campaign`` overall and per segment of ``by``.

    Parameters
    ----------
    wh : Warehouse
        Holds ``campaigns`` (exposures) and the outcome's entity.
    config : ExperimentsConfig
        The campaign's outcome, window, costs (defaults for an undeclared campaign:
        any purchase within 30 days).
    campaign : str
    by : str, optional
        A segmentation dimension (segments as of the last assignments before the
        first send date) or a column of ``clients``; None: overall only.
    covariates : list of str
        Features (from the last snapshot before the send date) added to the
        pre-period outcome as CUPED covariates.
    alpha : float
        1 - confidence level of the intervals.

    Examples
    --------
    >>> result = analyze_campaign(wh, cfg.experiments, "spring_saver", by="value")  # doctest: +SKIP
    >>> result.lifts[["segment", "lift", "lift_low", "lift_high", "q_value"]]  # doctest: +SKIP
    """
    if not 0 < alpha < 1:
        raise ConfigError(f"alpha: expected a level between 0 and 1, got {alpha!r}")
    c = campaign_config(config, campaign)
    sql, names, notes = exposure_outcomes_sql(wh, config, campaign, by=by, covariates=covariates)
    moments = wh.con.execute(_moments_sql(sql, len(names))).df()
    binary = c.outcome.metric in BINARY_METRICS
    lifts = lift_table(
        moments,
        len(names),
        binary=binary,
        alpha=alpha,
        cost_per_contact=c.cost_per_contact,
        fixed_cost=c.fixed_cost,
        value_per_conversion=c.value_per_conversion,
    )
    if campaign in config.campaigns:  # randomisation check: counts and pre-period features
        notes.extend(balance_check(wh, config, campaign).warnings)
    small = lifts[(lifts["segment"] != ALL) & ((lifts["n_control"] < 30) | (lifts["n_treatment"] < 30))]
    for seg in small["segment"]:
        notes.append(f"segment {seg!r}: fewer than 30 clients in an arm; its interval is rough")
    return CampaignAnalysis(campaign, by, c.outcome.metric, binary, lifts, names, notes)


def release_lifts(lifts: pd.DataFrame, min_cell: int) -> pd.DataFrame:
    """A lift table as it leaves the warehouse.

    The arms' counts per segment are a cross-tab (segment x arm) whose column totals are
    the ``(all)`` row: counts below ``min_cell`` are suppressed with complements
    (:func:`segmint.disclosure.suppress`), the per-segment totals taking part as implied
    counts. Every value of a row with a suppressed count (rates, lift, intervals,
    incremental, ROI) is withheld. Adds a boolean column ``suppressed``.
    """
    from segmint.disclosure import Release, suppress

    out = lifts.copy()
    out["suppressed"] = False
    if out.empty:
        return out
    rel = Release()
    segs = [s for s in out["segment"] if s != ALL]
    n = {(r.segment, arm): int(getattr(r, f"n_{arm}")) for r in out.itertuples(index=False)
         for arm in ("control", "treatment")}
    for arm in ("control", "treatment"):
        parts = [rel.count((s, arm), n[(s, arm)]) for s in segs]
        if (ALL, arm) in n:
            rel.count((ALL, arm), n[(ALL, arm)], priority=2)
            # clients of the campaign without a segment (no assignment as of the send)
            rest = rel.count(("rest", arm), max(n[(ALL, arm)] - sum(n[(s, arm)] for s in segs), 0),
                             published=False)
            rel.sum((ALL, arm), [*parts, rest])
    for s in segs:
        rel.count(("segment", s), n[(s, "control")] + n[(s, "treatment")], published=False)
        rel.sum(("segment", s), [(s, "control"), (s, "treatment")])
    status = suppress(rel, min_cell)
    values = [c for c in out.columns if c not in ("segment", "n_control", "n_treatment", "suppressed")]
    out = out.astype({"n_control": "Int64", "n_treatment": "Int64"})
    for i, seg in enumerate(out["segment"]):
        hidden = [arm for arm in ("control", "treatment") if status.get((seg, arm))]
        if not hidden:
            continue
        for arm in hidden:
            out.loc[out.index[i], f"n_{arm}"] = pd.NA
        out.loc[out.index[i], values] = np.nan
        out.loc[out.index[i], "suppressed"] = True
    return out


def segment_sizes(
    wh: Warehouse,
    config: ExperimentsConfig,
    *,
    by: str | None = None,
    campaign: str | None = None,
) -> pd.DataFrame:
    """``segment, clients`` (and ``baseline`` from a past campaign's control arm) for planning.

    Parameters
    ----------
    by : str, optional
        Dimension whose latest segments are counted; None: all clients as one segment.
    campaign : str, optional
        A past campaign with a conversion outcome: each segment's control conversion
        becomes its baseline.
    """
    if by is None:
        wh.require("clients", hint="run `segmint ingest` first")
        n = wh.con.execute("SELECT count(*) FROM clients").fetchone()[0]
        sizes = pd.DataFrame({"segment": [ALL], "clients": [int(n)]})
    else:
        wh.require("segment_assignments", hint="run `segmint segment` first")
        sizes = wh.con.execute(
            "SELECT segment_name AS segment, count(*) AS clients FROM segment_assignments "
            "WHERE dimension = ? AND as_of = (SELECT max(as_of) FROM segment_assignments "
            "WHERE dimension = ?) GROUP BY 1 ORDER BY 1",
            [by, by],
        ).df()
        if sizes.empty:
            raise WarehouseError(f"segment_assignments: no segments of dimension {by!r}")
    if campaign is not None:
        res = analyze_campaign(wh, config, campaign, by=by)
        if not res.binary:
            raise ConfigError(
                f"--campaign {campaign!r}: its outcome {res.metric!r} is not a conversion; "
                "give --sd for mean outcomes"
            )
        base = res.lifts.set_index("segment")["control"]
        sizes["baseline"] = sizes["segment"].map(base).astype(float)
    return sizes

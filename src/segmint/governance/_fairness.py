"""Fairness audit: how protected groups distribute over segments (and audiences,
propensity deciles, next-best offers), and which model inputs stand in for a
protected attribute.

The group counts are one grouped DuckDB query per selection source; the metrics are
Fairlearn's (:class:`fairlearn.metrics.MetricFrame` over the (group, selected) cells,
weighted by their counts, so no client row reaches Python). Per selection (a segment,
an audience, a decile) and protected attribute:

- ``selection_rate`` of each group: the share of the group's clients selected;
- ``disparate_impact``: the lowest group's selection rate over the highest's
  (``MetricFrame.ratio()``); the four-fifths rule flags values below 0.8;
- ``parity_difference``: highest minus lowest selection rate (``MetricFrame.difference()``);
- ``p_value`` of a chi-square test of independence of selection and group. A selection is
  flagged only when this rejects independence at ``alpha`` *and* the ratio (or difference)
  breaks its threshold: a 40-client group's rate moves by chance more than the four-fifths
  rule allows, and an audit that flags noise is not read.

Groups smaller than ``min_group`` are reported but left out of the ratios.

Proxy detection fits, per dimension and attribute, a gradient-boosted classifier
predicting the attribute from the dimension's inputs (3-fold cross-validated AUC;
macro one-vs-rest for more than two groups) on a sample, and scores each input's
mutual information with the attribute (scikit-learn's nearest-neighbour estimator),
normalised by the attribute's entropy.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from segmint.config._governance import FairnessConfig
from segmint.errors import ConfigError, WarehouseError
from segmint.store import Warehouse

AUDITS = "fairness_audits"
GROUPS = "_governance_groups"
UNKNOWN = "unknown"

_NUMERIC = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "FLOAT", "DOUBLE", "REAL",
            "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT")

_AUDITS_DDL = f"""
CREATE TABLE IF NOT EXISTS {AUDITS} (
    audit_id VARCHAR NOT NULL,
    as_of DATE NOT NULL,
    created_at TIMESTAMP NOT NULL,
    breaches INTEGER NOT NULL,
    result JSON NOT NULL
)
"""

# selection sources written by later-built stages: (source, candidate tables,
# selection-name column candidates, selection column candidates). Their tables are
# read by column name, so an absent table (or one of another shape) is skipped with a note.
_TARGETING_SOURCES = (
    ("audience", ("audience_members", "audiences"), ("audience", "audience_id", "name"), None),
    ("next_best_offer", ("next_best_offers", "nbo", "offers"), None, ("offer", "offer_id", "action")),
)
_SCORE_TABLES = ("scores", "propensity_scores")


def q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@dataclass
class FairnessAudit:
    """The result of :func:`audit_fairness`.

    Attributes
    ----------
    as_of : date
    attributes : dict of attribute -> how it was grouped
    groups : DataFrame (attribute, group, clients, share): the population
    selections : DataFrame, one row per (source, name, selection, attribute, group):
        clients, selected, selection_rate, group_share (of the selection),
        population_share
    disparity : DataFrame, one row per (source, name, selection, attribute):
        selected, disparate_impact, parity_difference, p_value, lowest_group,
        highest_group, flagged
    outcomes : DataFrame, one row per (source, name, attribute) where outcomes are known:
        tpr_difference, calibration_difference, flagged_tpr, flagged_calibration
    proxies : DataFrame (dimension, attribute, auc, clients, flagged)
    mutual_information : DataFrame (dimension, feature, attribute, mi, normalised_mi, flagged)
    notes : list of str (sources skipped and why)
    """

    as_of: dt.date
    attributes: dict[str, str]
    groups: pd.DataFrame
    selections: pd.DataFrame
    disparity: pd.DataFrame
    outcomes: pd.DataFrame
    proxies: pd.DataFrame
    mutual_information: pd.DataFrame
    notes: list[str] = field(default_factory=list)
    fail_on: tuple[str, ...] = ("disparity", "proxy")

    def findings(self) -> list[str]:
        """One line per flagged finding (all kinds, whether or not they fail the audit)."""
        out = []
        for r in self.disparity[self.disparity.flagged].itertuples():
            out.append(
                f"disparity: {r.source} {r.name} / {r.selection} by {r.attribute}: "
                f"disparate impact {r.disparate_impact:.2f} ({r.lowest_group} vs {r.highest_group}), "
                f"parity difference {r.parity_difference:.2f}, p={r.p_value:.1e}"
            )
        for r in self.proxies[self.proxies.flagged].itertuples():
            out.append(f"proxy: the inputs of {r.dimension} predict {r.attribute} with AUC {r.auc:.2f}")
        for r in self.mutual_information[self.mutual_information.flagged].itertuples():
            out.append(
                f"proxy: feature {r.feature} ({r.dimension}) carries {r.normalised_mi:.0%} of "
                f"{r.attribute}'s entropy"
            )
        for r in self.outcomes.itertuples():
            if r.flagged_tpr:
                out.append(f"tpr: {r.source} {r.name} by {r.attribute}: TPR difference {r.tpr_difference:.2f}")
            if r.flagged_calibration:
                out.append(
                    f"calibration: {r.source} {r.name} by {r.attribute}: calibration difference "
                    f"{r.calibration_difference:.2f}"
                )
        return out

    def breaches(self) -> list[str]:
        """The findings the policy (``governance.fairness.fail_on``) fails on."""
        return [f for f in self.findings() if f.split(":", 1)[0] in self.fail_on]

    @property
    def passed(self) -> bool:
        return not self.breaches()

    def to_dict(self) -> dict[str, Any]:
        def rows(df: pd.DataFrame) -> list[dict[str, Any]]:
            return json.loads(df.to_json(orient="records", date_format="iso"))

        return {
            "as_of": self.as_of.isoformat(),
            "passed": self.passed,
            "breaches": self.breaches(),
            "findings": self.findings(),
            "attributes": self.attributes,
            "notes": self.notes,
            "groups": rows(self.groups),
            "disparity": rows(self.disparity),
            "selections": rows(self.selections),
            "outcomes": rows(self.outcomes),
            "proxies": rows(self.proxies),
            "mutual_information": rows(self.mutual_information),
        }


def _fairlearn(*names: str):
    """Names from ``fairlearn.metrics`` (an optional dependency: ``segmint[governance]``)."""
    try:
        import fairlearn.metrics as fm
    except ImportError:
        from segmint.errors import MissingDependencyError

        raise MissingDependencyError("fairlearn", "governance") from None
    return tuple(getattr(fm, n) for n in names)


# -- protected groups -----------------------------------------------------------------


def protected_attributes(wh: Warehouse, config: FairnessConfig) -> dict[str, str]:
    """Attribute -> table it is read from (``clients`` or ``features``)."""
    from segmint.segmentation import protected_features
    from segmint.sources import protected_columns

    clients = _columns(wh, "clients")
    features = _columns(wh, "features")
    if config.attributes is not None:
        out = {}
        for a in config.attributes:
            if a in clients:
                out[a] = "clients"
            elif a in features:
                out[a] = "features"
            else:
                raise ConfigError(
                    f"governance.fairness.attributes: {a!r} is neither a column of clients nor a "
                    "feature"
                )
        return out
    from segmint.sources import protected_attribute_features

    out = {c: "clients" for c in sorted(protected_columns()) if c in clients}
    # declared protected attributes (attr_<name>, role protected) are audited as features,
    # unless they only restate a clients column already audited (attr_gender <- gender)
    restated = {f for f, col in protected_attribute_features(wh).items() if col in out}
    for f in sorted(protected_features(wh.con)):
        if f in features and f not in out and f not in restated:
            out[f] = "features"
    # filled in somewhere: an attribute never recorded has no groups to compare
    return {
        a: t for a, t in out.items()
        if wh.con.execute(f"SELECT count({q(a)}) FROM {t}").fetchone()[0]  # type: ignore[index]
    }


def _columns(wh: Warehouse, table: str) -> dict[str, str]:
    if not wh.has_table(table):
        return {}
    return {r[0]: r[1] for r in wh.con.execute(f"DESCRIBE {table}").fetchall()}


def stage_groups(
    wh: Warehouse, config: FairnessConfig, as_of: dt.date
) -> dict[str, str]:
    """Write the temp table ``_governance_groups`` (client_id, one column per attribute
    holding the client's group label) and return attribute -> how it was grouped."""
    attrs = protected_attributes(wh, config)
    con = wh.con
    clients = _columns(wh, "clients")
    features = _columns(wh, "features")
    if not attrs:
        con.execute(f"CREATE OR REPLACE TEMP TABLE {GROUPS} AS SELECT client_id FROM clients")
        return {}
    exprs, how = [], {}
    for a, table in attrs.items():
        src = f"{'c' if table == 'clients' else 'f'}.{q(a)}"
        dtype = (clients if table == "clients" else features)[a]
        if a == "birth_year":
            age = f"(year(DATE '{as_of.isoformat()}') - {src})"
            edges = config.age_bands
            whens = [f"WHEN {age} < {edges[0]} THEN '<{edges[0]}'"]
            whens += [
                f"WHEN {age} < {hi} THEN '{lo}-{hi - 1}'" for lo, hi in zip(edges, edges[1:], strict=False)
            ]
            exprs.append(
                f"CASE WHEN {src} IS NULL THEN '{UNKNOWN}' {' '.join(whens)} "
                f"ELSE '{edges[-1]}+' END AS {q(a)}"
            )
            how[a] = "age band at as_of: " + ", ".join(map(str, edges))
        elif dtype.upper() in _NUMERIC and _distinct(con, table, a) > 10:
            cuts = [
                float(x)
                for x in con.execute(
                    f"SELECT quantile_cont({q(a)}, ?) FROM {table}",
                    [[i / config.numeric_bins for i in range(1, config.numeric_bins)]],
                ).fetchone()[0]  # type: ignore[index]
            ]
            cuts = sorted(set(cuts))
            whens = [f"WHEN {src} < {c!r} THEN 'q{i + 1} (<{c:g})'" for i, c in enumerate(cuts)]
            exprs.append(
                f"CASE WHEN {src} IS NULL THEN '{UNKNOWN}' {' '.join(whens)} "
                f"ELSE 'q{len(cuts) + 1} (>={cuts[-1]:g})' END AS {q(a)}"
            )
            how[a] = f"{len(cuts) + 1} quantile bands"
        else:
            exprs.append(f"coalesce({src}::VARCHAR, '{UNKNOWN}') AS {q(a)}")
            how[a] = "as recorded"
    join = ""
    if "features" in attrs.values():
        join = (
            f"LEFT JOIN (SELECT * FROM features WHERE as_of = DATE '{as_of.isoformat()}') f "
            "USING (client_id)"
        )
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {GROUPS} AS SELECT c.client_id, {', '.join(exprs)} "
        f"FROM clients c {join}"
    )
    return how


def _distinct(con, table: str, column: str) -> int:
    return int(con.execute(f"SELECT count(DISTINCT {q(column)}) FROM {table}").fetchone()[0])  # type: ignore[index]


# -- disparity ---------------------------------------------------------------------------


def selection_metrics(
    groups: np.ndarray,
    selected: np.ndarray,
    totals: np.ndarray,
) -> tuple[pd.DataFrame, float, float]:
    """Fairlearn's selection rate by group, disparate-impact ratio and parity difference
    from counts.

    Parameters
    ----------
    groups : array of group labels
    selected, totals : arrays of counts (clients of the group selected; all of the group's)

    Returns
    -------
    (by_group, disparate_impact, parity_difference)
        ``by_group`` has one row per group with ``selection_rate``.

    Examples
    --------
    >>> by, di, spd = selection_metrics(np.array(["a", "b"]), np.array([10, 30]), np.array([100, 100]))
    >>> round(di, 3), round(spd, 3)
    (0.333, 0.2)
    """
    MetricFrame, selection_rate = _fairlearn("MetricFrame", "selection_rate")

    n = len(groups)
    y = np.r_[np.ones(n, dtype=int), np.zeros(n, dtype=int)]
    weights = np.r_[selected, totals - selected].astype(float)
    keep = weights > 0
    mf = MetricFrame(
        metrics={"selection_rate": selection_rate},
        y_true=y[keep],
        y_pred=y[keep],
        sensitive_features=np.r_[groups, groups][keep],
        sample_params={"selection_rate": {"sample_weight": weights[keep]}},
    )
    by = mf.by_group.reset_index()
    by.columns = ["group", "selection_rate"]
    return by, float(mf.ratio().iloc[0]), float(mf.difference().iloc[0])


def _chi2_p(selected: np.ndarray, totals: np.ndarray) -> float:
    from scipy.stats import chi2_contingency

    table = np.vstack([selected, totals - selected])
    if (table.sum(axis=1) == 0).any() or len(selected) < 2:
        return 1.0
    return float(chi2_contingency(table, correction=False).pvalue)


def _disparity(
    cells: pd.DataFrame, config: FairnessConfig, attributes: list[str]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """From counts (source, name, selection, attribute, group, selected, clients): the
    per-group and per-selection tables."""
    per_group, summary = [], []
    for (source, name, attr), block in cells.groupby(["source", "name", "attribute"], sort=False):
        totals = block.groupby("group").clients.first()
        population = totals.sum()
        for selection, sel in block.groupby("selection", sort=False):
            sel = sel.set_index("group").reindex(totals.index)
            chosen = sel.selected.fillna(0).to_numpy(dtype=float)
            tot = totals.to_numpy(dtype=float)
            n_sel = chosen.sum()
            g = pd.DataFrame({
                "source": source, "name": name, "selection": selection, "attribute": attr,
                "group": totals.index, "clients": tot.astype(int), "selected": chosen.astype(int),
                "selection_rate": chosen / np.where(tot > 0, tot, np.nan),
                "group_share": chosen / n_sel if n_sel else np.nan,
                "population_share": tot / population,
            })
            per_group.append(g)
            eligible = (tot >= config.min_group) & (totals.index != UNKNOWN)
            row = {"source": source, "name": name, "selection": selection, "attribute": attr,
                   "selected": int(n_sel), "disparate_impact": np.nan, "parity_difference": np.nan,
                   "p_value": np.nan, "lowest_group": None, "highest_group": None, "flagged": False}
            if eligible.sum() >= 2 and n_sel > 0:
                by, di, spd = selection_metrics(
                    totals.index[eligible].to_numpy(), chosen[eligible], tot[eligible]
                )
                p = _chi2_p(chosen[eligible], tot[eligible])
                rates = by.set_index("group").selection_rate
                row.update(
                    disparate_impact=di, parity_difference=spd, p_value=p,
                    lowest_group=str(rates.idxmin()), highest_group=str(rates.idxmax()),
                    flagged=bool(
                        p < config.alpha
                        and (di < config.disparate_impact or spd > config.parity_difference)
                    ),
                )
            summary.append(row)
    groups_cols = ["source", "name", "selection", "attribute", "group", "clients", "selected",
                   "selection_rate", "group_share", "population_share"]
    disp_cols = ["source", "name", "selection", "attribute", "selected", "disparate_impact",
                 "parity_difference", "p_value", "lowest_group", "highest_group", "flagged"]
    return (
        pd.concat(per_group, ignore_index=True) if per_group else pd.DataFrame(columns=groups_cols),
        pd.DataFrame(summary, columns=disp_cols),
    )


def _cells(con, query: str, attrs: list[str]) -> pd.DataFrame:
    """Counts per (source, name, selection, attribute, group) of a selection query with
    columns (source, name, selection, client_id): ``selected`` (clients of the group in
    the selection) and ``clients`` (clients of the group in the selection source's
    population), every group of the population present in every selection."""
    frames = []
    con.execute(f"CREATE OR REPLACE TEMP TABLE _governance_sel AS {query}")
    try:
        for a in attrs:
            sel = con.execute(
                f'''SELECT s.source, s.name, s.selection, g.{q(a)} AS "group", count(*) AS selected
                FROM _governance_sel s JOIN {GROUPS} g USING (client_id) GROUP BY ALL'''
            ).df()
            pop = con.execute(
                f'''SELECT p.source, p.name, g.{q(a)} AS "group", count(*) AS clients
                FROM (SELECT DISTINCT source, name, client_id FROM _governance_sel) p
                JOIN {GROUPS} g USING (client_id) GROUP BY ALL'''
            ).df()
            names = sel[["source", "name", "selection"]].drop_duplicates()
            full = names.merge(pop, on=["source", "name"])
            full = full.merge(sel, on=["source", "name", "selection", "group"], how="left")
            full["selected"] = full.selected.fillna(0).astype("int64")
            full.insert(3, "attribute", a)
            frames.append(full)
    finally:
        con.execute("DROP TABLE IF EXISTS _governance_sel")
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _table_with(wh: Warehouse, candidates: tuple[str, ...], *needed: tuple[str, ...] | None):
    """The first existing candidate table, and the first present column of each need."""
    for t in candidates:
        cols = _columns(wh, t)
        if not cols or "client_id" not in cols:
            continue
        picked = []
        for options in needed:
            if options is None:
                picked.append(None)
                continue
            hit = next((c for c in options if c in cols), None)
            if hit is None:
                break
            picked.append(hit)
        else:
            return t, picked, cols
    return None, [], {}


def _selection_queries(wh: Warehouse, as_of: dt.date, notes: list[str]) -> list[str]:
    """SQL selections (source, name, selection, client_id) present in the warehouse."""
    day = f"DATE '{as_of.isoformat()}'"
    out = [
        "SELECT 'segment' AS source, dimension AS name, segment_id::VARCHAR AS selection, client_id "
        f"FROM segment_assignments WHERE as_of = {day}"
    ]
    for source, tables, name_cols, sel_cols in _TARGETING_SOURCES:
        t, picked, cols = _table_with(wh, tables, name_cols, sel_cols)
        if t is None:
            notes.append(f"{source}: no table ({' / '.join(tables)}) with client_id; skipped")
            continue
        name = f"{q(picked[0])}::VARCHAR" if picked[0] else f"'{t}'"
        where = f"WHERE as_of = (SELECT max(as_of) FROM {t} WHERE as_of <= {day})" if "as_of" in cols else ""
        if picked[1] is None:
            # membership: an audience is selected out of every client
            out.append(
                f"SELECT '{source}' AS source, n.name, CASE WHEN m.client_id IS NULL "
                "THEN 'not_member' ELSE 'member' END AS selection, c.client_id "
                f"FROM clients c CROSS JOIN (SELECT DISTINCT {name} AS name FROM {t} {where}) n "
                f"LEFT JOIN (SELECT DISTINCT {name} AS name, client_id FROM {t} {where}) m "
                "ON m.name = n.name AND m.client_id = c.client_id"
            )
        else:
            out.append(
                f"SELECT '{source}' AS source, {name} AS name, {q(picked[1])}::VARCHAR AS selection, "
                f"client_id FROM {t} {where}"
            )
    t, picked, cols = _score_table(wh)
    if t is None:
        notes.append(f"propensity: no table ({' / '.join(_SCORE_TABLES)}) with client_id and score; skipped")
    else:
        model, score = picked
        where = f"WHERE as_of = (SELECT max(as_of) FROM {t} WHERE as_of <= {day})" if "as_of" in cols else ""
        name = f"{q(model)}::VARCHAR" if model else f"'{t}'"
        part = f"PARTITION BY {q(model)}" if model else ""
        out.append(
            f"SELECT 'propensity_decile' AS source, {name} AS name, "
            f"'d' || lpad((11 - ntile(10) OVER ({part} ORDER BY {q(score)} DESC))::VARCHAR, 2, '0') "
            f"AS selection, client_id FROM {t} {where}"
        )
    return out


def _score_table(wh: Warehouse):
    return _table_with(wh, _SCORE_TABLES, ("model", "model_name", "target", "label"), ("score", "probability", "propensity"))


# -- outcomes: TPR and calibration -----------------------------------------------------------


def outcome_metrics(
    frame: pd.DataFrame, *, min_group: int = 1
) -> tuple[pd.DataFrame, float, float]:
    """True-positive rate and calibration gap by group (Fairlearn's ``MetricFrame``).

    Parameters
    ----------
    frame : DataFrame with columns group, y_true (0/1), y_pred (0/1), score (probability)

    Returns
    -------
    (by_group, tpr_difference, calibration_difference)
        ``by_group``: group, clients, tpr, mean_score, observed_rate, calibration_gap
        (mean_score - observed_rate); the differences are max - min over groups with at
        least ``min_group`` clients.
    """
    MetricFrame, count, true_positive_rate = _fairlearn(
        "MetricFrame", "count", "true_positive_rate"
    )

    frame = frame[frame.group.map(frame.group.value_counts()) >= min_group]
    if frame.group.nunique() < 2:
        return pd.DataFrame(), float("nan"), float("nan")

    def mean_score(y_true, y_pred, score):
        return float(np.mean(score))

    def observed(y_true, y_pred):
        return float(np.mean(y_true))

    def gap(y_true, y_pred, score):
        return float(np.mean(score) - np.mean(y_true))

    mf = MetricFrame(
        metrics={"clients": count, "tpr": true_positive_rate, "mean_score": mean_score,
                 "observed_rate": observed, "calibration_gap": gap},
        y_true=frame.y_true.to_numpy(),
        y_pred=frame.y_pred.to_numpy(),
        sensitive_features=frame.group.to_numpy(),
        sample_params={"mean_score": {"score": frame.score.to_numpy()},
                       "calibration_gap": {"score": frame.score.to_numpy()}},
    )
    by = mf.by_group.reset_index().rename(columns={"sensitive_feature_0": "group"})
    diff = mf.difference()
    return by, float(diff["tpr"]), float(diff["calibration_gap"])


def _outcomes(wh: Warehouse, config: FairnessConfig, attrs: list[str], as_of: dt.date, notes: list[str]):
    cols = ["source", "name", "attribute", "clients", "tpr_difference", "calibration_difference",
            "flagged_tpr", "flagged_calibration"]
    t, picked, tcols = _score_table(wh)
    if t is None or not wh.has_table("labels") or not attrs:
        if t is not None:
            notes.append("outcomes: no labels table; TPR and calibration skipped")
        return pd.DataFrame(columns=cols)
    model, score = picked
    labels = {r[0] for r in wh.con.execute("SELECT DISTINCT label FROM labels").fetchall()}
    names = (
        [r[0] for r in wh.con.execute(f"SELECT DISTINCT {q(model)}::VARCHAR FROM {t}").fetchall()]
        if model else [t]
    )
    day = f"DATE '{as_of.isoformat()}'"
    where = f"AND s.as_of = (SELECT max(as_of) FROM {t} WHERE as_of <= {day})" if "as_of" in tcols else ""
    rows = []
    for name in names:
        if name not in labels:
            notes.append(f"outcomes: propensity model {name!r} has no label of that name; skipped")
            continue
        model_filter = f"AND s.{q(model)}::VARCHAR = ?" if model else ""
        frame = wh.con.execute(
            f"""
            WITH s AS (SELECT s.client_id, s.{q(score)} AS score,
                              ntile(10) OVER (ORDER BY s.{q(score)} DESC) = 1 AS top
                       FROM {t} s WHERE true {model_filter} {where}),
            y AS (SELECT client_id, arg_max(value, observed_at) AS y FROM labels
                  WHERE label = ? GROUP BY client_id)
            SELECT g.*, s.score, s.top::INTEGER AS y_pred, (y.y > 0)::INTEGER AS y_true
            FROM s JOIN y USING (client_id) JOIN {GROUPS} g USING (client_id)
            """,
            ([name] if model else []) + [name],
        ).df()
        for a in attrs:
            f = frame.rename(columns={a: "group"})[["group", "y_true", "y_pred", "score"]]
            f = f[f.group != UNKNOWN]
            _, tpr, cal = outcome_metrics(f, min_group=config.min_group)
            rows.append({
                "source": "propensity", "name": name, "attribute": a, "clients": len(f),
                "tpr_difference": tpr, "calibration_difference": cal,
                "flagged_tpr": bool(tpr > config.tpr_difference),
                "flagged_calibration": bool(abs(cal) > config.calibration_difference),
            })
    return pd.DataFrame(rows, columns=cols)


# -- proxies ---------------------------------------------------------------------------------


def proxy_scores(
    X: pd.DataFrame, y: np.ndarray, *, seed: int = 0
) -> tuple[float, pd.DataFrame]:
    """Cross-validated AUC of predicting ``y`` from ``X``, and each column's mutual
    information with ``y`` (nats, column ``mi``) and over ``y``'s entropy
    (``normalised_mi``, in [0, 1]).

    A gradient-boosted classifier (scikit-learn's ``HistGradientBoostingClassifier``,
    which takes missing values) with 3-fold stratified cross-validation; for more than
    two classes the AUC is the macro one-vs-rest average.
    """
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.feature_selection import mutual_info_classif
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    classes, y_codes = np.unique(y, return_inverse=True)
    X = X.copy()
    for c in X.columns:
        if not pd.api.types.is_numeric_dtype(X[c]):
            X[c] = pd.Categorical(X[c]).codes.astype(float)
    X = X.astype(float)
    clf = HistGradientBoostingClassifier(
        max_iter=30, max_depth=3, learning_rate=0.2, random_state=seed
    )
    cv = StratifiedKFold(n_splits=3, shuffle=True, random_state=seed)
    from threadpoolctl import threadpool_limits

    # one thread: on a sample of 20k clients OpenMP's spin-waiting costs more than it
    # gains, badly so on a busy machine (15 min instead of 20 s measured at load 10)
    with threadpool_limits(1):
        proba = cross_val_predict(clf, X.to_numpy(), y_codes, cv=cv, method="predict_proba")
    if len(classes) == 2:
        auc = float(roc_auc_score(y_codes, proba[:, 1]))
    else:
        auc = float(roc_auc_score(y_codes, proba, multi_class="ovr", average="macro"))
    filled = X.fillna(X.median()).fillna(0.0).to_numpy()
    mi = mutual_info_classif(filled, y_codes, random_state=seed)
    p = np.bincount(y_codes) / len(y_codes)
    entropy = float(-(p[p > 0] * np.log(p[p > 0])).sum())
    normalised = np.clip(mi / entropy, 0, 1) if entropy > 0 else 0.0 * mi
    return auc, pd.DataFrame({"mi": mi, "normalised_mi": normalised}, index=X.columns)


def _proxies(wh: Warehouse, config: FairnessConfig, attrs: list[str], as_of: dt.date):
    pcols = ["dimension", "attribute", "auc", "clients", "flagged"]
    mcols = ["dimension", "feature", "attribute", "mi", "normalised_mi", "flagged"]
    if not attrs or not wh.has_table("segment_models"):
        return pd.DataFrame(columns=pcols), pd.DataFrame(columns=mcols)
    con = wh.con
    dims = con.execute(
        "SELECT DISTINCT a.dimension, a.model_version FROM segment_assignments a "
        "WHERE a.as_of = ? ORDER BY 1", [as_of]
    ).fetchall()
    inputs: dict[str, list[str]] = {}
    fcols = _columns(wh, "features")
    for dim, version in dims:
        row = con.execute(
            "SELECT params->>'$.features' FROM segment_models WHERE dimension = ? AND version::VARCHAR = ?",
            [dim, str(version)],
        ).fetchone()
        if row and row[0]:
            feats = [f for f in json.loads(row[0]) if f in fcols and f not in attrs]
            if feats:
                inputs[dim] = feats
    if not inputs:
        return pd.DataFrame(columns=pcols), pd.DataFrame(columns=mcols)
    needed = sorted({f for fs in inputs.values() for f in fs})
    sample = con.execute(
        f"SELECT {', '.join('f.' + q(c) for c in needed)}, {', '.join('g.' + q(a) for a in attrs)} "
        f"FROM features f JOIN {GROUPS} g USING (client_id) WHERE f.as_of = ? "
        f"ORDER BY hash(f.client_id) LIMIT {int(config.sample_size)}",
        [as_of],
    ).df()
    # the attribute columns may share a name with nothing in `needed` (they are excluded)
    prows, mrows = [], []
    for a in attrs:
        y = sample[a].astype(str)
        counts = y.value_counts()
        keep = y.isin(counts[(counts >= max(config.min_group, 3)) & (counts.index != UNKNOWN)].index)
        if keep.sum() < 2 * config.min_group or y[keep].nunique() < 2:
            continue
        for dim, feats in inputs.items():
            auc, mi = proxy_scores(sample.loc[keep, feats], y[keep].to_numpy())
            prows.append({"dimension": dim, "attribute": a, "auc": auc, "clients": int(keep.sum()),
                          "flagged": bool(auc >= config.proxy_auc)})
            for feat, v in mi.iterrows():
                mrows.append({"dimension": dim, "feature": feat, "attribute": a,
                              "mi": float(v.mi), "normalised_mi": float(v.normalised_mi),
                              "flagged": bool(v.normalised_mi >= config.proxy_mi)})
    return pd.DataFrame(prows, columns=pcols), pd.DataFrame(mrows, columns=mcols)


# -- the audit -------------------------------------------------------------------------------


def audit_fairness(
    wh: Warehouse,
    config: FairnessConfig | None = None,
    *,
    as_of: dt.date | None = None,
    store: bool = True,
) -> FairnessAudit:
    """Audit every selection (segments, and audiences, propensity deciles and next-best
    offers when their tables exist) against every protected attribute, and every
    dimension's inputs for proxies.

    Parameters
    ----------
    wh : Warehouse
        Holds ``clients``, ``features`` and ``segment_assignments``.
    config : FairnessConfig, optional
        ``governance.fairness`` of the project file (defaults when omitted).
    as_of : date, optional
        Assignments of this date (default: the latest).
    store : bool
        Record the result in the table ``fairness_audits``.
    """
    config = config or FairnessConfig()
    wh.require("clients", "segment_assignments", hint="run `segmint run` first")
    if as_of is None:
        as_of = wh.con.execute("SELECT max(as_of) FROM segment_assignments").fetchone()[0]  # type: ignore[index]
        if as_of is None:
            raise WarehouseError("segment_assignments is empty; run `segmint segment` first")
    notes: list[str] = []
    how = stage_groups(wh, config, as_of)
    attrs = list(how)
    if not attrs:
        notes.append("no protected attribute is recorded in clients or features; nothing to audit")
    con = wh.con
    group_rows = []
    for a in attrs:
        df = con.execute(
            f'SELECT {q(a)} AS "group", count(*) AS clients FROM {GROUPS} GROUP BY 1 ORDER BY 1'
        ).df()
        df.insert(0, "attribute", a)
        df["share"] = df.clients / df.clients.sum()
        group_rows.append(df)
    groups = (pd.concat(group_rows, ignore_index=True) if group_rows
              else pd.DataFrame(columns=["attribute", "group", "clients", "share"]))
    queries = _selection_queries(wh, as_of, notes)
    cells = _cells(con, " UNION ALL ".join(queries), attrs) if attrs else pd.DataFrame()
    if cells.empty:
        selections, disparity = _disparity(
            pd.DataFrame(columns=["source", "name", "selection", "attribute", "group", "selected",
                                  "clients"]), config, attrs)
    else:
        selections, disparity = _disparity(cells, config, attrs)
    outcomes = _outcomes(wh, config, attrs, as_of, notes)
    proxies, mi = _proxies(wh, config, attrs, as_of)
    con.execute(f"DROP TABLE IF EXISTS {GROUPS}")
    audit = FairnessAudit(
        as_of, how, groups, selections, disparity, outcomes, proxies, mi, notes,
        tuple(config.fail_on),
    )
    if store:
        import uuid

        with wh.transaction() as tx:
            tx.execute(_AUDITS_DDL)
            tx.execute(
                f"INSERT INTO {AUDITS} VALUES (?, ?, now()::TIMESTAMP, ?, ?)",
                [uuid.uuid4().hex[:12], as_of, len(audit.breaches()),
                 json.dumps(_finite(audit.to_dict()))],
            )
    return audit


def _finite(x: Any) -> Any:
    if isinstance(x, dict):
        return {k: _finite(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_finite(v) for v in x]
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def latest_audit(wh: Warehouse) -> dict[str, Any] | None:
    """The last stored audit (as :meth:`FairnessAudit.to_dict`), or None."""
    if not wh.has_table(AUDITS):
        return None
    row = wh.con.execute(f"SELECT result FROM {AUDITS} ORDER BY created_at DESC LIMIT 1").fetchone()
    return json.loads(row[0]) if row else None

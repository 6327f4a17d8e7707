"""A synthetic warehouse holding the catalog's inputs, for tests and demos.

``example_warehouse`` writes the tables the catalog reads -- ``features``,
``segment_assignments``, ``segment_models`` and ``quarantine`` -- with a few
thousand clients drawn from five well-separated behaviour clusters with skewed
(log-normal, gamma) features, a rule-defined ``value`` dimension (CLV tiers)
and a rule-defined ``rfm`` dimension (on R and F scores). It follows the
contracts of the features and segmentation stages, not their code.
"""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pandas as pd

from segmint.store import Warehouse

AS_OF = dt.date(2024, 6, 30)

# name, share, recency_days (gamma mean), frequency (poisson mean), spend per purchase
# (lognormal median), tenure_days (mean), promo_share (beta mean), digital_share (beta mean)
_CLUSTERS = [
    ("loyal", 0.30, 12, 24, 60, 1500, 0.08, 0.45),
    ("lapsed_big", 0.15, 260, 9, 140, 1700, 0.10, 0.30),
    ("bargain", 0.20, 40, 14, 18, 900, 0.70, 0.40),
    ("digital_new", 0.15, 20, 4, 35, 70, 0.12, 0.92),
    ("occasional", 0.20, 120, 2, 25, 1100, 0.15, 0.20),
]
CATEGORIES = ("grocery", "fashion", "electronics")
CHANNELS = ("web", "mobile", "store")


def example_features(n_clients: int = 3000, *, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """Synthetic features and the true behaviour cluster of every client."""
    rng = np.random.default_rng(seed)
    shares = np.array([c[1] for c in _CLUSTERS])
    cluster = rng.choice(len(_CLUSTERS), size=n_clients, p=shares / shares.sum())
    params = np.array([c[2:] for c in _CLUSTERS], dtype=float)[cluster]
    rec_m, freq_m, spend_m, ten_m, promo_m, dig_m = params.T

    recency = np.round(rng.gamma(6.0, rec_m / 6.0)).astype(np.int64)
    frequency = 1 + rng.poisson(freq_m)
    spend = np.exp(rng.normal(np.log(spend_m), 0.35))
    monetary_total = np.round(frequency * spend, 2)
    tenure = np.maximum(recency + 1, np.round(rng.gamma(8.0, ten_m / 8.0))).astype(np.int64)
    promo = rng.beta(20 * promo_m, 20 * (1 - promo_m))
    digital = rng.beta(20 * dig_m, 20 * (1 - dig_m))
    # category mix: electronics-heavy for lapsed big spenders, grocery for loyalists
    cat_alpha = np.array([[6, 2, 2], [1, 2, 7], [3, 5, 2], [2, 3, 5], [4, 4, 2]], dtype=float)[cluster]
    draws = rng.gamma(cat_alpha)  # Dirichlet draws, one per row, without a Python loop
    cat_share = draws / draws.sum(axis=1, keepdims=True)
    chan_share = np.column_stack([digital * 0.5, digital * 0.5, 1 - digital])
    revenue = np.round(monetary_total * 0.8 * (365 / np.maximum(tenure, 365)), 2)
    margin = np.round(revenue * rng.uniform(0.15, 0.3, n_clients), 2)
    p_alive = np.clip(1 - recency / 400 + rng.normal(0, 0.03, n_clients), 0.01, 0.999)
    clv = np.round(margin * p_alive * 2.5, 2)
    churn = np.round(1 - p_alive, 4)

    df = pd.DataFrame(
        {
            "client_id": np.char.add("c", np.char.zfill(np.arange(n_clients).astype(str), 6)),
            "as_of": AS_OF,
            "recency_days": recency,
            "frequency": frequency,
            "repeat_frequency": frequency - 1,
            "monetary_total": monetary_total,
            "monetary_mean": np.round(monetary_total / frequency, 2),
            "tenure_days": tenure,
            "spend_trend": np.round(np.tanh(rng.normal(0, 0.4, n_clients) - recency / 300), 4),
            "promo_share": np.round(promo, 4),
            "digital_share": np.round(digital, 4),
            "weekend_share": np.round(rng.beta(2, 5, n_clients), 4),
            "revenue_12m": revenue,
            "margin_12m": margin,
            "clv_12m": clv,
            "p_alive": np.round(p_alive, 4),
            "churn_risk": churn,
        }
    )
    for j, c in enumerate(CATEGORIES):
        df[f"share_cat_{c}"] = np.round(cat_share[:, j], 4)
    for j, c in enumerate(CHANNELS):
        df[f"share_channel_{c}"] = np.round(chan_share[:, j], 4)
    # a sprinkle of nulls, as real features have (e.g. no promotions observed)
    df.loc[rng.random(n_clients) < 0.02, "weekend_share"] = np.nan
    for name, col in (("r_score", -df.recency_days), ("f_score", df.frequency), ("m_score", df.monetary_total)):
        df[name] = (pd.qcut(col.rank(method="first"), 5, labels=False) + 1).astype(np.int64)
    df["rfm_cell"] = df.r_score.astype(str) + df.f_score.astype(str) + df.m_score.astype(str)
    return df, cluster


def example_warehouse(wh: Warehouse, n_clients: int = 3000, *, seed: int = 0) -> pd.DataFrame:
    """Write the catalog's input tables into ``wh``; returns the features frame."""
    df, cluster = example_features(n_clients, seed=seed)
    con = wh.con
    con.register("_ex_features", df)
    con.execute("CREATE OR REPLACE TABLE features AS SELECT * FROM _ex_features")
    con.unregister("_ex_features")

    clv_hi, clv_lo = np.quantile(df.clv_12m, [0.8, 0.4])
    value = np.where(df.clv_12m >= clv_hi, "high", np.where(df.clv_12m >= clv_lo, "medium", "low"))
    value_names = {"high": "High value", "medium": "Medium value", "low": "Low value"}
    rfm = np.where(
        (df.r_score >= 4) & (df.f_score >= 4),
        "champions",
        np.where((df.r_score <= 2) & (df.f_score >= 3), "at_risk", "others"),
    )
    rfm_names = {"champions": "Champions", "at_risk": "At risk", "others": "Others"}
    rows = []
    created = dt.datetime(2024, 7, 1, 6, 0)
    for dim, seg, names, version in (
        ("behaviour", cluster.astype(str), {str(i): f"segment {i}" for i in range(5)}, "behaviour-v1"),
        ("value", value, value_names, "value-v1"),
        ("rfm", rfm, rfm_names, "rfm-v1"),
    ):
        rows.append(
            pd.DataFrame(
                {
                    "client_id": df.client_id,
                    "dimension": dim,
                    "segment_id": seg,
                    "segment_name": pd.Series(seg).map(names).to_numpy(),
                    "model_version": version,
                    "as_of": AS_OF,
                    "score": 1.0,
                }
            )
        )
    con.register("_ex_assign", pd.concat(rows, ignore_index=True))
    con.execute("CREATE OR REPLACE TABLE segment_assignments AS SELECT * FROM _ex_assign")
    con.unregister("_ex_assign")

    features = ["recency_days", "frequency", "monetary_total", "tenure_days", "promo_share", "digital_share"]
    evidence = {
        "chosen_k": 5,
        "table": [
            {"k": k, "silhouette": s, "calinski_harabasz": ch, "davies_bouldin": db, "bic": None, "stability": st}
            for k, s, ch, db, st in (
                (2, 0.31, 1450.0, 1.30, 0.97),
                (3, 0.38, 1820.0, 1.10, 0.93),
                (4, 0.44, 2150.0, 0.95, 0.90),
                (5, 0.52, 2480.0, 0.78, 0.94),
                (6, 0.47, 2310.0, 0.88, 0.81),
                (7, 0.43, 2190.0, 0.97, 0.76),
            )
        ],
    }
    models = [
        ("behaviour", "behaviour-v1", "learned", "kmeans", {"features": features, "k": 5}, evidence),
        ("value", "value-v1", "rules", "rules",
         {"rules": [{"segment_id": "high", "where": f"clv_12m >= {clv_hi:.2f}"},
                    {"segment_id": "medium", "where": f"clv_12m >= {clv_lo:.2f}"},
                    {"segment_id": "low", "where": "TRUE"}]}, None),
        ("rfm", "rfm-v1", "rules", "rules",
         {"rules": [{"segment_id": "champions", "where": "r_score >= 4 AND f_score >= 4"},
                    {"segment_id": "at_risk", "where": "r_score <= 2 AND f_score >= 3"},
                    {"segment_id": "others", "where": "TRUE"}]}, None),
    ]
    con.execute(
        """CREATE OR REPLACE TABLE segment_models (dimension VARCHAR, version VARCHAR,
        created_at TIMESTAMP, as_of DATE, kind VARCHAR, method VARCHAR, params JSON, evidence JSON)"""
    )
    for dim, version, kind, method, params, ev in models:
        con.execute(
            "INSERT INTO segment_models VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [dim, version, created, AS_OF, kind, method, json.dumps(params), json.dumps(ev) if ev else None],
        )

    con.execute(
        """CREATE OR REPLACE TABLE quarantine (run_id VARCHAR, entity VARCHAR, source VARCHAR,
        source_file VARCHAR, source_row BIGINT, source_key VARCHAR, reason VARCHAR,
        column_name VARCHAR, original_values JSON)"""
    )
    bad = [("transactions", "unknown_client", 41), ("transactions", "future_timestamp", 7),
           ("transactions", "unparseable_value", 12), ("clients", "duplicate_key", 3),
           ("holdings", "closed_before_opened", 5)]
    run_id = wh.start_run("ingest")
    for entity, reason, n in bad:
        con.execute(
            """INSERT INTO quarantine SELECT 'run0', ?, 'src', 'data/' || ? || '.csv', i, 'k' || i,
            ?, NULL, '{}' FROM range(?) t(i)""",
            [entity, entity, reason, n],
        )
    con.execute("UPDATE quarantine SET run_id = ?", [run_id])
    counts = {}
    for entity, reason, n in bad:
        c = counts.setdefault(entity, {"rows_read": 0, "rows_loaded": 0, "rows_quarantined": 0,
                                       "duplicates_collapsed": 0, "stub_clients": 0, "quarantined": {}})
        c["quarantined"][reason] = n
        c["rows_quarantined"] += n
    loaded = {"clients": n_clients, "transactions": int(df.frequency.sum()), "holdings": 2 * n_clients}
    for entity, c in counts.items():
        c["rows_loaded"] = loaded[entity]
        c["rows_read"] = c["rows_loaded"] + c["rows_quarantined"]
    wh.finish_run(run_id, counts=counts)
    return df

"""Synthetic ``features`` tables with planted behaviour segments (segmentation tests)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from segmint.store import Warehouse

AS_OF = dt.date(2024, 6, 30)


def make_features(
    n: int = 3000, *, k: int = 4, seed: int = 0, shift: float = 0.0, as_of: dt.date = AS_OF
) -> tuple[pd.DataFrame, np.ndarray]:
    """Clients in ``k`` planted segments differing in frequency, spend, shares, promo,
    digital and engagement; returns (features frame, planted labels).

    ``shift`` moves every segment's profile by that fraction (e.g. 0.05 for 5%).
    """
    rng = np.random.default_rng(seed)
    prof = np.random.default_rng(1234).uniform(0, 1, size=(k, 6))  # same profiles for any seed
    prof[:, :] = np.linspace(0.05, 0.95, k)[:, None] if k > 1 else 0.5
    prof = prof[np.random.default_rng(99).permutation(k)] if k > 1 else prof
    perm = np.array([np.random.default_rng(7 + j).permutation(k) for j in range(6)]).T
    prof = (perm + 0.5) / k * (1 + shift)
    y = rng.integers(0, k, size=n)
    p = prof[y]
    freq = rng.poisson(1 + 30 * p[:, 0] ** 2) + 1
    mean_spend = np.exp(rng.normal(2 + 3 * p[:, 1], 0.25))
    cat_a = np.clip(p[:, 2] + rng.normal(0, 0.03, n), 0, 1)
    web = np.clip(p[:, 3] + rng.normal(0, 0.03, n), 0, 1)
    promo = np.clip(p[:, 4] + rng.normal(0, 0.03, n), 0, 1)
    digital = np.clip(p[:, 5] + rng.normal(0, 0.03, n), 0, 1)
    events = rng.poisson(2 + 100 * p[:, 5] ** 2)
    recency = rng.integers(0, 400, size=n).astype(float)
    recency[rng.random(n) < 0.05] = np.nan
    f_score = np.clip(np.ceil(5 * pd.Series(freq).rank(pct=True).to_numpy()), 1, 5)
    m_score = np.clip(np.ceil(5 * pd.Series(freq * mean_spend).rank(pct=True).to_numpy()), 1, 5)
    r_score = np.clip(np.ceil(5 * (1 - pd.Series(recency).rank(pct=True).to_numpy())), 1, 5)
    df = pd.DataFrame(
        {
            "client_id": [f"c{i:06d}" for i in range(n)],
            "as_of": as_of,
            "frequency": freq.astype(float),
            "monetary_total": freq * mean_spend,
            "monetary_mean": mean_spend,
            "share_cat_a": cat_a,
            "share_cat_b": 1 - cat_a,
            "share_channel_web": web,
            "share_channel_store": 1 - web,
            "promo_share": promo,
            "digital_share": digital,
            "events_90d": events.astype(float),
            "weekend_share": np.clip(rng.normal(0.3, 0.05, n), 0, 1),
            "recency_days": recency,
            "tenure_days": rng.integers(10, 2000, size=n).astype(float),
            "spend_trend": np.clip(rng.normal(0, 0.4, n), -1, 1),
            "r_score": np.where(np.isnan(recency), np.nan, r_score),
            "f_score": f_score,
            "m_score": m_score,
            "clv_12m": freq * mean_spend * rng.uniform(0.5, 1.5, n),
            "gender": rng.choice(["f", "m"], size=n),
        }
    )
    df["rfm_cell"] = (
        df["r_score"].fillna(0).astype(int).astype(str)
        + df["f_score"].astype(int).astype(str)
        + df["m_score"].astype(int).astype(str)
    )
    return df, y


def load_features(wh: Warehouse, df: pd.DataFrame, *, replace: bool = True) -> None:
    wh.con.register("_df", df)
    if replace or not wh.has_table("features"):
        wh.con.execute("CREATE OR REPLACE TABLE features AS SELECT * FROM _df")
    else:
        wh.con.execute("INSERT INTO features SELECT * FROM _df")
    wh.con.unregister("_df")

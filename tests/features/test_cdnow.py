"""Conformance on real data: the published CDNOW calibration summary (Fader, Hardie & Lee)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from segmint.config import FeaturesConfig
from segmint.datasets import load_cdnow, load_cdnow_summary
from segmint.features import DuckDBEngine, btyd_summary, compute_features

from .conftest import clients_frame, load_tables


def _sample_transactions() -> tuple[pd.DataFrame, pd.Series]:
    """The CDNOW sample as canonical transactions, and its client ids."""
    tx = load_cdnow("sample")
    ids = tx["customer_id"].astype(str)
    transactions = pd.DataFrame(
        {
            "transaction_id": [f"t{i}" for i in range(len(tx))],
            "client_id": ids,
            "ts": tx["date"],
            "amount": tx["amount"].astype(float),
            "is_refund": tx["amount"] < 0,
        }
    )
    return transactions, ids


def test_btyd_summary_reproduces_published_cdnow_calibration(warehouse):
    transactions, ids = _sample_transactions()
    load_tables(warehouse, clients=clients_frame(sorted(set(ids))), transactions=transactions)
    features = compute_features(
        DuckDBEngine(warehouse.con), "1997-09-30", FeaturesConfig(groups=["rfm"], time_unit="weeks")
    )
    published = load_cdnow_summary()
    got = btyd_summary(features).assign(customer_id=lambda d: d["customer_id"].astype(int))
    merged = published.merge(got, on="customer_id", how="outer", validate="one_to_one")
    assert len(merged) == len(published) == 2357  # every customer bought in the calibration
    np.testing.assert_array_equal(merged["frequency"], merged["x"])
    np.testing.assert_array_equal(np.round(merged["recency"], 2), merged["t_x"])
    np.testing.assert_array_equal(np.round(merged["T_y"], 2), merged["T_x"])
    # published aggregates (PRODUCT.md): 2,457 repeat purchase days, 1,411 without repeat
    assert merged["frequency"].sum() == 2457
    assert (merged["frequency"] == 0).sum() == 1411


def test_clv_group_scores_cdnow_with_the_published_bgnbd_fit(warehouse):
    """The clv group fits BG/NBD on the as-of summary: customer 1 gets the published numbers."""
    from segmint.clv import BetaGeo

    transactions, ids = _sample_transactions()
    load_tables(
        warehouse,
        clients=clients_frame([*sorted(set(ids)), "never_bought"]),
        transactions=transactions,
    )
    features = compute_features(
        DuckDBEngine(warehouse.con),
        "1997-09-30",
        FeaturesConfig(groups=["rfm", "clv"], time_unit="weeks", clv_horizon_months=9),
    ).set_index("client_id")
    summary = btyd_summary(features.reset_index())
    bg = BetaGeo().fit(summary["frequency"], summary["recency"], summary["T"])
    assert bg.r_ == pytest.approx(0.243, rel=0.01)  # the published fit (unrounded summary)
    one = features.loc["1"]
    # published BG/NBD: customer 1 (x=2, t_x=30.43, T=38.86) expects 1.226 purchases in 39 weeks
    horizon = 9 * 30.4375 / 7  # 9 months in weeks (39.1)
    expected = float(np.asarray(bg.expected_purchases(horizon, 2, one["btyd_t_x"], one["btyd_T"])).item())
    assert one["expected_purchases_9m"] == pytest.approx(expected, rel=1e-6)
    assert expected == pytest.approx(1.226, abs=0.01)
    alive = np.asarray(bg.probability_alive(2, one["btyd_t_x"], one["btyd_T"])).item()
    assert one["p_alive"] == pytest.approx(alive, rel=1e-6)
    assert one["churn_risk"] == pytest.approx(1 - one["p_alive"])
    assert features["clv_9m"].ge(0).all()
    never = features.loc["never_bought"]
    assert never["clv_9m"] == 0 and never["expected_purchases_9m"] == 0
    assert np.isnan(never["p_alive"]) and np.isnan(never["churn_risk"])

"""Conformance on real data: the published CDNOW calibration summary (Fader, Hardie & Lee)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from segmint.config import FeaturesConfig
from segmint.datasets import load_cdnow, load_cdnow_summary
from segmint.features import DuckDBEngine, btyd_summary, compute_features

from .conftest import clients_frame, load_tables


def test_btyd_summary_reproduces_published_cdnow_calibration(warehouse):
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

import numpy as np
import pandas as pd
import pytest

from segmint.clv import calibration_and_holdout, rfm_summary
from segmint.errors import ColumnNotFoundError


def test_hand_computed_summary():
    tx = pd.DataFrame(
        {
            "cid": ["a", "a", "a", "a", "b", "c", "c"],
            "ts": pd.to_datetime(
                ["2024-01-01 09:00", "2024-01-01 18:00", "2024-01-08 00:00", "2024-01-22 00:00",
                 "2024-01-15 00:00", "2024-01-29 00:00", "2024-02-20 00:00"]
            ),
            "value": [10.0, 5.0, 20.0, 40.0, 7.0, 3.0, 99.0],
        }
    )
    s = rfm_summary(tx, "cid", "ts", "value", observation_period_end="2024-01-29", freq="D")
    s = s.set_index("customer_id")
    # a: purchase-days 01-01 (15, merged), 01-08 (20), 01-22 (40); first excluded
    assert s.loc["a", "frequency"] == 2
    assert s.loc["a", "recency"] == 21
    assert s.loc["a", "T"] == 28
    assert s.loc["a", "monetary_value"] == 30.0
    assert s.loc["b"].tolist() == [0, 0, 14, 0.0]
    # c: the purchase after the period end is ignored
    assert s.loc["c"].tolist() == [0, 0, 0, 0.0]
    weeks = rfm_summary(tx, "cid", "ts", "value", observation_period_end="2024-01-29")
    assert weeks.set_index("customer_id").loc["a", "T"] == 4.0


def test_cdnow_sample_matches_published_summary(cdnow_transactions, cdnow_summary):
    s = rfm_summary(
        cdnow_transactions, "customer_id", "date", "amount", observation_period_end="1997-09-30"
    )
    assert list(s.columns) == ["customer_id", "frequency", "recency", "T", "monetary_value"]
    assert s["frequency"].sum() == 2457
    assert (s["frequency"] > 0).sum() == 946
    assert (s["frequency"] == 0).sum() == 1411
    m = s.merge(cdnow_summary, on="customer_id", suffixes=("", "_pub"))
    assert len(m) == 2357
    assert (m["frequency"] == m["x"]).all()
    np.testing.assert_allclose(m["recency"], m["t_x"], atol=0.005)
    np.testing.assert_allclose(m["T"], m["T_pub"], atol=0.005)
    np.testing.assert_allclose(m["monetary_value"], m["zbar"], atol=0.006)


def test_calibration_holdout_counts(cdnow_cal_holdout):
    ch = cdnow_cal_holdout
    assert ch["frequency"].sum() == 2457
    assert ch["frequency_holdout"].sum() == 1882
    assert (ch["duration_holdout"] == 39).all()


def test_missing_column_is_named(cdnow_transactions):
    with pytest.raises(ColumnNotFoundError, match="spend"):
        rfm_summary(cdnow_transactions, "customer_id", "date", "spend")


def test_holdout_end_must_follow_calibration(cdnow_transactions):
    with pytest.raises(ValueError, match="must be after"):
        calibration_and_holdout(
            cdnow_transactions, calibration_period_end="1997-09-30",
            observation_period_end="1997-09-01",
        )

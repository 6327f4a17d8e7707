"""The built-in value tiers rank clients by the documented measure (computed here by hand)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from segmint.config._segmentation import SegmentationConfig
from segmint.segmentation import run_segmentation

AS_OF = dt.date(2025, 6, 30)


def _features(wh, *, clv_nulls: float = 0.0, margin: bool = False, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = 2000
    df = pd.DataFrame({
        "client_id": [f"c{i:05d}" for i in range(n)],
        "as_of": AS_OF,
        "frequency": rng.integers(1, 30, n).astype(float),
        "clv_12m": np.round(rng.lognormal(5, 1, n), 2),
        "assets": np.round(rng.lognormal(9, 1.5, n), 2),
        "margin_12m": np.round(rng.normal(300, 100, n), 2) if margin else 0.0,
    })
    df.loc[rng.random(n) < clv_nulls, "clv_12m"] = np.nan
    wh.con.register("_f", df)
    wh.con.execute("CREATE OR REPLACE TABLE features AS SELECT * FROM _f")
    wh.con.unregister("_f")
    return df


def _tiers(measure: np.ndarray) -> np.ndarray:
    p90, p70, p40 = np.quantile(measure, [0.9, 0.7, 0.4])  # linear, as quantile_cont
    return np.where(measure >= p90, "Top", np.where(measure >= p70, "High",
                    np.where(measure >= p40, "Medium", "Low")))


def _assigned(wh) -> pd.Series:
    return wh.con.execute(
        "SELECT client_id, segment_name FROM segment_assignments WHERE dimension = 'value' "
        "ORDER BY client_id"
    ).df().set_index("client_id")["segment_name"]


def test_value_tiers_rank_clv_plus_balances(warehouse):
    df = _features(warehouse)
    run = run_segmentation(warehouse, SegmentationConfig())
    assert "value" in run.models
    expected = _tiers(df["clv_12m"].to_numpy() + 0.01 * df["assets"].to_numpy())
    got = _assigned(warehouse)
    assert (got.loc[df.client_id].to_numpy() == expected).all()
    # the measure is written in the definition the catalog shows
    assert run.models["value"].params["rules"][0]["when"] == "(clv_12m + 0.01 * assets) >= p90"


def test_value_tiers_fall_back_to_margin_without_clv_and_can_drop_balances(warehouse):
    df = _features(warehouse, clv_nulls=0.5, margin=True)
    config = SegmentationConfig(value={"balance_rate": 0})
    run_segmentation(warehouse, config)
    got = _assigned(warehouse)
    assert (got.loc[df.client_id].to_numpy() == _tiers(df["margin_12m"].to_numpy())).all()


def test_value_tiers_skip_a_measure_no_source_feeds(warehouse):
    from segmint.errors import ConfigError

    # CLV unidentified (half null) and margin_12m 0 for everyone (no profitability source):
    # neither ranks anyone, and balances alone are not a value base
    _features(warehouse, clv_nulls=0.5)
    with pytest.raises(ConfigError, match="value: features table has none of clv_12m"):
        run_segmentation(warehouse, SegmentationConfig())

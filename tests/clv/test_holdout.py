import pytest

from segmint.clv import BetaGeo, ParetoNBD, cumulative_repeat_purchases, holdout_by_frequency

from .conftest import CAL_END, OBS_END


@pytest.fixture(scope="module")
def models(cdnow_cal_holdout):
    return {M.__name__: M().fit(cdnow_cal_holdout) for M in (BetaGeo, ParetoNBD)}


@pytest.mark.parametrize("name, under_forecast", [("BetaGeo", 0.04), ("ParetoNBD", 0.02)])
def test_week_78_under_forecast(models, cdnow_transactions, name, under_forecast):
    cum = cumulative_repeat_purchases(
        models[name], cdnow_transactions,
        calibration_period_end=CAL_END, observation_period_end=OBS_END,
    )
    assert len(cum) == 78
    assert cum["actual"].iloc[38] == 2457
    assert cum["actual"].iloc[-1] == 4339
    assert cum["actual"].iloc[-1] - cum["actual"].iloc[38] == 1882
    assert cum["holdout"].sum() == 39
    gap = 1 - cum["predicted"].iloc[-1] / cum["actual"].iloc[-1]
    assert gap == pytest.approx(under_forecast, abs=0.01)


def test_holdout_by_frequency(models, cdnow_cal_holdout):
    table = holdout_by_frequency(models["BetaGeo"], cdnow_cal_holdout)
    assert list(table["frequency"]) == ["0", "1", "2", "3", "4", "5", "6", "7+"]
    assert table["n_customers"].sum() == 2357
    assert table.loc[0, "n_customers"] == 1411
    # the actual mean for the 7+ group is far above the zero group, and predicted follows
    assert table["predicted"].is_monotonic_increasing
    assert table["actual"].iloc[-1] > 5 * table["actual"].iloc[0]
    weighted_actual = (table["actual"] * table["n_customers"]).sum()
    assert weighted_actual == pytest.approx(1882)

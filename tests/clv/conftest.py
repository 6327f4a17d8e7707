import pytest

from segmint.clv import calibration_and_holdout
from segmint.datasets import load_cdnow, load_cdnow_summary

CAL_END = "1997-09-30"
OBS_END = "1998-06-30"


@pytest.fixture(scope="session")
def cdnow_summary():
    """Published calibration summary of the CDNOW sample (x, t_x, T, zbar)."""
    return load_cdnow_summary()


@pytest.fixture(scope="session")
def cdnow_transactions():
    return load_cdnow("sample")


@pytest.fixture(scope="session")
def cdnow_cal_holdout(cdnow_transactions):
    return calibration_and_holdout(
        cdnow_transactions, "customer_id", "date", monetary_value_col="amount",
        calibration_period_end=CAL_END, observation_period_end=OBS_END,
    )

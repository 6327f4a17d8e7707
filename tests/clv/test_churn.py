import numpy as np
import pandas as pd
import pytest

from segmint.clv import ChurnPropensity
from segmint.errors import DataError, NotFittedError


def _clients(n, seed):
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(
        {
            "recency_days": rng.exponential(60, n),
            "frequency": rng.poisson(4, n),
            "balance": rng.normal(1000, 300, n),
        }
    )
    logit = -1.0 + 0.02 * (X["recency_days"] - 60) - 0.3 * (X["frequency"] - 4)
    y = pd.Series((rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int))
    return X, y


def test_time_based_holdout_evaluation():
    X_train, y_train = _clients(4000, 0)  # as_of earlier
    X_test, y_test = _clients(2000, 1)  # as_of later
    model = ChurnPropensity(method="isotonic", random_state=0).fit(X_train, y_train)
    result = model.evaluate(X_test, y_test)
    assert result.auc > 0.75
    base_rate = y_test.mean()
    assert result.brier < base_rate * (1 - base_rate)  # beats the constant forecast
    table = result.calibration
    assert list(table.columns) == ["decile", "n", "mean_predicted", "observed_rate"]
    assert len(table) == 10 and table["n"].sum() == 2000
    assert table["mean_predicted"].is_monotonic_increasing
    # calibrated: deciles' predicted and observed rates agree within 0.1
    assert (table["mean_predicted"] - table["observed_rate"]).abs().max() < 0.1
    p = model.predict_proba(X_test[["balance", "frequency", "recency_days"]])  # columns by name
    np.testing.assert_allclose(p, model.predict_proba(X_test))


def test_errors():
    X, y = _clients(100, 2)
    with pytest.raises(NotFittedError):
        ChurnPropensity().predict_proba(X)
    with pytest.raises(DataError, match="0 or 1"):
        ChurnPropensity().fit(X, y * 2)
    with pytest.raises(DataError, match="both classes"):
        ChurnPropensity().fit(X, np.zeros(100, dtype=int))

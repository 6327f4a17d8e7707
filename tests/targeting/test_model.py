"""The calibrated propensity classifier on frames the tests build."""

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import roc_auc_score

from segmint.errors import DataError
from segmint.targeting import PropensityClassifier, expected_calibration_error, plan_columns


def _clients(n, seed):
    """A cross-sectional table: attributes and a churn label driven by some of them."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({
        "recency_days": rng.exponential(60, n),
        "frequency": rng.poisson(4, n).astype(float),
        "balance": rng.normal(1000, 300, n),
        "tenure_days": rng.uniform(30, 3000, n),
        "region": rng.choice(["north", "south", "east"], n),
        "all_null": np.nan,
        "constant": 1.0,
    })
    logit = (-2.0 + 0.015 * (X["recency_days"] - 60) - 0.35 * (X["frequency"] - 4)
             + 0.6 * (X["region"] == "south") - 0.0004 * (X["tenure_days"] - 1500))
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return X, y


def test_hgb_matches_plain_sklearn_and_is_never_worse_calibrated():
    X, y = _clients(12_000, 0)
    X_test, y_test = _clients(6_000, 1)
    model = PropensityClassifier(n_threads=1).fit(X, y)
    p = model.predict_proba(X_test)[:, 1]
    # the plain scikit-learn model on the same rows (category codes, as it needs numbers)
    num = ["recency_days", "frequency", "balance", "tenure_days"]

    def matrix(frame):
        codes = pd.Categorical(frame["region"], categories=["east", "north", "south"]).codes
        return np.column_stack([frame[num].to_numpy(), codes])

    plain = HistGradientBoostingClassifier(
        categorical_features=[False] * 4 + [True], random_state=0
    ).fit(matrix(X), y)
    q = plain.predict_proba(matrix(X_test))[:, 1]
    auc, auc_plain = roc_auc_score(y_test, p), roc_auc_score(y_test, q)
    assert auc > 0.75
    assert abs(auc - auc_plain) <= 0.01
    assert expected_calibration_error(y_test, p) <= expected_calibration_error(y_test, q)
    assert p.min() > 0 and p.max() < 1
    assert any(n == "all_null: dropped (all null)" for n in model.plan_.notes)
    assert any(n.startswith("constant: dropped (constant") for n in model.plan_.notes)
    assert model.plan_.categorical == {"region": ["east", "north", "south"]}


def test_small_data_gets_sigmoid_and_no_hard_probabilities():
    # the failure of the old isotonic default: 400 rows, most probabilities hard 0 or 1
    X, y = _clients(400, 2)
    model = PropensityClassifier(n_threads=1, max_iter=50).fit(X, y)
    assert model.calibration_ == "sigmoid"
    p = model.predict_proba(X)[:, 1]
    assert ((p > 0) & (p < 1)).all()
    assert len(np.unique(p)) > 50


def test_isotonic_when_enough_positives_and_better():
    # a base score whose calibration curve is not a sigmoid: isotonic fits it better
    rng = np.random.default_rng(3)
    n = 20_000
    x = rng.random(n)
    prob = np.where(x < 0.5, 0.05, 0.6)  # a step
    y = (rng.random(n) < prob).astype(int)
    X = pd.DataFrame({"x": x})
    model = PropensityClassifier(algorithm="logistic", isotonic_min_positives=500).fit(X, y)
    assert model.calibration_ == "isotonic"
    assert model.calibration_briers_["isotonic"] < model.calibration_briers_["sigmoid"]
    p = model.predict_proba(X)[:, 1]
    assert ((p > 0) & (p < 1)).all()


def test_text_columns_encoded_or_refused_by_name():
    X = pd.DataFrame({"city": [f"c{i}" for i in range(300)], "x": np.arange(300.0)})
    with pytest.raises(DataError, match=r"'city' is text with 300 distinct values"):
        plan_columns(X, max_categories=50)
    plan = plan_columns(X, exclude=["city"])
    assert plan.numeric == ["x"] and not plan.categorical
    with pytest.raises(DataError, match="no usable feature column"):
        plan_columns(pd.DataFrame({"a": [np.nan, np.nan], "b": [2, 2]}))


def test_logistic_baseline_and_errors():
    X, y = _clients(3000, 4)
    model = PropensityClassifier(algorithm="logistic").fit(X, y)
    assert roc_auc_score(y, model.predict_proba(X)[:, 1]) > 0.7
    with pytest.raises(DataError, match="both classes"):
        PropensityClassifier().fit(X, np.zeros(len(X), int))
    with pytest.raises(DataError, match="0/1"):
        PropensityClassifier().fit(X, y * 2)

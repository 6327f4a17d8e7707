import numpy as np
import pytest

from segmint.clv import (
    BetaGeo,
    GammaGamma,
    churn_risk_from_p_alive,
    clv_features,
    customer_lifetime_value,
    rfm_summary,
)
from segmint.errors import DataError


@pytest.fixture(scope="module")
def summary(cdnow_transactions):
    return rfm_summary(
        cdnow_transactions, "customer_id", "date", "amount", observation_period_end="1997-09-30"
    )


@pytest.fixture(scope="module")
def models(summary):
    return BetaGeo().fit(summary), GammaGamma().fit(summary)


def _clv(models, summary, **kw):
    bg, gg = models
    s = summary
    return customer_lifetime_value(
        bg, gg, s["frequency"], s["recency"], s["T"], s["monetary_value"], **kw
    )


def test_undiscounted_clv_is_expected_purchases_times_spend(models, summary):
    bg, gg = models
    s = summary
    clv = _clv(models, summary, horizon=52, discount_rate=0.0, margin=0.3)
    expected = (
        0.3 * gg.expected_spend(s["frequency"], s["monetary_value"])
        * bg.expected_purchases(52, s["frequency"], s["recency"], s["T"])
    )
    np.testing.assert_allclose(clv, expected, rtol=1e-10)


def test_single_step_discounting_by_hand(models, summary):
    bg, gg = models
    s = summary.iloc[:5]
    clv = _clv(models, s, horizon=2, discount_rate=0.2)  # 2 weeks: one (short) step
    factor = 1.2 ** (-(2 * 7 / 365.25))
    expected = (
        factor * gg.expected_spend(s["frequency"], s["monetary_value"])
        * bg.expected_purchases(2, s["frequency"], s["recency"], s["T"])
    )
    np.testing.assert_allclose(clv, expected, rtol=1e-10)


def test_discounting_lowers_value_and_a_number_is_a_flat_spend(models, summary):
    plain = _clv(models, summary, horizon=104, discount_rate=0.0)
    discounted = _clv(models, summary, horizon=104, discount_rate=0.15)
    assert np.all(discounted < plain)
    assert np.all(discounted > 0.7 * plain)
    bg, _ = models
    s = summary
    flat = customer_lifetime_value(
        bg, 10.0, s["frequency"], s["recency"], s["T"], s["monetary_value"], horizon=52
    )
    np.testing.assert_allclose(
        flat, 10.0 * bg.expected_purchases(52, s["frequency"], s["recency"], s["T"]), rtol=1e-10
    )


def test_clv_features(summary):
    features, fitted = clv_features(summary, horizon=52, discount_rate=0.1, label="12m")
    assert list(features.columns) == [
        "customer_id", "clv_12m", "p_alive", "expected_purchases_12m", "expected_spend",
        "churn_risk",
    ]
    assert len(features) == len(summary)
    np.testing.assert_allclose(features["churn_risk"], 1 - features["p_alive"])
    assert isinstance(fitted["transactions"], BetaGeo)
    assert isinstance(fitted["spend"], GammaGamma)
    assert features.notna().all().all()
    default, _ = clv_features(summary)
    assert "clv_52w" in default.columns


def test_clv_features_falls_back_to_mean_spend_with_few_repeat_buyers(summary):
    features, fitted = clv_features(summary, min_repeat_buyers=947)  # CDNOW has 946
    repeat = summary["frequency"] > 0
    assert fitted["spend"] == pytest.approx(summary.loc[repeat, "monetary_value"].mean())
    assert features["expected_spend"].nunique() == 1


def test_churn_risk_from_p_alive():
    np.testing.assert_allclose(churn_risk_from_p_alive([0.0, 0.25, 1.0]), [1.0, 0.75, 0.0])
    with pytest.raises(DataError):
        churn_risk_from_p_alive([1.2])


def test_zero_value_repeat_buyers_do_not_break_the_spend_model(summary):
    s = summary.copy()
    s.loc[s.index[s["frequency"] > 0][:5], "monetary_value"] = 0.0
    features, fitted = clv_features(s)
    assert isinstance(fitted["spend"], GammaGamma)
    assert fitted["spend"].n_customers_ == 941
    assert np.isfinite(features.filter(like="clv_").to_numpy()).all()


def _diverging_spend_summary():
    """3,000 repeat buyers whose mean spend spreads *more* with more purchases (the
    opposite of Gamma-Gamma's shrinkage: its likelihood rises along p -> inf), plus 500
    clients without a repeat purchase."""
    import pandas as pd

    rng = np.random.default_rng(1)
    n = 3000
    x = rng.integers(1, 8, n)
    own = 100 / rng.gamma(4.0, 1.0, n) * np.exp(rng.normal(0, 0.05 * x))
    T = np.full(n + 500, 52.0)
    return pd.DataFrame(
        {
            "customer_id": np.arange(n + 500),
            "frequency": np.r_[x, np.zeros(500)],
            "recency": np.r_[rng.uniform(1, 52, n), np.zeros(500)],
            "T": T,
            "monetary_value": np.r_[own, np.zeros(500)],
        }
    )


def test_non_converging_gamma_gamma_uses_each_clients_own_mean_spend():
    from segmint.clv import OwnMeanSpend, fit_clv_models, models_from_json, models_to_json
    from segmint.errors import ConvergenceError

    s = _diverging_spend_summary()
    repeat = s["frequency"] > 0
    with pytest.raises(ConvergenceError):
        GammaGamma().fit(s.loc[repeat, "frequency"], s.loc[repeat, "monetary_value"])
    models = fit_clv_models(s)
    spend = models["spend"]
    assert isinstance(spend, OwnMeanSpend)
    assert "did not converge" in spend.reason  # reported, not hidden
    features, _ = clv_features(
        s, horizon=52, discount_rate=0.0, margin=1.0, label="12m", models=models
    )
    m = s["monetary_value"].to_numpy()
    population = m[repeat].mean()
    expected = np.where(repeat, m, population)
    np.testing.assert_allclose(features["expected_spend"], expected, rtol=1e-12)
    # CLV is expected purchases x the client's own spend: two clients with the same
    # history and different tickets are valued in proportion to their tickets
    np.testing.assert_allclose(
        features["clv_12m"], features["expected_purchases_12m"] * expected, rtol=1e-9
    )
    # the stored version keeps the limit and its reason
    back = models_from_json(models_to_json(models))["spend"]
    assert isinstance(back, OwnMeanSpend) and back.reason == spend.reason
    assert back.population_mean == pytest.approx(population)
